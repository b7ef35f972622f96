"""Text to image with a loaded StableDiffusionPipeline: jobs, seeds, steps, files.

A job is one image: (index, prompt, seed). Jobs are planned on every process alike, split
between processes (accelerate), and each image is written as soon as it exists, so Ctrl-C
keeps what was made. Seeds are drawn on a CPU generator, so a seed gives the same starting
noise on every device.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from genai_cli import __version__
from genai_cli.files import slug
from genai_cli.image import pngmeta, schedulers
from genai_cli.image.settings import ImagineSettings
from genai_cli.image.strip import make_strip, to_pil


@dataclass(frozen=True)
class Job:
    index: int  # running number in the output folder (the file name starts with it)
    prompt_no: int  # which prompt (0-based)
    image_no: int  # which image of that prompt (0-based)
    prompt: str
    seed: int


@dataclass
class ImageResult:
    path: Path
    job: Job
    width: int
    height: int
    steps_path: Path | None = None
    problems: list[str] = field(default_factory=list)  # "nan", "black", "nsfw"


def file_name(job: Job) -> str:
    """'00042-1234-a-red-fox-in-the-snow.png': running number, seed, and the prompt's first 40 characters."""
    return f"{job.index:05d}-{job.seed}-{slug(job.prompt, SLUG_CHARS) or 'image'}.png"


SLUG_CHARS = 40  # characters of the prompt in an image's file name
_NUMBERED = re.compile(r"^(\d{5,})-")


def next_index(out: Path) -> int:
    """One more than the highest running number of the files in `out` (A1111 numbers files the same way)."""
    numbers = [int(m.group(1)) for p in out.iterdir() if (m := _NUMBERED.match(p.name))] if out.is_dir() else []
    return max(numbers, default=-1) + 1


def plan_jobs(
    prompts: list[str], n: int, base_seed: int, start_index: int, first: int = 0, stop: int | None = None
) -> Iterator[Job]:
    """Every (prompt, image) pair in order, made lazily (memory does not grow with n); image k of the
    whole run gets seed base_seed + k. `first`/`stop`: only images k in first..stop-1 (a process's share)."""
    total = len(prompts) * n
    stop = total if stop is None else min(stop, total)
    for k in range(max(0, first), stop):
        p_no, i = divmod(k, n)
        yield Job(start_index + k, p_no, i, prompts[p_no], (base_seed + k) % 2**32)


def batches(jobs: Iterable[Job], size: int) -> Iterator[list[Job]]:
    """Consecutive jobs of the same prompt, at most `size` at a time."""
    batch: list[Job] = []
    for job in jobs:
        if batch and (len(batch) == size or job.prompt != batch[0].prompt):
            yield batch
            batch = []
        batch.append(job)
    if batch:
        yield batch


def prepare(pipe: Any, s: ImagineSettings, device: Any) -> Any:
    """The chosen scheduler, diffusers' own bar off, memory options, and the pipeline on `device`."""
    if s.scheduler != schedulers.DEFAULT:
        pipe.scheduler = schedulers.make(s.scheduler, pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    if s.low_memory:  # VAE slicing and tiling (sizes up to 4x native); attention stays SDPA (slicing slows it badly)
        pipe.vae.enable_slicing()
        if getattr(pipe.vae, "tile_sample_min_size", 0) >= 256:  # tiles of a real VAE (512 px for SD 1.x); a toy
            pipe.vae.enable_tiling()  # VAE's 32-px tiles would show as squares, and it needs no memory saving
        if getattr(device, "type", "cpu") == "mps":
            pipe.enable_attention_slicing()  # diffusers' advice for MPS, where SDPA has no memory-efficient kernel
        if getattr(device, "type", "cpu") == "cuda":
            from genai_cli.runtime import full_device

            pipe.enable_model_cpu_offload(device=full_device(device))  # this process's own GPU, not cuda:0
            return pipe
    return pipe.to(device)


class _X0Recorder:
    """Wraps scheduler.step to keep the predicted clean latents x0 at chosen step numbers.

    Euler, Euler a, LMS and DDIM return x0 themselves (`pred_original_sample`); for the others
    it follows from the model output and alpha_bar_t:
        epsilon:  x0 = (x_t - sqrt(1 - alpha_bar_t) * eps) / sqrt(alpha_bar_t)
        v:        x0 = sqrt(alpha_bar_t) * x_t - sqrt(1 - alpha_bar_t) * v
    """

    def __init__(self, scheduler: Any, keep_steps: set[int]):
        import functools

        self.scheduler, self.keep, self.step_no, self.latents = scheduler, keep_steps, 0, {}
        self.original = scheduler.step

        @functools.wraps(self.original)  # keeps the signature the pipeline inspects
        def step(model_output, timestep, sample, *args, **kwargs):
            kwargs["return_dict"] = True
            out = self.original(model_output, timestep, sample, *args, **kwargs)
            if self.step_no in self.keep:
                x0 = getattr(out, "pred_original_sample", None)
                if x0 is None:
                    x0 = self._x0(model_output, timestep, sample)
                self.latents[self.step_no] = x0.detach().float().cpu()  # (B, 4, h/8, w/8)
            self.step_no += 1
            return (out.prev_sample,)

        scheduler.step = step

    def _x0(self, model_output, timestep, sample):
        ab = self.scheduler.alphas_cumprod.to(sample.device)[int(timestep)].to(sample.dtype)
        if getattr(self.scheduler.config, "prediction_type", "epsilon") == "v_prediction":
            return ab.sqrt() * sample - (1 - ab).sqrt() * model_output
        return (sample - (1 - ab).sqrt() * model_output) / ab.sqrt()

    def restore(self) -> None:
        self.scheduler.step = self.original


def _decode(pipe: Any, latents: Any) -> Any:
    """Latents (B, 4, h, w) -> images (B, H, W, 3) in [0, 1], numpy."""
    import torch

    vae = (
        pipe.vae
    )  # with model CPU offload vae.device is the cpu between calls: the hook moves it to the execution device
    with torch.no_grad():
        x = vae.decode(latents.to(pipe._execution_device, vae.dtype) / vae.config.scaling_factor).sample
    return (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).float().cpu().numpy()


def _redecode_nan(pipe: Any, images: Any, latents: Any) -> Any:
    """Images that came out NaN from a half-precision VAE (fp16 overflow in its decoder), decoded again from the
    same latents by an fp32 copy of the VAE: no rerun of the denoising. Images still NaN (NaN latents) stay so."""
    import numpy as np
    import torch

    bad = [b for b in range(len(images)) if np.isnan(images[b]).any()]
    if not bad or latents is None or pipe.vae.dtype == torch.float32 or not torch.isfinite(latents[bad]).all():
        return images
    vae = pipe.vae
    vae32 = type(vae).from_config(vae.config)
    vae32.load_state_dict({k: v.float() for k, v in vae.state_dict().items()})
    device = pipe._execution_device
    with torch.no_grad():
        x = vae32.to(device).decode(latents[bad].to(device, torch.float32) / vae.config.scaling_factor).sample
    fixed = (x / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).cpu().numpy()
    del vae32
    images = images.copy()
    for i, b in enumerate(bad):
        images[b] = fixed[i]
    return images


def _metadata(
    s: ImagineSettings, job: Job, width: int, height: int, sampler: str, model: str, run: dict
) -> dict[str, str]:
    fields = {
        "Steps": s.steps,
        "Sampler": sampler,
        "CFG scale": s.guidance,
        "Seed": job.seed,
        "Size": f"{width}x{height}",
        "Model": model,
        "Version": f"genai {__version__}",
    }
    resolved = {
        **s.to_json(),
        "prompts": None,
        "prompt": job.prompt,
        "seed": job.seed,
        "index": job.index,
        "width": width,
        "height": height,
        "sampler": sampler,
        **run,
    }
    resolved.pop("prompts")
    return {
        "parameters": pngmeta.format_parameters(*_a1111_prompt_and_fields(job.prompt, s.negative, fields, run)),
        "genai": json.dumps(resolved, ensure_ascii=False),
    }


def _a1111_prompt_and_fields(prompt: str, negative: str, fields: dict, run: dict) -> tuple[str, str, dict]:
    """LoRA tags in the prompt and their hashes (genai_cli/image/lora.py); img2img's Denoising strength (img2img.py)."""
    from genai_cli.image import img2img, lora

    prompt, extra = lora.a1111_from_run(prompt, run)
    return prompt, negative, {**fields, **img2img.a1111_fields(run), **extra}


def generate(
    pipe: Any,
    s: ImagineSettings,
    jobs: Iterable[Job],
    width: int,
    height: int,
    model_label: str,
    run_info: dict[str, Any],
    on_step: Callable[[Job], None] | None = None,
) -> Iterator[ImageResult]:
    """Generate and write each job's image; yields each result as soon as its file exists."""
    import numpy as np
    import torch

    sampler = schedulers.a1111_name(pipe.scheduler)
    for batch in batches(jobs, s.batch_size):
        keep = sorted({round(x) for x in np.linspace(0, s.steps - 1, s.step_frames)}) if s.show_steps else []
        recorder = _X0Recorder(pipe.scheduler, set(keep)) if keep else None

        final: dict[str, Any] = {}

        def on_step_end(_pipe, step, timestep, tensors, batch=batch, final=final):
            final["latents"] = tensors.get("latents")  # the last step's: re-decoded in fp32 if fp16 decoding gave NaN
            if on_step is not None:
                for job in batch:
                    on_step(job)
            return tensors

        try:
            out = pipe(
                prompt=[batch[0].prompt] * len(batch),
                negative_prompt=[s.negative] * len(batch) if s.negative else None,
                num_inference_steps=s.steps,
                guidance_scale=s.guidance,
                width=width,
                height=height,
                generator=[torch.Generator("cpu").manual_seed(job.seed) for job in batch],
                output_type="np",  # (B, H, W, 3) floats in [0, 1]: NaNs are still visible here
                callback_on_step_end=on_step_end,
            )
        finally:
            if recorder is not None:
                recorder.restore()
        images = _redecode_nan(pipe, out.images, final.get("latents"))
        nsfw = getattr(out, "nsfw_content_detected", None) or [False] * len(batch)
        step_images = {k: _decode(pipe, v) for k, v in recorder.latents.items()} if recorder else {}
        for b, job in enumerate(batch):
            image = images[b]
            problems = []
            if np.isnan(image).any():
                problems.append("nan")
            elif float(image.max()) < 1 / 255:
                problems.append("black")
            if nsfw[b]:
                problems.append("nsfw")
            meta = _metadata(s, job, width, height, sampler, model_label, run_info)
            path = pngmeta.write_png(to_pil(image), s.out / file_name(job), meta, force=s.force)
            result = ImageResult(path, job, width, height, problems=problems)
            if step_images:
                frames = [to_pil(step_images[k][b]) for k in keep]
                labels = [[f"step {k + 1}/{s.steps}"] for k in keep]
                strip = make_strip(frames, labels)
                result.steps_path = pngmeta.write_png(
                    strip, path.with_name(path.stem + "-steps.png"), meta, force=s.force
                )
            yield result
