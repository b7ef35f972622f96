"""The llama.cpp engine (llama-cpp-python): a GGUF model run as it is, memory-mapped.

    1. read_header   the GGUF header is checked in Python first (genai_cli.text.gguf_file)
    2. LlamaLM       llama_cpp.Llama on the file; the context is sized to the job and grows
    3. chat_ids      the GGUF's own chat template (jinja2 sandbox, as llama-cpp-python does)
    4. generate      prefill what the KV cache does not already hold, then sample token by
                     token with a llama.cpp sampler chain in transformers' order:
                     repetition penalty -> temperature -> top-k -> top-p -> draw (or argmax)

Imports neither torch nor transformers. The decode loop is the same shape as the
transformers one (genai_cli.text.generate), so stop strings, streaming, timings and Ctrl-C
behave the same; only the arithmetic runs in llama.cpp.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from genai_cli.errors import GenaiError, UsageError, shorten
from genai_cli.text.generate import Generation, SamplingSettings, _TextStream
from genai_cli.text.gguf_file import GGUFInfo

MIN_CONTEXT = 512  # the smallest KV cache allocated (llama-cpp-python's own default)
SETUP_HINT = "run `bash scripts/setup.sh` (it builds llama-cpp-python), or use --engine transformers"

_log_lines: list[str] = []  # llama.cpp's log, kept (not printed) to explain a failed load
_log_callback: Any = None


def import_llama() -> Any:
    """The llama_cpp module, or a UsageError with the setup hint."""
    try:
        import llama_cpp
    except (ImportError, OSError) as e:
        raise UsageError(
            f"--engine llama.cpp needs the llama-cpp-python package, which is not usable here ({e})", hint=SETUP_HINT
        ) from None
    return llama_cpp


def available() -> bool:
    """True when llama-cpp-python is installed (checked without importing it)."""
    import importlib.util

    try:
        return importlib.util.find_spec("llama_cpp") is not None
    except (ImportError, ValueError):
        return False


def gpu_offload() -> bool:
    """True when this llama.cpp build can run layers on a GPU (CUDA, Metal, ...)."""
    try:
        return bool(import_llama().llama_supports_gpu_offload())
    except (UsageError, AttributeError):
        return False


def _quiet_log(llama_cpp: Any) -> None:
    """Route llama.cpp's log into _log_lines instead of stderr."""
    global _log_callback
    if _log_callback is not None:
        return

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: Any) -> None:
        if level in (3, 4):  # ggml_log_level: 3 warn, 4 error (2 info, 1 debug, 5 continued)
            _log_lines.append(text.decode("utf-8", errors="replace").strip())
            del _log_lines[:-20]

    import ctypes

    _log_callback = callback  # kept alive: llama.cpp holds a pointer to it
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


class _Sampler:
    """A llama.cpp sampler chain with transformers' order and meaning of the settings."""

    def __init__(self, llama_cpp: Any, s: SamplingSettings, seed: int, window: int, n_vocab: int):
        c = llama_cpp
        self.c = c
        self.chain = c.llama_sampler_chain_init(c.llama_sampler_chain_default_params())
        add = lambda smpl: c.llama_sampler_chain_add(self.chain, smpl)  # noqa: E731
        if s.repetition_penalty != 1.0:
            # transformers penalizes every token of prompt + answer: a window as long as the context
            add(c.llama_sampler_init_penalties(n_vocab, window, s.repetition_penalty, 0.0, 0.0))
        if s.is_greedy:
            add(c.llama_sampler_init_greedy())
        else:
            if s.temperature != 1.0:
                add(c.llama_sampler_init_temp(s.temperature))
            if s.top_k > 0:
                add(c.llama_sampler_init_top_k(s.top_k))
            if s.top_p < 1.0:
                add(c.llama_sampler_init_top_p(s.top_p, 1))
            add(c.llama_sampler_init_dist(seed))

    def accept(self, token: int) -> None:
        self.c.llama_sampler_accept(self.chain, token)

    def sample(self, ctx: Any) -> int:
        return int(self.c.llama_sampler_sample(self.chain, ctx, -1))  # also accepts the token

    def close(self) -> None:
        if self.chain is not None:
            self.c.llama_sampler_free(self.chain)
            self.chain = None


class _Detokenizer:
    """`decode(ids)` for _TextStream: token pieces cached, so a long answer stays linear."""

    def __init__(self, llm: Any):
        self.llm, self.pieces = llm, []

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        del self.pieces[len(ids) :]
        for tok in ids[len(self.pieces) :]:
            self.pieces.append(self.llm.detokenize([tok], special=not skip_special_tokens))
        return b"".join(self.pieces).decode("utf-8", errors="replace")


@dataclass
class LlamaLM:
    """A GGUF model in llama.cpp, with the attributes the command layer reads."""

    info: GGUFInfo
    name: str
    threads: int
    gpu_layers: int  # 0 = cpu only, -1 = all layers on the GPU
    llm: Any = None
    load_s: float = 0.0
    speedup: str = "none"
    n_ctx: int = 0  # the KV cache allocated now (grows on demand up to context_length)

    engine = "llama.cpp"

    @property
    def path(self) -> Path:
        return self.info.path

    @property
    def context_length(self) -> int:
        return self.info.context_length

    @property
    def has_chat_template(self) -> bool:
        return self.info.chat_template is not None

    # --- loading ---------------------------------------------------------------------------

    def load(self, n_ctx: int) -> None:
        """(Re)create the llama.cpp model with a KV cache of `n_ctx` tokens (memory-mapped file)."""
        llama_cpp = import_llama()
        _quiet_log(llama_cpp)
        t0 = time.perf_counter()
        self.llm = None  # free the old context first
        n_ctx = min(self.context_length, max(MIN_CONTEXT, -(-n_ctx // 256) * 256))
        _log_lines.clear()
        try:
            self.llm = llama_cpp.Llama(
                model_path=str(self.info.path),
                n_ctx=n_ctx,
                n_threads=self.threads,
                n_threads_batch=self.threads,
                n_gpu_layers=self.gpu_layers,
                use_mmap=True,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as e:
            raise self._load_error(e) from None
        self.n_ctx = n_ctx
        self.load_s += time.perf_counter() - t0
        self._template = None

    def _load_error(self, e: Exception) -> GenaiError:
        log = " ".join(_log_lines)
        arch = self.info.architecture
        if "unknown model architecture" in log or "unknown architecture" in log:
            return UsageError(
                f"{self.info.path}: the installed llama.cpp does not know the model architecture {shorten(arch)}",
                hint="upgrade llama-cpp-python, or use --engine transformers with a model folder",
            )
        detail = _log_lines[-1] if _log_lines else str(e)
        return UsageError(
            f"llama.cpp could not load {self.info.path} (architecture {shorten(arch)}): {shorten(detail, 200)}",
            hint="check that the file is a complete GGUF model",
        )

    def ensure_context(self, needed: int) -> None:
        """Grow the KV cache (a reload) when a prompt and its answer need more than it holds."""
        if needed > self.n_ctx:
            self.load(max(needed, 2 * self.n_ctx))

    # --- prompts ---------------------------------------------------------------------------

    def tokenize(self, text: str, special: bool = False, add_bos: bool = True) -> list[int]:
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def chat_ids(self, messages: list[dict[str, str]], raw: bool = False) -> list[int]:
        """Token ids of a conversation through the GGUF's own chat template (unless raw),
        exactly as llama-cpp-python's create_chat_completion builds them."""
        if raw or not self.has_chat_template:
            from genai_cli.text.generate import raw_text

            return self.tokenize(raw_text(messages))
        if self._template is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            model = self.llm._model
            eos, bos = self.llm.token_eos(), self.llm.token_bos()
            self._template = Jinja2ChatFormatter(
                template=self.info.chat_template,
                eos_token=model.token_get_text(eos) if eos != -1 else "",
                bos_token=model.token_get_text(bos) if bos != -1 else "",
            )
        try:
            result = self._template(messages=messages)
        except Exception as e:  # a broken template in the file: jinja2 errors of many kinds
            raise UsageError(
                f"the chat template in {self.info.path} failed: {type(e).__name__}: {shorten(str(e), 200)}",
                hint="pass --raw to send the prompt without the template",
            ) from None
        return self.tokenize(result.prompt, special=True, add_bos=not result.added_special)

    # --- generation ------------------------------------------------------------------------

    def generate(
        self, prompt_ids: list[int], s: SamplingSettings, on_text: Callable[[str], None] | None = None
    ) -> Generation:
        """Sample up to `s.max_tokens` tokens after `prompt_ids` (see generate.generate).

        Whatever the KV cache already holds of `prompt_ids` (the conversation so far, in chat)
        is not computed again."""
        llama_cpp = import_llama()
        self.ensure_context(len(prompt_ids) + s.max_tokens)
        llm = self.llm
        seed = s.seed if s.seed is not None else random.SystemRandom().randrange(2**31 - 1)
        sampler = _Sampler(llama_cpp, s, seed, window=self.n_ctx, n_vocab=llm.n_vocab())
        vocab = llm._model.vocab
        stream = _TextStream(_Detokenizer(llm), s.stop, on_text or (lambda piece: None))
        finish, first_token_s, t0 = "length", 0.0, time.perf_counter()
        new: list[int] = []
        try:
            if s.repetition_penalty != 1.0:
                for tok in prompt_ids:  # the penalty covers the prompt too (as in transformers)
                    sampler.accept(tok)
            self._prefill(prompt_ids)
            for step in range(s.max_tokens):
                nxt = sampler.sample(llm._ctx.ctx)
                if step == 0:
                    first_token_s = time.perf_counter() - t0
                if llama_cpp.llama_vocab_is_eog(vocab, nxt):
                    finish = "eos"
                    break
                new.append(nxt)
                stream.push(nxt)
                if stream.stopped:
                    finish = "stop"
                    break
                if step + 1 == s.max_tokens:
                    break
                llm.eval([nxt])
        except KeyboardInterrupt:
            finish = "interrupted"
            self._forget()
        finally:
            sampler.close()
        stream.flush()
        total = time.perf_counter() - t0
        return Generation(
            text=stream.text,
            prompt_tokens=len(prompt_ids),
            new_tokens=len(new),
            finish_reason=finish,
            seed=seed,
            first_token_s=first_token_s or total,
            total_s=total,
            token_ids=new,
        )

    def _prefill(self, ids: list[int]) -> None:
        """Evaluate `ids`, reusing the longest prefix already in the KV cache."""
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens].tolist()
        keep = 0
        for a, b in zip(cached, ids):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(ids) - 1)  # the last prompt token is evaluated again: its logits pick the next
        if keep > 0 and not llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            keep = 0
        llm.n_tokens = keep
        self.reused_tokens = keep
        llm.eval(ids[keep:])  # eval() first drops cache entries from n_tokens on

    def _forget(self) -> None:
        """After an interrupted eval the cache may be half-written: start the next turn afresh."""
        if self.llm is not None:
            self.llm.n_tokens = 0
