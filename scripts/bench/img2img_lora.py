#!/usr/bin/env python
"""Benchmark: genai's img2img and LoRA paths against the same calls written directly with diffusers.

    python scripts/bench/img2img_lora.py                  # the built-in toy model
    python scripts/bench/img2img_lora.py --model tiny     # the tiny random pipeline (made here)

Per image, models already loaded, in one process, interleaved (A B A B ...) so that a busy machine
slows both alike:
    img2img  direct: StableDiffusionImg2ImgPipeline(...)(prompt, image=init, strength=0.6, ...)
             genai:  genai_cli.image.img2img.generate (from_pipe pipeline, bar callback, NaN checks,
                     PNG with its metadata written atomically)
    LoRA     direct: StableDiffusionPipeline + load_lora_weights(file) + set_adapters(weight 0.8)
             genai:  genai_cli.image.lora.load_into + genai_cli.image.generate.generate
The LoRA is made here (rank 4 on the U-Net's attention, a few peft optimiser steps, diffusers' saver).
Prints medians and the ratio genai / direct (target: per image <= 1.05).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

PROMPT = "a blue circle on a white background"


def make_lora(model: Path, folder: Path) -> Path:
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = StableDiffusionPipeline.from_pretrained(str(model), safety_checker=None, requires_safety_checker=False)
    unet = pipe.unet
    unet.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian", target_modules=["to_k", "to_q", "to_v", "to_out.0"])
    )
    opt = torch.optim.AdamW([p for p in unet.parameters() if p.requires_grad], lr=1e-2)
    c = unet.config
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, c.in_channels, c.sample_size, c.sample_size, generator=g)
    cond = torch.randn(1, 8, c.cross_attention_dim, generator=g)
    for _ in range(3):
        unet(x, torch.tensor([500]), cond).sample.square().mean().backward()
        opt.step()
        opt.zero_grad()
    StableDiffusionPipeline.save_lora_weights(
        str(folder),
        unet_lora_layers=convert_state_dict_to_diffusers(get_peft_model_state_dict(unet)),
        safe_serialization=True,
    )
    return folder / "pytorch_lora_weights.safetensors"


def run(model: Path, steps: int, rounds: int, tmp: Path) -> dict[str, tuple[list[float], list[float]]]:
    from genai_cli.image import loading

    loading.quiet_libraries()
    import numpy as np
    import torch
    from diffusers import StableDiffusionImg2ImgPipeline, StableDiffusionPipeline
    from PIL import Image

    from genai_cli import console
    from genai_cli.image import generate, img2img, lora
    from genai_cli.image.settings import ImagineSettings, check_inputs, check_size

    lora_file = make_lora(model, tmp)
    source = loading.locate(str(model))
    s = check_inputs(ImagineSettings(prompts=[PROMPT], model=str(model), steps=steps, out=tmp / "imgs", seed=0))
    width, height = check_size(s, loading.size_limits(source))
    init_path = tmp / "init.png"
    from genai_cli.toyworld.render import render
    from genai_cli.toyworld.world import Scene

    Image.fromarray(render(Scene("circle", "red", "white"), width, np.random.default_rng(0))).save(init_path)
    init_image = Image.open(init_path).convert("RGB")
    kw = dict(use_safetensors=True, safety_checker=None, requires_safety_checker=False)

    # img2img: the anchor, and genai's own path on a separate copy of the same weights
    direct_i2i = StableDiffusionImg2ImgPipeline.from_pretrained(str(model), **kw)
    direct_i2i.set_progress_bar_config(disable=True)
    init = img2img.read(init_path, img2img.check_strength(0.6, steps))
    img2img.fit(init, width, height)
    genai_i2i = img2img.pipeline(generate.prepare(loading.load_pipeline(source, torch.float32), s, torch.device("cpu")))
    # LoRA
    direct_lora = StableDiffusionPipeline.from_pretrained(str(model), **kw)
    direct_lora.set_progress_bar_config(disable=True)
    direct_lora.load_lora_weights(str(lora_file), adapter_name="style")
    direct_lora.set_adapters(["style"], adapter_weights=[0.8])
    genai_lora = loading.load_pipeline(source, torch.float32)
    specs = lora.parse_specs([f"{lora_file}:0.8"])
    lora.load_into(genai_lora, specs)
    genai_lora = generate.prepare(genai_lora, s, torch.device("cpu"))
    run_info = {"model_path": str(model), "loras": [x.to_json() for x in specs]}

    times = {"img2img": ([], []), "lora": ([], [])}
    n_i2i = img2img.steps_run(steps, 0.6)
    with console.progress("genai", total=(rounds + 1) * (steps + n_i2i)) as advance:
        for k in range(rounds + 1):  # round 0 warms up and is not counted
            t0 = time.perf_counter()
            direct_i2i(
                PROMPT,
                image=init_image,
                strength=0.6,
                num_inference_steps=steps,
                generator=torch.Generator("cpu").manual_seed(k),
            ).images[0]
            t1 = time.perf_counter()
            jobs = generate.plan_jobs([PROMPT], 1, k, 1000 + k)
            for _ in img2img.generate(
                genai_i2i, s, jobs, width, height, "bench", {**run_info, "loras": []}, lambda job: advance(1), init=init
            ):
                pass
            t2 = time.perf_counter()
            direct_lora(PROMPT, num_inference_steps=steps, generator=torch.Generator("cpu").manual_seed(k)).images[0]
            t3 = time.perf_counter()
            jobs = generate.plan_jobs([PROMPT], 1, k, 2000 + k)
            for _ in generate.generate(genai_lora, s, jobs, width, height, "bench", run_info, lambda job: advance(1)):
                pass
            t4 = time.perf_counter()
            if k:
                times["img2img"][0].append(t1 - t0)
                times["img2img"][1].append(t2 - t1)
                times["lora"][0].append(t3 - t2)
                times["lora"][1].append(t4 - t3)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="toy", help="toy (built in), tiny (made here) or a diffusers folder")
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=8, help="images timed per side and case (after one warm-up)")
    ap.add_argument("--threads", type=int, default=1, help="CPU threads (default 1: see BENCHMARKS.md, image)")
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.model == "toy":
            from genai_cli.image.loading import toy

            model = toy().path
        elif args.model == "tiny":
            from genai_cli.image.loading import quiet_libraries
            from genai_cli.image.tiny import save_tiny_pipeline

            quiet_libraries()
            model = save_tiny_pipeline(tmp / "tiny-sd")
        else:
            model = Path(args.model)
        times = run(model, args.steps, args.rounds, tmp)
        print(
            f"model {args.model}, cpu fp32, {args.steps} steps, {args.rounds} images per side, "
            f"{args.threads} CPU thread(s)"
        )
        for case, (d, g) in times.items():
            md, mg = statistics.median(d), statistics.median(g)
            print(
                f"{case:8} direct diffusers median {md * 1000:8.1f} ms  genai median {mg * 1000:8.1f} ms  "
                f"ratio genai/direct {mg / md:.3f}  (target <= 1.05)"
            )


if __name__ == "__main__":
    main()
