"""What `genai imagine` is asked to do, checked before any weight is loaded.

Like diffusers' `check_inputs`: every bad value is named, with what to use instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError, shorten
from genai_cli.image import schedulers

# Limits, checked before any weight is loaded (every count and size has a documented limit: configs/default.yaml)
MAX_N = 10_000  # --n: images per prompt (jobs are planned lazily, so memory does not grow with it)
MAX_PROMPTS = 10_000  # prompts in one run (arguments, --prompts-file or stdin lines)
MAX_NAME_CHARS = 4096  # characters in a model name, hub id or path (PATH_MAX on Linux)
MAX_PROMPT_CHARS = 4096  # characters in one prompt (CLIP reads only its first 77 tokens, ~300 characters)
MAX_BATCH_SIZE = 64  # batch_size: images of one prompt in one pipeline call
MAX_SIDE = 8192  # --width / --height in pixels (also the model's own range: 4 x its native size at most)
MAX_STEPS = 1000  # --steps: the training timesteps of Stable Diffusion
MAX_STEP_FRAMES = 64  # step_frames: frames in the --show-steps strip


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

    @classmethod
    def from_section(cls, section: dict[str, Any], prompts: list[str], **extra: Any) -> "ImagineSettings":
        """Settings from the validated `image` config section (config.section("image", ...)): every key that
        names a field is taken, the others (embeddings, diffuse) are left to their own code; `extra` (force)
        sets fields that are flags only. Nothing is copied by hand, so a new setting needs no line here."""
        names = {f.name for f in fields(cls)} - {"prompts"}
        values = {k: v for k, v in {**section, **extra}.items() if k in names}
        if values.get("out") is not None:
            values["out"] = Path(values["out"])
        return cls(prompts=list(prompts), **values)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["out"] = str(self.out)
        return d


def check_inputs(s: ImagineSettings) -> ImagineSettings:
    """Validate everything that needs no model. Raises UsageError naming the bad argument."""
    check_prompts(s.prompts)
    return check_options(s)


def check_prompts(prompts: list[str], example: str = "a red fox in the snow") -> list[str]:
    """The prompts: at least one, none empty, at most MAX_PROMPTS of at most MAX_PROMPT_CHARS each.
    `example`: the prompt the hint suggests (one the model understands: genai_cli.image.run.example_prompt)."""
    if not prompts:
        raise UsageError("no prompt given", hint=f'genai imagine "{example}" (or prompts on stdin, or --prompts-file)')
    if len(prompts) > MAX_PROMPTS:
        raise UsageError(f"{len(prompts)} prompts: at most {MAX_PROMPTS} in one run", hint="split them between runs")
    for i, p in enumerate(prompts):
        if not p.strip():
            raise UsageError(f"prompt {i + 1} is empty", hint="every prompt needs some text")
        if len(p) > MAX_PROMPT_CHARS:
            raise UsageError(
                f"prompt {i + 1} ({shorten(p, 40)}) is longer than {MAX_PROMPT_CHARS} characters",
                hint="the text encoder reads only the first 77 tokens (about 300 characters)",
            )
    return prompts


def check_options(s: ImagineSettings) -> ImagineSettings:
    """Every setting but the prompts; the output folder is checked, not created (that waits for the first file)."""
    import math

    def whole(name: str, v: Any, lo: int, hi: int) -> None:
        if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
            raise UsageError(f"{name} must be a whole number in {lo}..{hi}, got {shorten(v)}")

    for name, v in (("--model", s.model), ("--single-file-config", s.single_file_config)):
        if isinstance(v, str) and len(v) > MAX_NAME_CHARS:
            raise UsageError(f"{name} ({shorten(v, 40)}) is longer than {MAX_NAME_CHARS} characters")
    if s.negative and len(s.negative) > MAX_PROMPT_CHARS:
        raise UsageError(f"--negative ({shorten(s.negative, 40)}) is longer than {MAX_PROMPT_CHARS} characters")
    whole("--steps", s.steps, 1, MAX_STEPS)
    whole("--n", s.n, 1, MAX_N)
    whole("--batch-size", s.batch_size, 1, MAX_BATCH_SIZE)
    whole("step_frames", s.step_frames, 2, MAX_STEP_FRAMES)
    if isinstance(s.guidance, bool) or not isinstance(s.guidance, (int, float)) or not math.isfinite(s.guidance):
        raise UsageError(
            f"--guidance must be a finite number, got {shorten(s.guidance)}", hint="7.5 is usual; 0 turns guidance off"
        )
    if s.guidance < 0:
        raise UsageError(f"--guidance must be 0 or more, got {s.guidance}")
    if s.seed is not None and not 0 <= s.seed < 2**32:
        raise UsageError(f"--seed must be in 0 .. 2**32-1, got {s.seed}")
    for name, v in (("--width", s.width), ("--height", s.height)):
        if v is not None and (v <= 0 or v % 8):
            raise UsageError(
                f"{name} must be a positive multiple of 8, got {v}", hint=f"try {max(8, round(v / 8) * 8)}"
            )
        if v is not None and v > MAX_SIDE:
            raise UsageError(f"{name} must be at most {MAX_SIDE} pixels, got {v}")
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


def check_out_dir(out: Path, flag: str = "--out") -> Path:
    """`out` is a folder, or can be made one, and a file can be written there. Nothing is created:
    the folder is made when the first file is written (pngmeta.write_png), so a failed run leaves none."""
    import tempfile

    out = out.expanduser()
    if out.exists() and not out.is_dir():
        raise UsageError(f"{flag} {out} is a file, not a folder", hint="name a folder (it is created if missing)")
    existing = out
    while not existing.exists():  # the nearest folder that exists: where the new ones would be made
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UsageError(f"{flag} {out}: {existing} is a file, not a folder", hint="choose a folder you can write to")
    try:  # a probe file, gone at once (os.access says yes to root even where nothing can be made, as in /proc)
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".genai-probe-"):
            pass
    except OSError as e:
        raise UsageError(
            f"{flag} {out} is not writable ({e.strerror or e})", hint="choose a folder you can write to"
        ) from None
    return out
