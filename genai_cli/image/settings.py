"""What `genai imagine` is asked to do, checked before any weight is loaded.

Like diffusers' `check_inputs`: every bad value is named, with what to use instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError
from genai_cli.image import schedulers


@dataclass
class ImagineSettings:
    prompts: list[str]
    model: str = "sd15"  # alias, hub id, local folder or .safetensors file
    negative: str = ""  # what the image should not show (classifier-free guidance's other branch)
    steps: int = 25  # denoising steps
    guidance: float = 7.5  # classifier-free guidance scale (0 or 1: no guidance, as sd-turbo wants)
    width: int | None = None  # pixels; None: the model's native size
    height: int | None = None  # pixels; None: the model's native size
    n: int = 1  # images per prompt
    seed: int | None = None  # the first image's seed; image k gets seed + k. None: drawn at random
    scheduler: str = "default"  # the model's own, or ddim, euler, euler-a, dpm++2m, lms, pndm
    out: Path = Path(".")  # folder for the PNG files
    force: bool = False  # replace files of the same name instead of choosing fresh names
    low_memory: bool = False  # attention/VAE slicing, and model CPU offload on CUDA
    show_steps: bool = False  # also write a strip of the predicted clean image during denoising
    step_frames: int = 6  # frames in that strip
    batch_size: int = 1  # images of one prompt generated together in one pipeline call
    single_file_config: str | None = None  # configs for a single-file checkpoint (folder or hub id)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        return d


def check_inputs(s: ImagineSettings) -> ImagineSettings:
    """Validate everything that needs no model. Raises UsageError naming the bad argument."""
    if not s.prompts:
        raise UsageError(
            "no prompt given", hint='genai imagine "a red fox in the snow" (or prompts on stdin, or --prompts-file)'
        )
    for i, p in enumerate(s.prompts):
        if not p.strip():
            raise UsageError(f"prompt {i + 1} is empty", hint="every prompt needs some text")
    if s.steps < 1:
        raise UsageError(f"--steps must be at least 1, got {s.steps}")
    if s.steps > 1000:
        raise UsageError(f"--steps must be at most 1000 (the training timesteps), got {s.steps}")
    if s.n < 1:
        raise UsageError(f"--n must be at least 1, got {s.n}")
    if s.batch_size < 1:
        raise UsageError(f"batch_size must be at least 1, got {s.batch_size}")
    if s.step_frames < 2:
        raise UsageError(f"step_frames must be at least 2, got {s.step_frames}")
    if s.guidance < 0:
        raise UsageError(f"--guidance must be 0 or more, got {s.guidance}")
    if s.seed is not None and not 0 <= s.seed < 2**32:
        raise UsageError(f"--seed must be in 0 .. 2**32-1, got {s.seed}")
    for name, v in (("--width", s.width), ("--height", s.height)):
        if v is not None and (v <= 0 or v % 8):
            raise UsageError(
                f"{name} must be a positive multiple of 8, got {v}", hint=f"try {max(8, round(v / 8) * 8)}"
            )
    s.scheduler = schedulers.check_name(s.scheduler)
    s.out = check_out_dir(Path(s.out))
    return s


def check_size(s: ImagineSettings, limits: tuple[int, int, int] | None) -> tuple[int, int]:
    """(width, height) within the model's range; the native size where not given."""
    native, lo, hi = limits or (512, 64, 2048)
    width, height = s.width or native, s.height or native
    for name, v in (("--width", width), ("--height", height)):
        if not lo <= v <= hi:
            raise UsageError(
                f"{name} {v} is outside this model's range {lo}..{hi} pixels", hint=f"its native size is {native}"
            )
    return width, height


def check_out_dir(out: Path) -> Path:
    """The output folder exists (it is created if missing) and a file can be written in it."""
    import tempfile

    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder", hint="name a folder (it is created if missing)")
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".genai-probe-"):
            pass
    except OSError as e:
        raise UsageError(
            f"--out {out} is not writable ({e.strerror or e})", hint="choose a folder you can write to"
        ) from None
    return out
