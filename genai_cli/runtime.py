"""Device, precision and seeding, through accelerate, with a CPU fallback.

Only commands that run a torch model import this module; it imports torch and
accelerate itself, so nothing else pays for them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from genai_cli.errors import GenaiError, UsageError

# PyTorch reads this when it loads (accelerate sets it later, when choosing mps: too late to take effect).
# Every command that runs a model imports this module (or genai_cli/distributed.py) before torch.
os.environ.setdefault("PYTORCH_ENABLE_MPS_FALLBACK", "1")

PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def check_names(device: str | None, precision: str | None) -> None:
    """The spelling of a device and a precision, checked without importing torch (for engines that do
    not use it, such as llama.cpp): a made-up name is exit 2 before any model loads."""
    import re

    from genai_cli.errors import shorten

    if device is not None and not re.fullmatch(r"auto|cpu|mps|cuda(:\d{1,4})?", str(device).strip().lower()):
        raise UsageError(f"unknown device {shorten(device)}", hint="use auto, cpu, cuda, cuda:N or mps")
    if precision is not None and str(precision).lower() not in ("auto", *PRECISIONS):
        raise UsageError(f"unknown precision {shorten(precision)}", hint="use auto, fp32, fp16 or bf16")


@dataclass(frozen=True)
class Runtime:
    device: Any  # torch.device
    dtype: Any  # torch.dtype
    precision: str  # fp32 | fp16 | bf16
    seed: int | None

    def describe(self) -> str:
        return f"using {self.device} ({self.precision})"


def choose_device(requested: str = "auto"):
    """auto: cuda, then mps, then cpu (accelerate's own choice); else the named device, checked."""
    import torch

    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        from accelerate import PartialState

        return full_device(PartialState().device)
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UsageError(f"unknown device {requested!r}", hint="use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(
                f"device {requested!r} was asked for, but CUDA is not available here",
                hint="use --device cpu (or auto)",
            )
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise UsageError(
                f"device {requested!r} does not exist: {torch.cuda.device_count()} CUDA device(s) found",
                hint="use cuda:0 .. cuda:N-1",
            )
        device = full_device(device)  # "cuda" -> this process's current device (under torchrun: its own GPU)
    elif device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UsageError(f"device {requested!r} is not available here", hint="use --device cpu (or auto)")
    elif device.type != "cpu":
        raise UsageError(f"unsupported device {requested!r}", hint="use auto, cpu, cuda, cuda:N or mps")
    return device


def full_device(device):
    """A device with its index: `cuda` -> `cuda:K`, K the current CUDA device (what `.to("cuda")` uses)."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        return torch.device("cuda", torch.cuda.current_device())
    return device


def same_device(a, b) -> bool:
    """Type and index compared (cuda:1 is not cuda:0); an index-less cuda means the current device."""
    return full_device(a) == full_device(b)


def use_device(device) -> None:
    """Make `device` the current CUDA device, so that libraries that say just "cuda" (accelerate with one
    process, model CPU offload) use it and not cuda:0. Nothing for other devices."""
    import torch

    device = torch.device(device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)


def native_bf16(device) -> bool:
    """bf16 in hardware: CUDA compute capability 8.0 or newer (Ampere, Ada, Hopper ...). Older cards (T4, V100)
    emulate it (torch.cuda.is_bf16_supported() admits that): slow, and no help against fp16 overflow."""
    import torch

    device = torch.device(device)
    if device.type != "cuda" or not torch.cuda.is_available():
        return False
    return torch.cuda.get_device_capability(full_device(device))[0] >= 8


def choose_precision(device, requested: str = "auto") -> str:
    """auto: bf16 on a cuda card with native bf16 (fp16's range overflows in models trained in bf16 -- Gemma,
    Llama-3 and Qwen fine-tunes -- and in some VAEs; bf16 runs as fast there), else fp16 on cuda and mps, fp32 on
    cpu. An explicit choice is checked against the device."""
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        if native_bf16(device):
            return "bf16"
        return "fp16" if device.type in ("cuda", "mps") else "fp32"
    if requested not in PRECISIONS:
        raise UsageError(f"unknown precision {requested!r}", hint="use auto, fp32, fp16 or bf16")
    if requested == "fp16" and device.type == "cpu":
        raise UsageError("fp16 is not supported on the cpu", hint="use --precision fp32 (or bf16)")
    if requested == "bf16" and device.type == "cuda" and not native_bf16(device):
        raise UsageError(
            f"bf16 is not supported on {device} (compute capability "
            f"{'.'.join(map(str, torch.cuda.get_device_capability(full_device(device))))}; bf16 needs 8.0 or newer)",
            hint="use --precision fp16 or fp32",
        )
    if requested == "bf16" and device.type == "mps":
        raise UsageError("bf16 is not supported on mps", hint="use --precision fp16 or fp32")
    return requested


def setup(device: str = "auto", precision: str = "auto", seed: int | None = None) -> Runtime:
    """Pick device and precision, seed every RNG (python, numpy, torch) when a seed is given.
    fp32 on a CUDA card with TF32 (compute capability 8+) lets matmuls and convolutions use TF32
    (torch's "high" float32 precision; ~10 bits of mantissa in the products, as diffusers' examples allow)."""
    import torch

    dev = choose_device(device)
    use_device(dev)
    prec = choose_precision(dev, precision)
    if prec == "fp32" and native_bf16(dev):  # the same cards have TF32
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if seed is not None:
        from accelerate.utils import set_seed

        set_seed(seed)
    return Runtime(device=dev, dtype=getattr(torch, PRECISIONS[prec]), precision=prec, seed=seed)


OOM_HINT = "lower --batch-size (raise --grad-accum to keep the effective batch), lower --resolution"


def out_of_memory(exc: BaseException) -> bool:
    """A CUDA or MPS out-of-memory error (MPS raises a plain RuntimeError)."""
    import torch

    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower() and "MPS" in str(exc)


def oom_error(exc: BaseException, device, hint: str) -> GenaiError:
    """A one-line GenaiError (exit 1) for an out-of-memory error on `device`, with `hint`."""
    first = (str(exc).strip().splitlines() or ["out of memory"])[0][:160]
    return GenaiError(f"out of memory on {device}: {first}", hint=hint)


def reset_accelerate_state() -> None:
    """Forget accelerate's process-wide AcceleratorState (mixed precision), so that a second run in the same
    process may choose another. `_reset_state` is private API (accelerate 0.2x .. 1.15 have it); if it goes
    away, nothing is reset and a second run in one process keeps the first one's mixed precision."""
    from accelerate.state import AcceleratorState

    reset = getattr(AcceleratorState, "_reset_state", None)
    if callable(reset):
        reset()
