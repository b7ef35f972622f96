"""Autoregressive generation, one token at a time, streamed through a callback.

    1. check_settings    every sampling value checked, naming its flag, before any weight loads
    2. build_prompt      chat template (or raw text) -> token ids, fitted into the context
    3. generate          prefill the prompt, then repeat: logits -> processors -> pick -> emit

A hand-written loop (as in nanoGPT's `generate`) rather than `model.generate`, because the
command needs what `generate` hides: text pieces as soon as they decode, stop strings that
never reach stdout, time to first token, and a clean stop on Ctrl-C that keeps what was
produced. The logits processors themselves (repetition penalty, temperature, top-k, top-p)
are transformers' own.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from genai_cli.errors import UsageError

MAX_NEW_TOKENS = 100_000  # anything above is certainly a typo


@dataclass
class SamplingSettings:
    max_tokens: int = 256  # new tokens at most
    temperature: float = 0.7  # softmax temperature; 0 means greedy
    top_p: float = 0.9  # nucleus sampling: smallest set of tokens whose probability sums to top_p (1 = off)
    top_k: int = 50  # sample among the k most likely tokens (0 = off)
    repetition_penalty: float = 1.1  # >1 discourages tokens already in the text (1 = off)
    greedy: bool = False  # always take the most likely token (ignores temperature, top-p, top-k)
    stop: list[str] = field(default_factory=list)  # stop before any of these strings
    seed: int | None = None  # seed of the sampler; None draws one (reported in --json)

    @property
    def is_greedy(self) -> bool:
        return self.greedy or self.temperature == 0

    def resolved(self) -> dict[str, Any]:
        return asdict(self)


MAX_STOPS = 64  # --stop strings
MAX_STOP_CHARS = 1000  # characters in one --stop string


def check_settings(s: SamplingSettings) -> None:
    """Bad values are usage errors that name the flag (and its config key)."""

    def bad(flag: str, why: str, got: Any) -> UsageError:
        key = flag.lstrip("-").replace("-", "_")
        return UsageError(f"{flag} {why} (got {got!r})", hint=f"the same value is config key text.{key}")

    if not isinstance(s.max_tokens, int) or not 1 <= s.max_tokens <= MAX_NEW_TOKENS:
        raise bad("--max-tokens", f"must be a whole number from 1 to {MAX_NEW_TOKENS}", s.max_tokens)
    if not 0 <= s.temperature <= 100:
        raise bad("--temperature", "must be from 0 (greedy) to 100", s.temperature)
    if not 0 < s.top_p <= 1:
        raise bad("--top-p", "must be more than 0 and at most 1 (1 turns it off)", s.top_p)
    if not isinstance(s.top_k, int) or s.top_k < 0 or s.top_k > 10_000_000:
        raise bad("--top-k", "must be a whole number, 0 (off) or more", s.top_k)
    if not 0 < s.repetition_penalty <= 10:
        raise bad("--repetition-penalty", "must be more than 0 and at most 10 (1 turns it off)", s.repetition_penalty)
    if len(s.stop) > MAX_STOPS:
        raise bad("--stop", f"may be given at most {MAX_STOPS} times", len(s.stop))
    for stop in s.stop:
        if not stop:
            raise bad("--stop", "must not be empty", stop)
        if len(stop) > MAX_STOP_CHARS:
            raise bad("--stop", f"must be at most {MAX_STOP_CHARS} characters", f"{len(stop):,} characters")


# --- prompts -------------------------------------------------------------------------------


def check_prompt(prompt: str, what: str = "prompt") -> str:
    if prompt is None or not prompt.strip():
        raise UsageError(f"empty {what}", hint="give some text, as an argument or on stdin")
    return prompt


def chat_ids(lm: Any, messages: list[dict[str, str]], raw: bool = False) -> list[int]:
    """Token ids of a conversation, ending where the assistant's answer begins.

    With the model's chat template unless `raw` (or the model has none): then the text of the
    messages is joined as a plain transcript (one message only: the text itself).
    A llama.cpp model (llama_engine.LlamaLM) renders the GGUF's own template itself."""
    if hasattr(lm, "chat_ids"):
        return lm.chat_ids(messages, raw=raw)
    tok = lm.tokenizer
    if not raw and lm.has_chat_template:
        ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
        return list(ids["input_ids"])
    return list(tok(raw_text(messages))["input_ids"])


def raw_text(messages: list[dict[str, str]]) -> str:
    """A conversation as plain text, for --raw and for models without a chat template."""
    if len(messages) == 1:
        return messages[0]["content"]
    if messages and all(m["role"] != "assistant" for m in messages) and len(messages) == 2:
        return messages[0]["content"] + "\n\n" + messages[1]["content"]  # system + user, raw
    return "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages) + "Assistant:"


def fit_context(
    ids: list[int], context: int, max_tokens: int, truncate: bool, on_warn: Callable[[str], None] = lambda s: None
) -> list[int]:
    """Make room for `max_tokens` new tokens: refuse, or drop tokens from the left (--truncate)."""
    if max_tokens >= context:
        raise UsageError(
            f"--max-tokens {max_tokens} does not fit the model's context of {context} tokens",
            hint=f"use --max-tokens {context // 2} or less",
        )
    room = context - max_tokens
    if len(ids) <= room:
        return ids
    if not truncate:
        raise UsageError(
            f"the prompt is {len(ids)} tokens; with --max-tokens {max_tokens} the model's context of "
            f"{context} tokens leaves room for {room}",
            hint="shorten the prompt, lower --max-tokens, or pass --truncate to drop the oldest tokens",
        )
    on_warn(
        f"prompt truncated from the left: {len(ids)} -> {room} tokens (context {context}, --max-tokens {max_tokens})"
    )
    return ids[len(ids) - room :]


# --- the loop ------------------------------------------------------------------------------


@dataclass
class Generation:
    text: str  # the generated text (stop string excluded)
    prompt_tokens: int
    new_tokens: int
    finish_reason: str  # "length" | "eos" | "stop" | "interrupted"
    seed: int | None
    load_s: float = 0.0  # loading the model (filled in by the caller)
    first_token_s: float = 0.0  # prefill + first token, from the start of generate()
    total_s: float = 0.0  # generate() wall time
    token_ids: list[int] = field(default_factory=list)

    @property
    def decode_tokens_per_s(self) -> float:
        """Tokens per second after the first one (the prefill is not counted)."""
        dt = self.total_s - self.first_token_s
        return (self.new_tokens - 1) / dt if self.new_tokens > 1 and dt > 0 else 0.0

    def timings(self) -> dict[str, float]:
        return {
            "load_s": round(self.load_s, 4),
            "first_token_s": round(self.first_token_s, 4),
            "total_s": round(self.total_s, 4),
            "decode_tokens_per_s": round(self.decode_tokens_per_s, 2),
        }


def logits_processors(s: SamplingSettings) -> Any:
    from transformers import LogitsProcessorList
    from transformers.generation.logits_process import (
        RepetitionPenaltyLogitsProcessor,
        TemperatureLogitsWarper,
        TopKLogitsWarper,
        TopPLogitsWarper,
    )

    procs = LogitsProcessorList()
    if s.repetition_penalty != 1.0:
        procs.append(RepetitionPenaltyLogitsProcessor(s.repetition_penalty))
    if not s.is_greedy:
        if s.temperature != 1.0:
            procs.append(TemperatureLogitsWarper(s.temperature))
        if s.top_k > 0:
            procs.append(TopKLogitsWarper(s.top_k))
        if s.top_p < 1.0:
            procs.append(TopPLogitsWarper(s.top_p))
    return procs


def eos_ids(lm: Any) -> set[int]:
    """Token ids that end the answer: the tokenizer's and the generation config's EOS."""
    ids: set[int] = set()
    for value in (lm.tokenizer.eos_token_id, getattr(lm.model.generation_config, "eos_token_id", None)):
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, (list, tuple)):
            ids.update(int(v) for v in value)
    return ids


class _TextStream:
    """Turns token ids into text pieces: holds back a half-decoded character and anything that
    may be the start of a stop string, so neither ever reaches the output."""

    def __init__(self, tokenizer: Any, stops: list[str], on_text: Callable[[str], None]):
        self.tokenizer, self.stops, self.on_text = tokenizer, stops, on_text
        self.ids: list[int] = []
        self.sent = 0  # characters already handed to on_text
        self.text = ""
        self.stopped = False

    def push(self, token_id: int) -> None:
        self.ids.append(token_id)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a multi-byte character is not complete yet
            return
        self.text = text
        for stop in self.stops:
            at = text.find(stop, max(0, self.sent - len(stop)))
            if at >= 0:
                self.text = text[:at]
                self.stopped = True
        safe = len(self.text) if self.stopped else len(self.text) - self._held_back(self.text)
        if safe > self.sent:
            piece, self.sent = self.text[self.sent : safe], safe  # counted as sent even if on_text is interrupted
            self.on_text(piece)

    def _held_back(self, text: str) -> int:
        """Length of the longest end of `text` that is the beginning of a stop string."""
        hold = 0
        for stop in self.stops:
            for n in range(min(len(stop) - 1, len(text)), hold, -1):
                if stop.startswith(text[-n:]):
                    hold = n
                    break
        return hold

    def flush(self) -> None:
        if len(self.text) > self.sent:
            piece, self.sent = self.text[self.sent :], len(self.text)
            self.on_text(piece)


def generate(
    lm: Any, prompt_ids: list[int], s: SamplingSettings, on_text: Callable[[str], None] | None = None
) -> Generation:
    """Sample up to `s.max_tokens` tokens after `prompt_ids`, handing text pieces to `on_text`.

    Ctrl-C stops the loop; what was produced is flushed and returned (finish_reason
    "interrupted"), so the caller can keep it and exit 130. A llama.cpp model runs its own
    loop of the same shape (llama_engine.LlamaLM.generate)."""
    if getattr(lm, "engine", None) == "llama.cpp":
        return lm.generate(prompt_ids, s, on_text)
    import torch
    from transformers import DynamicCache

    from genai_cli.text.model import cache_kwargs

    model, device = lm.model, lm.device
    seed = s.seed if s.seed is not None else int(torch.randint(0, 2**31 - 1, (1,)).item())
    gen = torch.Generator(device="cpu").manual_seed(seed)  # sampling draws on the cpu: same seed, same text
    procs = logits_processors(s)
    stop_ids = eos_ids(lm)
    stream = _TextStream(lm.tokenizer, s.stop, on_text or (lambda piece: None))
    ids = torch.tensor([prompt_ids], dtype=torch.long, device=device)  # [1, T]
    finish, first_token_s, t0 = "length", 0.0, time.perf_counter()
    new: list[int] = []
    try:
        with torch.inference_mode():
            cache = DynamicCache(config=model.config)
            kw = cache_kwargs(model, cache)
            logits = model(ids, **kw, use_cache=True, logits_to_keep=1).logits[:, -1, :]  # [1, V]
            for step in range(s.max_tokens):
                scores = procs(ids, logits.float())  # [1, V]
                if s.is_greedy:
                    nxt = int(scores.argmax(-1).item())
                else:
                    probs = torch.softmax(scores, dim=-1).cpu()
                    nxt = int(torch.multinomial(probs, 1, generator=gen).item())
                if step == 0:
                    first_token_s = time.perf_counter() - t0
                if nxt in stop_ids:
                    finish = "eos"
                    break
                new.append(nxt)
                stream.push(nxt)
                if stream.stopped:
                    finish = "stop"
                    break
                if step + 1 == s.max_tokens:
                    break
                nxt_t = torch.tensor([[nxt]], dtype=torch.long, device=device)  # [1, 1]
                ids = torch.cat([ids, nxt_t], dim=1)  # [1, T + step + 1], for the repetition penalty
                logits = model(nxt_t, **kw, use_cache=True).logits[:, -1, :]
    except KeyboardInterrupt:
        finish = "interrupted"
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
