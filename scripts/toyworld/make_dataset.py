r"""Render the toy-world training set once, to one safetensors file (train.py reads it).

    nice -n 19 .venv/bin/python scripts/toyworld/make_dataset.py \
        --per-scene 200 --size 32 --out runs/toyworld/data-32.safetensors
    ... --sky-per-scene 600   # + 600 images of each of the 30 night-sky scenes (issue 15)

161 drawable scenes (7 shapes incl. the held-out moon x 6 colours x 4 backgrounds, minus the 7
blue-on-blue) x --per-scene images, in a seeded random order: the same arguments give the same bytes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from genai_cli.toyworld import dataset as D


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--per-scene", type=int, default=200, help="images per (shape, colour, background)")
    parser.add_argument("--size", type=int, default=32, help="image side in pixels")
    parser.add_argument(
        "--sky-per-scene", type=int, default=0, help="images per night-sky (family, colour); 0: shapes only"
    )
    parser.add_argument("--seed", type=int, default=0, help="positions, sizes, jitter and order follow from it")
    parser.add_argument("--out", type=Path, required=True, help="the .safetensors file to write")
    parser.add_argument("--force", action="store_true", help="overwrite --out if it exists")
    args = parser.parse_args()
    if args.out.exists() and not args.force:
        sys.exit(f"{args.out} exists: give --force to overwrite it")
    t0 = time.time()
    ds = D.build(
        args.per_scene,
        args.size,
        args.seed,
        sky_per_scene=args.sky_per_scene,
        progress=lambda k, n: print(f"\r{k}/{n} images", end="", file=sys.stderr, flush=True),
    )
    print(file=sys.stderr)
    D.save(ds, args.out)
    print(
        f"wrote {args.out}: {len(ds)} images {args.size}x{args.size} ({args.out.stat().st_size / 1e6:.1f} MB) "
        f"in {time.time() - t0:.1f}s"
    )


if __name__ == "__main__":
    main()
