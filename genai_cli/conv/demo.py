"""The talk's 6x6 example: a grid of pixel values, the vertical-edge filter, 2x2 max pooling.

The talk shows only the outputs: first row -132 58 119 64, second row -185 74 176 46,
pooled 74 176. The input grid below was RECONSTRUCTED to reproduce exactly those
published numbers: it is the 6x6 grey patch of the built-in sample photo (china.jpg at
row 132, column 231) whose first two output rows come closest to the talk's, then changed
by the smallest total amount (84 grey levels over 8 pixels, an integer linear program)
that makes them equal. scripts/conv_demo_grid.py redoes this. The last two output rows
and the second pooled row are simply what this grid gives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genai_cli.conv import ops
from genai_cli.conv.kernels import named

# (6, 6) grey levels 0..255
TALK_GRID = np.array(
    [
        [119, 166, 148, 117, 120, 107],
        [106, 158, 156, 158, 118, 127],
        [106, 151, 159, 142, 106, 119],
        [121, 191, 203, 126, 118, 134],
        [69, 66, 48, 68, 99, 82],
        [57, 54, 60, 55, 49, 50],
    ],
    dtype=np.int64,
)
TALK_KERNEL = "vertical-edges"  # [[1, 0, -1]] * 3
TALK_OUTPUT_ROWS = [[-132, 58, 119, 64], [-185, 74, 176, 46]]  # published in the talk
TALK_POOLED_ROW = [74, 176]  # published in the talk


@dataclass
class DemoResult:
    image: np.ndarray  # (H, W)
    kernel: np.ndarray  # (kh, kw)
    feature: np.ndarray  # (H', W')
    pooled: np.ndarray  # (H'', W'')
    stride: int
    padding: int
    pool: str
    pool_size: int
    sizes: list[ops.SizeExplanation]  # conv height, conv width, pool height, pool width

    def to_json(self) -> dict:
        as_list = lambda a: [[_num(v) for v in row] for row in a]  # noqa: E731
        return {
            "input": as_list(self.image),
            "kernel": as_list(self.kernel),
            "stride": self.stride,
            "padding": self.padding,
            "feature_map": as_list(self.feature),
            "pool": self.pool,
            "pool_size": self.pool_size,
            "pooled": as_list(self.pooled),
            "sizes": [s.text() for s in self.sizes],
        }


def run(
    stride: int = 1,
    padding: int = 0,
    pool: str = "max",
    pool_size: int = 2,
    image: np.ndarray | None = None,
    kernel: np.ndarray | None = None,
) -> DemoResult:
    image = TALK_GRID if image is None else image
    kernel = named(TALK_KERNEL) if kernel is None else kernel
    feature = ops.correlate2d(image, kernel, stride=stride, padding=padding)  # (4, 4) for the talk
    pooled = ops.pool2d(feature, pool_size, pool)  # (2, 2)
    sizes = [
        ops.SizeExplanation("conv height", image.shape[0], kernel.shape[0], padding, stride),
        ops.SizeExplanation("conv width", image.shape[1], kernel.shape[1], padding, stride),
        ops.SizeExplanation("pool height", feature.shape[0], pool_size, 0, pool_size),
        ops.SizeExplanation("pool width", feature.shape[1], pool_size, 0, pool_size),
    ]
    return DemoResult(image, kernel, feature, pooled, stride, padding, pool, pool_size, sizes)


@dataclass
class CellExplanation:
    row: int
    col: int
    window: np.ndarray  # (kh, kw) input values under the kernel (padding included)
    kernel: np.ndarray  # (kh, kw)
    products: np.ndarray  # (kh, kw) window * kernel
    total: float  # sum of products == feature[row, col]

    def to_json(self) -> dict:
        as_list = lambda a: [[_num(v) for v in row] for row in a]  # noqa: E731
        return {
            "row": self.row,
            "col": self.col,
            "window": as_list(self.window),
            "kernel": as_list(self.kernel),
            "products": as_list(self.products),
            "sum": _num(self.total),
        }


def explain_cell(result: DemoResult, row: int, col: int) -> CellExplanation:
    from genai_cli.errors import UsageError

    oh, ow = result.feature.shape
    if not (0 <= row < oh and 0 <= col < ow):
        raise UsageError(
            f"--explain {row} {col} is outside the {oh}x{ow} output",
            hint=f"rows 0..{oh - 1}, columns 0..{ow - 1} (counted from 0)",
        )
    win = ops.window(result.image, result.kernel.shape, row, col, result.stride, result.padding)
    products = win * result.kernel
    return CellExplanation(row, col, win, result.kernel, products, float(products.sum()))


def _num(v) -> int | float:
    """Whole numbers as int (so -132.0 prints as -132), others as float."""
    f = float(v)
    return int(f) if f.is_integer() else round(f, 6)
