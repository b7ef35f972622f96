"""Draw the toy world's vocabulary as one picture: rows = shapes (moon, held out, last), columns = colours.

.venv/bin/python scripts/toyworld/world_grid.py docs/toy/toyworld.png
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from genai_cli.toyworld import render as R
from genai_cli.toyworld.world import ALL_SHAPES, BACKGROUNDS, COLOURS, Scene


def main() -> None:
    out = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/toy/toyworld.png")
    backgrounds = list(BACKGROUNDS)
    rows = []
    for i, shape in enumerate(ALL_SHAPES):
        row = []
        for j, colour in enumerate(COLOURS):
            bg = backgrounds[(i + j) % len(backgrounds)]
            bg = bg if bg != colour else backgrounds[(i + j + 1) % len(backgrounds)]
            row.append(
                np.pad(
                    R.render(Scene(shape, colour, bg), 64, R.image_rng(0, i * 10 + j)),
                    ((2, 2), (2, 2), (0, 0)),
                    constant_values=255,
                )
            )
        rows.append(np.concatenate(row, 1))
    img = Image.fromarray(np.concatenate(rows, 0)).resize((6 * 68 * 2, 7 * 68 * 2), Image.Resampling.NEAREST)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    img.save(tmp, format="PNG")
    os.replace(tmp, out)
    print(out)


if __name__ == "__main__":
    main()
