r"""Which samplers draw the built-in toy model right: every `genai imagine --scheduler` at several step counts.

    nice -n 19 .venv/bin/python scripts/toyworld/samplers.py [--model genai_cli/toyworld/data/pipeline]

Each sampler is built as genai builds it (genai_cli.image.schedulers.make, from the model's own scheduler config)
and draws 4 shape prompts x 4 seeds through the normal StableDiffusionPipeline; the shipped analyzer reads shape,
colour and background. Prints, per sampler and step count, how many of the 16 images are right on all three.
"""

from __future__ import annotations

import argparse

import numpy as np

PROMPTS = {
    "a red circle on a white background": ("circle", "red", "white"),
    "a green cross on a gray background": ("cross", "green", "gray"),
    "a yellow star on a blue background": ("star", "yellow", "blue"),
    "a purple heart on a black background": ("heart", "purple", "black"),
}


def main(argv=None) -> dict:
    import torch
    from diffusers import StableDiffusionPipeline

    from genai_cli.image import schedulers
    from genai_cli.image.loading import TOY_PIPELINE
    from genai_cli.toyworld import analyzer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=str(TOY_PIPELINE), help="a toy-world StableDiffusionPipeline folder")
    p.add_argument("--steps", default="25,50,100", help="comma-separated step counts")
    p.add_argument("--guidance", type=float, default=7.5)
    p.add_argument("--seeds", type=int, default=4, help="images per prompt")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    pipe = StableDiffusionPipeline.from_pretrained(args.model, safety_checker=None, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    own = pipe.scheduler
    read = analyzer.load()
    prompts = [p for p in PROMPTS for _ in range(args.seeds)]
    want = [PROMPTS[p] for p in prompts]
    steps = [int(s) for s in args.steps.split(",")]
    total = len(prompts)
    print(f"right of {total} (4 prompts x {args.seeds} seeds, guidance {args.guidance}); steps: {steps}")
    out = {}
    for name in [schedulers.DEFAULT, *schedulers.SCHEDULERS]:
        pipe.scheduler = own if name == schedulers.DEFAULT else schedulers.make(name, own.config)
        row = []
        for n in steps:
            gens = [torch.Generator().manual_seed(k) for _ in PROMPTS for k in range(args.seeds)]
            images = pipe(prompts, num_inference_steps=n, guidance_scale=args.guidance, generator=gens).images
            pixels = np.stack([np.asarray(im.convert("RGB")) for im in images])
            row.append(sum((v.shape, v.colour, v.background) == w for v, w in zip(read(pixels), want)))
        out[name] = row
        print(f"{name:<8} " + "  ".join(f"{n:>3} steps {r:>2}/{total}" for n, r in zip(steps, row)), flush=True)
    return out


if __name__ == "__main__":
    main()
