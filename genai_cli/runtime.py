"""Device, precision and seeding, through accelerate, with a CPU fallback.

Only commands that run a torch model import this module; it imports torch and
accelerate itself, so nothing else pays for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genai_cli.errors import UsageError

PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


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

        return PartialState().device
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UsageError(
            f"unknown device {requested!r}", hint="use auto, cpu, cuda, cuda:N or mps"
        ) from None
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
    elif device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UsageError(f"device {requested!r} is not available here", hint="use --device cpu (or auto)")
    elif device.type != "cpu":
        raise UsageError(f"unsupported device {requested!r}", hint="use auto, cpu, cuda, cuda:N or mps")
    return device


def choose_precision(device, requested: str = "auto") -> str:
    """auto: fp16 on cuda and mps, fp32 on cpu. An explicit choice is checked against the device."""
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        return "fp16" if device.type in ("cuda", "mps") else "fp32"
    if requested not in PRECISIONS:
        raise UsageError(f"unknown precision {requested!r}", hint="use auto, fp32, fp16 or bf16")
    if requested == "fp16" and device.type == "cpu":
        raise UsageError("fp16 is not supported on the cpu", hint="use --precision fp32 (or bf16)")
    if requested == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UsageError(f"bf16 is not supported on {device}", hint="use --precision fp16 or fp32")
    if requested == "bf16" and device.type == "mps":
        raise UsageError("bf16 is not supported on mps", hint="use --precision fp16 or fp32")
    return requested


def setup(device: str = "auto", precision: str = "auto", seed: int | None = None) -> Runtime:
    """Pick device and precision, seed every RNG (python, numpy, torch) when a seed is given."""
    import torch

    dev = choose_device(device)
    prec = choose_precision(dev, precision)
    if seed is not None:
        from accelerate.utils import set_seed

        set_seed(seed)
    return Runtime(device=dev, dtype=getattr(torch, PRECISIONS[prec]), precision=prec, seed=seed)
