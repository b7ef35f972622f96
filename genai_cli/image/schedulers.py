"""Samplers by name: the diffusers scheduler class, its A1111 name, and how to build it.

Each is made with `from_config(pipe.scheduler.config)`, so it keeps the model's noise
schedule (betas, number of training steps, prediction type) and only the sampling rule changes.
"""

from __future__ import annotations

from typing import Any

from genai_cli.errors import UsageError, shorten

# name -> (diffusers class, extra config, the name AUTOMATIC1111 writes in `Sampler:`)
# DDIM's clip_sample defaults to True (pixel-space models: x0 clipped to -1..1). Latents are not in -1..1, so a
# model whose scheduler config does not say otherwise (the toy model ships DPM++'s, which has no such key) drew
# noise; diffusers' StableDiffusionPipeline makes the same correction when it is built with such a DDIM.
SCHEDULERS: dict[str, tuple[str, dict[str, Any], str]] = {
    "ddim": ("DDIMScheduler", {"clip_sample": False}, "DDIM"),
    "euler": ("EulerDiscreteScheduler", {}, "Euler"),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}, "Euler a"),
    "dpm++2m": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}, "DPM++ 2M"),
    "lms": ("LMSDiscreteScheduler", {}, "LMS"),
    "pndm": ("PNDMScheduler", {"skip_prk_steps": True}, "PLMS"),
}
DEFAULT = "default"  # keep the scheduler the model ships with

# the A1111 sampler name of a model's own scheduler class
_BY_CLASS = {cls: a1111 for cls, _, a1111 in SCHEDULERS.values()}


def check_name(name: str) -> str:
    """The canonical scheduler name, or a UsageError that lists the valid ones."""
    key = (name or "").strip().lower().replace("_", "-").replace(" ", "")
    key = {
        "euler-ancestral": "euler-a",
        "eulera": "euler-a",
        "dpmpp2m": "dpm++2m",
        "dpm++-2m": "dpm++2m",
        "plms": "pndm",
    }.get(key, key)
    if key == DEFAULT or key in SCHEDULERS:
        return key
    raise UsageError(f"unknown scheduler {shorten(name)}", hint="use one of: " + ", ".join([DEFAULT, *SCHEDULERS]))


def make(name: str, config: Any):
    """A scheduler `name` built from another scheduler's config (its noise schedule)."""
    import diffusers

    cls_name, extra, _ = SCHEDULERS[check_name(name)]
    return getattr(diffusers, cls_name).from_config(config, **extra)


def a1111_name(scheduler: Any) -> str:
    """What AUTOMATIC1111 would call this scheduler in its `Sampler:` field."""
    cls = type(scheduler).__name__
    if cls == "DPMSolverMultistepScheduler" and getattr(scheduler.config, "algorithm_type", "") != "dpmsolver++":
        return "DPM2M"
    return _BY_CLASS.get(cls, cls)
