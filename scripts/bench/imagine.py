#!/usr/bin/env python
"""Benchmark: `genai imagine` against the same generation written directly with diffusers.

    python scripts/bench/imagine.py                      # the tiny pipeline (made here, random weights)
    python scripts/bench/imagine.py --model PATH --device cuda --precision fp16

Per image, model already loaded, in one process, interleaved (A B A B ...) so that a busy
machine slows both alike:
    direct  StableDiffusionPipeline(...)(prompt, num_inference_steps=25, generator=...)
    genai   genai's own path: scheduler/bar set-up, the rich progress bar driven by
            callback_on_step_end, NaN checks, and the PNG with its metadata written atomically
Whole command, each a fresh process, same images:
    direct  python -c 'import diffusers; load; N x pipe(...); save PNGs'
    genai   genai imagine --model ... --n N
Prints medians and the ratio genai / direct (target: per image <= 1.05).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT = "a red fox in the snow"


def per_image(
    model: Path, device: str, precision: str, steps: int, rounds: int, out: Path
) -> tuple[list[float], list[float]]:
    from genai_cli.image import loading

    loading.quiet_libraries()  # before diffusers pulls in transformers' image processors
    import torch
    from diffusers import StableDiffusionPipeline

    from genai_cli import console
    from genai_cli.image.run import imagine
    from genai_cli.image.settings import ImagineSettings

    dtype = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}[precision]
    # the anchor: plain diffusers, as its documentation writes it
    direct = StableDiffusionPipeline.from_pretrained(
        str(model),
        **loading._dtype_kwarg(dtype),
        use_safetensors=True,
        safety_checker=None,
        requires_safety_checker=False,
    ).to(device)
    direct.set_progress_bar_config(disable=True)
    # genai: the command's own core (genai_cli/image/run.py), on a separate copy of the same weights. Its results
    # come lazily, one image per next(): the first call also checks the inputs and loads the pipeline (round 0, not
    # counted); image k gets seed k, as the direct side's generator does.
    s = ImagineSettings(prompts=[PROMPT], model=str(model), steps=steps, out=out, seed=0, n=rounds + 1)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    t_direct, t_genai = [], []
    # one bar for the whole run, as `genai imagine` has (its refresh thread runs during both sides alike)
    with console.progress("genai", total=(rounds + 1) * steps) as advance:
        results = imagine(s, device=device, precision=precision, on_progress=lambda n=1, total=None: advance(n))
        for k in range(rounds + 1):  # round 0 warms both up and is not counted
            sync()
            t0 = time.perf_counter()
            direct(PROMPT, num_inference_steps=steps, generator=torch.Generator("cpu").manual_seed(k)).images[0]
            sync()
            t1 = time.perf_counter()
            assert next(results).job.seed == k
            sync()
            t2 = time.perf_counter()
            if k:
                t_direct.append(t1 - t0)
                t_genai.append(t2 - t1)
        for _ in results:  # the run's end (NaN accounting)
            pass
    return t_direct, t_genai


DIRECT_SCRIPT = (
    """
import sys, torch
from diffusers import StableDiffusionPipeline
model, device, n, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(sys.argv[5], torch.float32)
pipe = StableDiffusionPipeline.from_pretrained(model, torch_dtype=dtype, use_safetensors=True, safety_checker=None,
                                               requires_safety_checker=False).to(device)
pipe.set_progress_bar_config(disable=True)
for k in range(n):
    pipe(%r, num_inference_steps=steps, """
    """generator=torch.Generator("cpu").manual_seed(k)).images[0].save(f"{sys.argv[6]}/{k}.png")
""" % PROMPT
)


def whole_command(model: Path, device: str, precision: str, steps: int, n: int, out: Path) -> tuple[float, float]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    (out / "direct").mkdir()
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", DIRECT_SCRIPT, str(model), device, str(n), str(steps), precision, str(out / "direct")],
        check=True,
        env=env,
        stderr=subprocess.DEVNULL,
    )
    t1 = time.perf_counter()
    genai = Path(sys.executable).with_name("genai")
    subprocess.run(
        [
            str(genai),
            "imagine",
            "--model",
            str(model),
            "--n",
            str(n),
            "--steps",
            str(steps),
            "--seed",
            "0",
            "--device",
            device,
            "--precision",
            precision,
            "-o",
            str(out / "genai"),
            PROMPT,
        ],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t2 = time.perf_counter()
    return t1 - t0, t2 - t1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, help="a diffusers folder (default: the tiny pipeline, made in a temp folder)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", default="fp32", choices=["fp32", "fp16", "bf16"])
    ap.add_argument("--steps", type=int, default=25)
    ap.add_argument("--rounds", type=int, default=12, help="images timed per side (after one warm-up)")
    ap.add_argument("--n", type=int, default=8, help="images in the whole-command runs")
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="CPU threads per process, both sides (default 1: on a small shared machine, more threads spin "
        "against each other and make timings noise)",
    )
    args = ap.parse_args()
    if args.threads:
        os.environ["OMP_NUM_THREADS"] = str(args.threads)  # the whole-command subprocesses too
        import torch

        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = args.model
        if model is None:
            from genai_cli.image.loading import quiet_libraries
            from genai_cli.image.tiny import save_tiny_pipeline

            quiet_libraries()
            model = save_tiny_pipeline(tmp / "tiny-sd")
        (tmp / "imgs").mkdir()
        d, g = per_image(model, args.device, args.precision, args.steps, args.rounds, tmp / "imgs")
        md, mg = statistics.median(d), statistics.median(g)
        print(
            f"model {model.name}, {args.device} {args.precision}, {args.steps} steps, {args.rounds} images per side, "
            f"{args.threads or 'default'} CPU thread(s)"
        )
        print(f"per image  direct diffusers  median {md * 1000:8.1f} ms  (min {min(d) * 1000:.1f})")
        print(f"per image  genai imagine     median {mg * 1000:8.1f} ms  (min {min(g) * 1000:.1f})")
        print(f"per image  ratio genai/direct  {mg / md:.3f}  (target <= 1.05)")
        wd, wg = whole_command(model, args.device, args.precision, args.steps, args.n, tmp)
        print(
            f"whole command, {args.n} images: direct script {wd:.1f} s, genai imagine {wg:.1f} s, ratio {wg / wd:.2f}"
        )


if __name__ == "__main__":
    main()
