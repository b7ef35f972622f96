"""Reconstruct the 6x6 input of the talk's convolution example (genai_cli/conv/demo.py: TALK_GRID).

    .venv/bin/python scripts/conv_demo_grid.py

The talk publishes only outputs: with the vertical-edge filter [[1, 0, -1]] * 3
(cross-correlation, stride 1, no padding) the first output row is -132 58 119 64, the
second -185 74 176 46, and 2x2 max pooling gives 74 176. Any grid of 0..255 grey levels
that satisfies those 8 linear equations reproduces them; to get a plausible one:

1. take every 6x6 patch of the built-in sample photo (scikit-learn's china.jpg, grey) and
   keep the one whose first two output rows are nearest (least squares) to the talk's;
2. change it by the smallest total amount (sum of |changes|, integers, 0..255 kept) that
   makes the two rows equal: an integer linear program (scipy.optimize.milp).

Prints the grid, its full 4x4 output and pooled map.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from scipy.optimize import Bounds, LinearConstraint, milp

from genai_cli.conv import ops
from genai_cli.conv.images import sample_photo_path
from genai_cli.conv.kernels import named

TARGET = np.array([[-132, 58, 119, 64], [-185, 74, 176, 46]], dtype=np.float64)  # (2, 4) the talk's output rows


def main() -> None:
    kernel = named("vertical-edges")  # (3, 3)
    grey = np.asarray(Image.open(sample_photo_path()).convert("L"), dtype=np.float64)  # (427, 640)
    out = ops.correlate2d(grey, kernel)  # (425, 638)
    blocks = sliding_window_view(out, (2, 4))  # (424, 635, 2, 4): output rows 0-1 of the patch at (i, j)
    dist = ((blocks - TARGET) ** 2).sum(axis=(2, 3))
    i, j = np.unravel_index(dist.argmin(), dist.shape)
    patch = grey[i : i + 6, j : j + 6]  # (6, 6)
    print(f"nearest patch at row {i}, column {j}; its first rows: {blocks[i, j].tolist()}")

    # A (8, 36): output cell (r, c) of rows 0-1 as a linear function of the 36 pixels
    a = np.zeros((8, 36))
    for r in range(2):
        for c in range(4):
            for dr in range(3):
                for dc in range(3):
                    a[r * 4 + c, (r + dr) * 6 + c + dc] += kernel[dr, dc]
    b = TARGET.ravel() - a @ patch.ravel()  # what the change must add
    # change = up - down, both >= 0 integers; minimise sum(up + down)
    res = milp(
        c=np.ones(72),
        constraints=[
            LinearConstraint(np.hstack([a, -a]), b, b),
            LinearConstraint(np.hstack([np.eye(36), -np.eye(36)]), -patch.ravel(), 255 - patch.ravel()),
        ],
        integrality=np.ones(72),
        bounds=Bounds(0, 255),
    )
    assert res.success, res.message
    change = np.round(res.x[:36] - res.x[36:]).reshape(6, 6)
    grid = (patch + change).astype(int)
    print(f"changed {int((change != 0).sum())} pixels by {int(np.abs(change).sum())} grey levels in total")
    print("grid:\n", grid)
    feature = ops.correlate2d(grid, kernel)
    print("output:\n", feature.astype(int))
    print("max pool 2x2:\n", ops.pool2d(feature, 2, "max").astype(int))


if __name__ == "__main__":
    main()
