#!/usr/bin/env python
"""Write a small random LoRA for the built-in toy model, to try `--lora` offline (docs/imagine.md uses it).

    python scripts/make_toy_lora.py style.safetensors
    genai imagine --model toy "a red circle on a white background" --lora style.safetensors:0.8

A rank-4 LoRA on the toy U-Net's attention projections (to_q, to_k, to_v, to_out.0), in diffusers' layout
(unet.<module>.lora.down/up.weight, as save_lora_weights writes it). Its numbers are drawn from a seeded
torch generator, not trained: the file (and so its hash in the image's recipe) is the same bit for bit on
every machine. It changes the pictures without teaching anything: it shows the machinery. The module names
and sizes are read from the toy U-Net's safetensors header, so nothing is loaded or run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RANK = 4
PROJECTIONS = ("to_q.weight", "to_k.weight", "to_v.weight", "to_out.0.weight")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=Path, help="the .safetensors file to write (must not exist, unless --force)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = ap.parse_args()
    if args.file.suffix != ".safetensors":
        sys.exit(f"error: {args.file} must end in .safetensors")
    if args.file.exists() and not args.force:
        sys.exit(f"error: {args.file} exists (use --force to overwrite it)")
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from genai_cli.image import loading

    unet = loading.TOY_PIPELINE / "unet" / "diffusion_pytorch_model.safetensors"
    with safe_open(str(unet), "pt") as f:
        shapes = {k: f.get_slice(k).get_shape() for k in sorted(f.keys()) if k.endswith(PROJECTIONS)}
    g = torch.Generator().manual_seed(args.seed)
    layers = {}
    for key, (rows, cols) in shapes.items():
        name = "unet." + key.removesuffix(".weight")
        layers[f"{name}.lora.down.weight"] = torch.randn(RANK, cols, generator=g) / RANK  # peft's gaussian init
        layers[f"{name}.lora.up.weight"] = torch.randn(rows, RANK, generator=g) * 0.03  # as a few updates leave it
    args.file.parent.mkdir(parents=True, exist_ok=True)
    save_file(layers, str(args.file), metadata={"format": "pt"})
    print(args.file)


if __name__ == "__main__":
    main()
