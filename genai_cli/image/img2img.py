"""Image to image: `genai imagine --init-image FILE --strength S`.

Diffusion works backwards from noise; img2img starts part of the way instead. The picture is
encoded by the VAE, noised to the timestep that `strength` names (S = 0.6: 60% of the way toward
pure noise), and the U-Net denoises it from there with the prompt, for about S x steps steps.
S = 1.0 starts from (almost) pure noise: text to image. diffusers' img2img pipelines do the work
(`AutoPipelineForImage2Image.from_pipe` shares the loaded components: no second load, and LoRAs
and learned words stay in place).

The init image is read through genai_cli.files.open_image (bombs, FIFOs, damaged files refused)
and fitted to the model's size: resized when the aspect ratio matches, else centre-cropped to it
first. Images record the init image's name and SHA-256 and the strength: A1111's `Denoising
strength` field (plus `Init image` / `Init image hash`), and `init_image` in genai's JSON.
"""

from __future__ import annotations

import functools
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from genai_cli.errors import UsageError, shorten

DEFAULT_STRENGTH = 0.75  # A1111's default denoising strength


@dataclass
class InitImage:
    path: Path
    image: Any  # PIL RGB, as read
    sha256: str
    strength: float
    fitted: Any = None  # PIL RGB at the model's size (fit)
    how: str = ""  # "resized" | "cropped and resized" | "used as is"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.path.name,
            "path": str(self.path),
            "sha256": self.sha256,
            "strength": self.strength,
            "size": list(self.image.size),
            "fitted": self.how,
        }


def check_strength(strength: Any, steps: int) -> float:
    """S in (0, 1], and at least one denoising step (diffusers runs int(steps x S) of them)."""
    if (
        isinstance(strength, bool)
        or not isinstance(strength, (int, float))
        or not math.isfinite(strength)
        or not 0 < strength <= 1
    ):
        raise UsageError(
            f"--strength must be a number in (0, 1], got {shorten(strength)}",
            hint="how far toward noise the picture goes first: 0.3 keeps it close, 1.0 is text to image",
        )
    if steps_run(steps, strength) < 1:
        raise UsageError(
            f"--strength {strength:g} with --steps {steps} runs no denoising step (int(steps x strength) = 0)",
            hint=f"use --steps {math.ceil(1 / strength)} or more",
        )
    return float(strength)


def steps_run(steps: int, strength: float) -> int:
    """The denoising steps diffusers' img2img runs: min(int(steps x strength), steps)."""
    return min(int(steps * strength), steps)


def read(path: Path, strength: float) -> InitImage:
    """The init image, checked and decoded (no model needed), with its file's SHA-256."""
    from genai_cli.files import open_image

    path = Path(path).expanduser()
    image = open_image(path, "--init-image").convert("RGB")  # FIFOs, bombs, damage: a UsageError naming it
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return InitImage(path, image, h.hexdigest(), strength)


def fit(init: InitImage, width: int, height: int) -> str:
    """Fit the image to width x height (centre crop to the aspect ratio, then resize); returns what was done."""
    from PIL import Image

    im = init.image
    w, h = im.size
    if (w, h) == (width, height):
        init.fitted, init.how = im, "used as is"
    else:
        target = width / height
        if abs(w / h - target) > 0.01:
            cw, ch = (round(h * target), h) if w / h > target else (w, round(w / target))
            left, top = (w - cw) // 2, (h - ch) // 2
            im = im.crop((left, top, left + cw, top + ch))
            init.how = f"cropped to {cw}x{ch} and resized"
        else:
            init.how = "resized"
        init.fitted = im.resize((width, height), Image.LANCZOS)
    return f"init image {init.path.name}: {w}x{h}, {init.how}" + (
        "" if init.how == "used as is" else f" to {width}x{height}"
    )


def pipeline(pipe: Any) -> Any:
    """The img2img pipeline of the same family (SD 1.x/2.x, SDXL), sharing the loaded components."""
    from diffusers import AutoPipelineForImage2Image

    img = AutoPipelineForImage2Image.from_pipe(pipe)
    img.set_progress_bar_config(disable=True)
    return img


def a1111_fields(run: dict[str, Any]) -> dict[str, Any]:
    """`Denoising strength` (A1111's key), and the init image's name and hash."""
    init = run.get("init_image")
    if not init:
        return {}
    return {"Denoising strength": init["strength"], "Init image": init["name"], "Init image hash": init["sha256"][:12]}


class _FirstSample:
    """Wraps scheduler.step to keep the latent the U-Net starts from: the noised picture."""

    def __init__(self, scheduler: Any):
        self.scheduler, self.original, self.latent = scheduler, scheduler.step, None

        @functools.wraps(self.original)  # keeps the signature the pipeline inspects
        def step(model_output, timestep, sample, *args, **kwargs):
            if self.latent is None:
                # Euler-type schedulers keep x0 + sigma * eps: scale_model_input brings it to unit variance
                self.latent = scheduler.scale_model_input(sample, timestep).detach().float().cpu()
                self.t = int(timestep)
            return self.original(model_output, timestep, sample, *args, **kwargs)

        scheduler.step = step

    def restore(self) -> None:
        self.scheduler.step = self.original


def generate(
    pipe: Any,
    s: Any,
    jobs: Iterable[Any],
    width: int,
    height: int,
    model_label: str,
    run_info: dict[str, Any],
    on_step: Callable[[Any], None] | None = None,
    *,
    init: InitImage,
) -> Iterator[Any]:
    """genai_cli.image.generate.generate for img2img: the same jobs, files and metadata; the pipeline
    starts from `init` noised to its strength, and the --show-steps strip runs from the init image and
    the noised picture back to the result."""
    import numpy as np
    import torch

    from genai_cli.image import generate as G
    from genai_cli.image import pngmeta, schedulers
    from genai_cli.image.strip import make_strip, to_pil

    sampler = schedulers.a1111_name(pipe.scheduler)
    n_run = steps_run(s.steps, init.strength)
    for batch in G.batches(jobs, s.batch_size):
        keep = sorted({round(x) for x in np.linspace(0, n_run - 1, min(s.step_frames, n_run))}) if s.show_steps else []
        recorder = G._X0Recorder(pipe.scheduler, set(keep)) if keep else None
        first = _FirstSample(pipe.scheduler) if keep else None

        def on_step_end(_pipe, step, timestep, tensors, batch=batch):
            if on_step is not None:
                for job in batch:
                    on_step(job)
            return tensors

        try:
            out = pipe(
                prompt=[batch[0].prompt] * len(batch),
                negative_prompt=[s.negative] * len(batch) if s.negative else None,
                image=[init.fitted] * len(batch),
                strength=init.strength,
                num_inference_steps=s.steps,
                guidance_scale=s.guidance,
                generator=[torch.Generator("cpu").manual_seed(job.seed) for job in batch],
                output_type="np",
                callback_on_step_end=on_step_end if on_step is not None else None,
            )
        finally:
            if first is not None:
                first.restore()
            if recorder is not None:
                recorder.restore()
        images = out.images
        nsfw = getattr(out, "nsfw_content_detected", None) or [False] * len(batch)
        step_images = {k: G._decode(pipe, v) for k, v in recorder.latents.items()} if recorder else {}
        noised = G._decode(pipe, first.latent) if first is not None and first.latent is not None else None
        for b, job in enumerate(batch):
            image = images[b]
            problems = []
            if np.isnan(image).any():
                problems.append("nan")
            elif float(image.max()) < 1 / 255:
                problems.append("black")
            if nsfw[b]:
                problems.append("nsfw")
            meta = G._metadata(s, job, width, height, sampler, model_label, run_info)
            path = pngmeta.write_png(to_pil(image), s.out / G.file_name(job), meta, force=s.force)
            result = G.ImageResult(path, job, width, height, problems=problems)
            if step_images:
                frames = [init.fitted]
                labels = [["init image", f"strength {init.strength:g}"]]
                if noised is not None:
                    frames.append(to_pil(noised[b]))
                    labels.append(["noised", f"t={first.t}"])
                frames += [to_pil(step_images[k][b]) for k in keep]
                labels += [[f"step {k + 1}/{n_run}"] for k in keep]
                result.steps_path = pngmeta.write_png(
                    make_strip(frames, labels), path.with_name(path.stem + "-steps.png"), meta, force=s.force
                )
            yield result
