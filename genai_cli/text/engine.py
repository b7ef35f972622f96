"""Which engine runs `generate` and `chat`: llama.cpp or transformers, and why.

    auto          llama.cpp for a GGUF model (the built-in one, or --model FILE.gguf) on the
                  cpu, or on a GPU when this llama.cpp build can offload to it; transformers for
                  a model folder or hub id, and on a GPU that llama.cpp was not built for
    llama.cpp     GGUF files only; needs llama-cpp-python (scripts/setup.sh builds it)
    transformers  model folders, hub ids and the built-in model (converted once to safetensors)

Decided before anything heavy is imported, before stdin is read and before anything is
printed: the model is found, a GGUF header is checked, a model folder is checked for remote
code. `next` and `attention` always use transformers (they show the model's internals).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from genai_cli.errors import UsageError, shorten

ENGINES = ("auto", "llama.cpp", "transformers")
MAX_THREADS = 1024


@dataclass
class Plan:
    engine: str  # "llama.cpp" or "transformers"
    reason: str  # why, for the device line on stderr
    gguf: object | None = None  # gguf_file.GGUFInfo of the model file (llama.cpp)
    folder: Path | None = None  # the transformers model folder (None: the built-in, converted on load)
    gpu_layers: int = 0  # llama.cpp: -1 puts every layer on the GPU
    note: str | None = None  # a one-line note (the fallback to transformers)


def physical_cores() -> int:
    """The default thread count: physical cores (hyper-threads slow a decode loop down)."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:
        n = None
    return max(1, int(n or os.cpu_count() or 1))


def check_threads(threads: int | None) -> int:
    if threads is None:
        return physical_cores()
    if isinstance(threads, bool) or not isinstance(threads, int) or not 1 <= threads <= MAX_THREADS:
        raise UsageError(
            f"--threads must be a whole number from 1 to {MAX_THREADS} (got {threads!r})",
            hint="the same value is config key text.threads (null: the physical cores)",
        )
    return threads


def _gpu_present() -> bool:
    """A cheap look for a GPU without importing torch: an NVIDIA driver, or Apple silicon."""
    if os.path.exists("/proc/driver/nvidia/version"):
        return True
    import platform

    return sys.platform == "darwin" and platform.machine() == "arm64"


def plan(model: str, engine: str, device: str) -> Plan:
    """Pick the engine for `model` on `device` (the runtime.device setting, not yet resolved)."""
    from genai_cli.text import llama_engine
    from genai_cli.text.gguf_file import looks_like_gguf, read_header
    from genai_cli.text.model import BUILTIN_ALIASES, gguf_path, resolve_model

    engine = (engine or "auto").strip().lower()
    if engine not in ENGINES:
        raise UsageError(
            f"--engine {shorten(engine)} is not one of: {', '.join(ENGINES)}",
            hint="the same value is config key text.engine",
        )
    key = (model or "").strip()
    builtin = key.lower() in BUILTIN_ALIASES
    path = Path(key).expanduser()
    is_gguf = builtin or (
        not path.is_dir() and (path.suffix.lower() == ".gguf" or (path.is_file() and looks_like_gguf(path)))
    )

    if not is_gguf:
        if engine == "llama.cpp":
            raise UsageError(
                f"--engine llama.cpp runs GGUF files; {shorten(key, 300)} is not one",
                hint="give --model FILE.gguf, or use --engine transformers (or auto) for a model folder or hub id",
            )
        return Plan(
            "transformers",
            "a transformers model" if engine == "auto" else "--engine transformers",
            folder=resolve_model(key),
        )
    if engine == "transformers":
        if not builtin:
            raise UsageError(
                f"--engine transformers runs model folders and the built-in model, not the GGUF file {path}",
                hint="use --engine llama.cpp (or auto) for a .gguf file",
            )
        return Plan("transformers", "--engine transformers")

    info = read_header(gguf_path() if builtin else path)  # bad or truncated file: exit 2 naming it
    dev = (device or "auto").strip().lower()
    wants_gpu = dev.startswith(("cuda", "mps")) or (dev == "auto" and _gpu_present())
    if not llama_engine.available():
        if engine == "llama.cpp" or not builtin:
            raise UsageError(
                f"llama-cpp-python is not installed; it runs the GGUF file {info.path.name}",
                hint=llama_engine.SETUP_HINT,
            )
        return Plan(
            "transformers",
            "auto: llama-cpp-python is not installed",
            note="llama-cpp-python is not installed: running on transformers, several times slower "
            "(`bash scripts/setup.sh` builds it)",
        )
    if wants_gpu:
        if llama_engine.gpu_offload():
            return Plan(
                "llama.cpp",
                f"{'auto: ' if engine == 'auto' else ''}GGUF model, this llama.cpp runs on the GPU",
                gguf=info,
                gpu_layers=-1,
            )
        if engine == "llama.cpp":
            if dev != "auto":
                raise UsageError(
                    f"--device {shorten(dev)}: this llama.cpp build runs on the cpu only",
                    hint="use --device cpu, or --engine transformers",
                )
        elif builtin:
            return Plan("transformers", "auto: a GPU, and this llama.cpp build is cpu-only")
        else:
            raise UsageError(
                f"--device {shorten(dev)}: this llama.cpp build runs on the cpu only, and "
                f"transformers does not run {info.path.name}",
                hint="use --device cpu",
            )
    reason = "auto: GGUF model on the cpu" if engine == "auto" else "--engine llama.cpp"
    return Plan("llama.cpp", reason, gguf=info)
