#!/usr/bin/env python
"""Write a tiny Stable Diffusion pipeline (random weights, fixed seed) as a diffusers folder.

    python scripts/make_tiny_pipeline.py tiny-sd
    genai imagine --model tiny-sd "a red fox in the snow"

It has the real architecture (CLIP text encoder, U-Net, VAE, DDIM scheduler) at toy width,
so every genai image command runs on it offline in about a second. Its images are noise-like,
because its weights are random: it shows the machinery, not a trained model.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path, help="where to write the pipeline (must not exist, unless --force)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights (default 0)")
    ap.add_argument("--force", action="store_true", help="write into an existing folder")
    args = ap.parse_args()
    if args.folder.exists() and not args.force:
        sys.exit(f"error: {args.folder} exists (use --force to write into it)")
    from genai_cli.image.loading import quiet_libraries
    from genai_cli.image.tiny import save_tiny_pipeline

    quiet_libraries()
    save_tiny_pipeline(args.folder, seed=args.seed)
    print(args.folder)


if __name__ == "__main__":
    main()
