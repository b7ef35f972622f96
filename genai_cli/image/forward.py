"""The forward diffusion process: an image with noise added at chosen timesteps.

    x_t = sqrt(alpha_bar_t) * x_0 + sqrt(1 - alpha_bar_t) * eps,    eps ~ N(0, I)
    SNR(t) = alpha_bar_t / (1 - alpha_bar_t)                        (signal power / noise power)

alpha_bar comes from a scheduler config (betas, schedule, number of training steps): no model
weights are needed. This runs in pixel space, x_0 in [-1, 1], so the noise is visible as it is;
Stable Diffusion adds the same noise to its VAE latents.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError, shorten

MAX_FRAMES = 64  # --n / --steps: frames in one strip (config image.diffuse.n has the same bound)
MAX_STRIP_PIXELS = 16 * 1024 * 1024  # frames x size^2 at most (16 megapixels: 6 frames of 1600 px, 64 of 512 px)
BUILTIN = "sd15"  # the built-in schedule: Stable Diffusion 1.5's (scaled_linear betas 0.00085 .. 0.012, 1000 steps)


def builtin_config() -> dict[str, Any]:
    from genai_cli import models

    return json.loads(models.builtin(BUILTIN, "scheduler").read_text())


def load_scheduler_config(spec: str | None) -> tuple[dict[str, Any], str]:
    """(config, label) from: nothing (built-in SD1.5), a scheduler_config.json, a model folder, an alias or hub id."""
    from genai_cli import models
    from genai_cli.image.loading import TOY

    if spec is None or spec.strip() in ("", BUILTIN):
        return builtin_config(), "sd15 (built-in)"
    spec = spec.strip()
    if spec == TOY:
        from genai_cli.image.loading import toy

        path = toy().path
    else:  # a file or folder here, else a hub model's scheduler config only
        path = models.local(spec, "image") or models.resolve(spec, "image", allow_patterns=["scheduler/*.json"])
    from genai_cli.image.loading import check_scheduler_config, read_config_json

    for candidate in (path, path / "scheduler" / "scheduler_config.json", path / "scheduler_config.json"):
        if candidate.exists() and not candidate.is_dir():  # a FIFO or device is refused by read_config_json
            config = read_config_json(candidate, "scheduler")
            if not ({"beta_schedule", "trained_betas", "num_train_timesteps"} & set(config)):
                raise UsageError(f"{candidate}: a bad scheduler JSON (no beta_schedule / num_train_timesteps)")
            return check_scheduler_config(candidate, config), spec
    raise UsageError(f"no scheduler config in {path}", hint="pass a scheduler_config.json or a diffusers model folder")


def alphas_cumprod(config: dict[str, Any], source: str = "this scheduler config"):
    """alpha_bar_t for t = 0 .. T-1 (numpy float64), the way diffusers' schedulers compute it.

    The three common beta schedules are computed here with numpy (fast, no torch); anything
    else (rescaled zero-SNR, other schedules) is left to diffusers' own DDPMScheduler.
    """
    import numpy as np

    T = int(config.get("num_train_timesteps") or 1000)
    start, end = float(config.get("beta_start", 0.0001)), float(config.get("beta_end", 0.02))
    schedule = config.get("beta_schedule", "linear")
    if config.get("trained_betas") is not None:
        betas = np.asarray(config["trained_betas"], dtype=np.float64)
    elif config.get("rescale_betas_zero_snr"):
        return _alphas_cumprod_diffusers(config, source)
    elif schedule == "linear":
        betas = np.linspace(start, end, T, dtype=np.float32).astype(np.float64)
    elif schedule == "scaled_linear":  # Stable Diffusion's: linear in sqrt(beta)
        betas = (np.linspace(start**0.5, end**0.5, T, dtype=np.float32) ** 2).astype(np.float64)
    elif schedule == "squaredcos_cap_v2":  # Nichol & Dhariwal's cosine schedule
        f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        betas = np.array([min(1 - f((i + 1) / T) / f(i / T), 0.999) for i in range(T)])
    else:
        return _alphas_cumprod_diffusers(config, source)
    if betas.ndim != 1 or len(betas) < 2 or not ((betas > 0) & (betas < 1)).all():
        raise UsageError(f"{source}: a bad scheduler JSON (no valid betas: each must be in (0, 1))")
    return np.cumprod(1.0 - betas)


def _alphas_cumprod_diffusers(config: dict[str, Any], source: str):
    import numpy as np
    from diffusers import DDPMScheduler
    from diffusers.utils import logging

    logging.set_verbosity_error()
    keys = ("num_train_timesteps", "beta_start", "beta_end", "beta_schedule", "trained_betas", "rescale_betas_zero_snr")
    try:
        sched = DDPMScheduler(**{k: config[k] for k in keys if k in config and config[k] is not None})
    except (NotImplementedError, ValueError, TypeError) as e:
        raise UsageError(
            f"{source}: a bad scheduler JSON (no noise schedule from it: {shorten(str(e), 100)})"
        ) from None
    return np.asarray(sched.alphas_cumprod, dtype=np.float64)


def pick_timesteps(total: int, steps: list[int] | None, n: int | None) -> list[int]:
    """The chosen timesteps (checked), or n evenly spaced from 0 to total-1."""
    if steps:
        bad = [t for t in steps if not 0 <= t < total]
        if bad:
            raise UsageError(f"--steps {bad[0]} is outside 0..{total - 1} (this schedule has {total} timesteps)")
        return list(steps)
    n = 6 if n is None else check_frames(n)
    return [round(i * (total - 1) / (n - 1)) for i in range(n)]


def check_frames(n: int) -> int:
    """--n: 2..MAX_FRAMES frames (0 is refused, not taken as the default)."""
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= MAX_FRAMES:
        raise UsageError(f"--n must be a whole number in 2..{MAX_FRAMES}, got {shorten(n)}")
    return n


def check_strip(frames: int, size: int) -> None:
    """The strip's pixels (frames x size^2) within MAX_STRIP_PIXELS, before any image is read."""
    if frames * size * size > MAX_STRIP_PIXELS:
        raise UsageError(
            f"{frames} frames of {size} pixels are over {MAX_STRIP_PIXELS // 2**20} megapixels in all",
            hint="use a smaller --size or fewer frames",
        )


def parse_steps(text: str | None) -> list[int] | None:
    """'0,100,250' -> [0, 100, 250] (at most MAX_FRAMES of them)"""
    if text is None or not text.strip():
        return None
    if text.count(",") >= MAX_FRAMES:
        raise UsageError(f"--steps: at most {MAX_FRAMES} timesteps, got {text.count(',') + 1}")
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise UsageError(
            f"--steps {shorten(text)}: expected whole numbers separated by commas, like 0,100,250,500,999"
        ) from None


@dataclass
class Frame:
    t: int
    alpha_bar: float
    snr: float
    snr_db: float
    rmse: float  # distance of the noisy image from the clean one, in [-1, 1] pixel units
    image: Any  # (H, W, 3) float in [0, 1]

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "alpha_bar": self.alpha_bar, "snr": self.snr, "snr_db": self.snr_db, "rmse": self.rmse}


def load_image(path: Path, size: int):
    """An RGB image as floats in [-1, 1], shape (H, W, 3), its longer side resized to `size`."""
    import numpy as np
    from PIL import Image

    from genai_cli.files import open_image

    im = open_image(path, "image").convert("RGB")  # bombs, FIFOs, truncated files: a UsageError naming it
    scale = size / max(im.size)
    im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))), Image.LANCZOS)
    return np.asarray(im, dtype=np.float64) / 127.5 - 1.0


def noise_frames(x0: Any, alpha_bar: Any, timesteps: list[int], seed: int) -> list[Frame]:
    """x_t for each t, all with the same noise eps (so only the mix changes from frame to frame)."""
    import numpy as np

    eps = np.random.default_rng(seed).standard_normal(x0.shape)  # (H, W, 3)
    frames = []
    for t in timesteps:
        ab = float(alpha_bar[t])
        xt = math.sqrt(ab) * x0 + math.sqrt(1 - ab) * eps
        snr = ab / (1 - ab)
        frames.append(
            Frame(t, ab, snr, 10 * math.log10(snr), float(np.sqrt(np.mean((xt - x0) ** 2))), ((xt + 1) / 2).clip(0, 1))
        )
    return frames


def frame_labels(f: Frame) -> list[str]:
    snr = f"{f.snr:,.0f}" if f.snr >= 100 else f"{f.snr:.3g}" if f.snr >= 0.01 else f"{f.snr:.1e}"
    return [f"t={f.t}", f"SNR {snr}", f"{f.snr_db:+.1f} dB"]
