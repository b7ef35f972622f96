"""Draw the toy world's night sky at several sizes, to choose the training resolution by eye.

    .venv/bin/python scripts/toyworld/sky_grid.py docs/toy/sky-world.png 32 48 64

Rows = families (spiral, elliptical, planet, stars, nebula), columns = colours, two draws each; one
block per size, every tile scaled to 128 px (nearest neighbour, so the pixels show as they are).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from genai_cli.toyworld import render as R
from genai_cli.toyworld import sky as S
from genai_cli.toyworld.world import SKY_COLOURS, SKY_FAMILIES

TILE = 128


def block(size: int, draws: int = 2) -> np.ndarray:
    rows = []
    for i, family in enumerate(SKY_FAMILIES):
        row = []
        for j, colour in enumerate(SKY_COLOURS):
            for d in range(draws):
                img = S.render(S.SkyScene(family, colour), size, R.image_rng(size, (i * 10 + j) * 10 + d))
                big = np.asarray(Image.fromarray(img).resize((TILE, TILE), Image.Resampling.NEAREST))
                row.append(np.pad(big, ((2, 2), (2, 2), (0, 0)), constant_values=90))
        rows.append(np.concatenate(row, 1))
    return np.concatenate(rows, 0)


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/toy/sky-world.png")
    sizes = [int(s) for s in sys.argv[2:]] or [32]
    blocks = [np.pad(block(s), ((0, 12), (0, 0), (0, 0)), constant_values=255) for s in sizes]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    Image.fromarray(np.concatenate(blocks, 0)).save(tmp, format="PNG")
    os.replace(tmp, out)
    print(out)


if __name__ == "__main__":
    main()
