"""Kernels: named ones, and kernels read from a file or a "1,0,-1;1,0,-1;1,0,-1" string.

All are used by cross-correlation (no flip), as in CNNs and in the talk. Signs:
vertical-edges and horizontal-edges follow the talk (bright-to-dark, left to right or
top to bottom, is positive); sobel-x and sobel-y are derivatives (brighter to the right
or downwards is positive), as scipy.ndimage.sobel.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from genai_cli.errors import UsageError, shorten

KERNELS: dict[str, tuple[list[list[float]], str]] = {
    "vertical-edges": ([[1, 0, -1], [1, 0, -1], [1, 0, -1]], "the talk's filter: bright left, dark right is positive"),
    "horizontal-edges": ([[1, 1, 1], [0, 0, 0], [-1, -1, -1]], "bright above, dark below is positive"),
    "sobel-x": ([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], "horizontal derivative: brighter to the right is positive"),
    "sobel-y": ([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], "vertical derivative: brighter downwards is positive"),
    "laplacian": (
        [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
        "second derivative: edges in every direction, zero on flat areas",
    ),
    "sharpen": ([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], "the image plus its negative Laplacian"),
    "box-blur": ([[1 / 9] * 3] * 3, "mean of the 3x3 neighbourhood"),
    "gaussian-blur": (
        [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
        "binomial 3x3 approximation of a Gaussian",
    ),
    "emboss": ([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], "relief lit from the top left"),
}


def fmt_value(v: float) -> str:
    """A kernel value for people: 1 -> "1", 0.0625 -> "1/16", 0.3 -> "3/10", pi -> "3.142"."""
    from fractions import Fraction

    v = float(v)
    if v.is_integer():
        return str(int(v))
    f = Fraction(v).limit_denominator(100)
    return f"{f.numerator}/{f.denominator}" if abs(float(f) - v) < 1e-12 else f"{v:.4g}"


def named(name: str) -> np.ndarray:
    """A named kernel as float64 (kh, kw)."""
    return np.array(KERNELS[name][0], dtype=np.float64)


def parse_values(text: str, source: str = "--kernel-values") -> np.ndarray:
    """ "1,0,-1;1,0,-1;1,0,-1" (rows separated by ';' or newlines, values by ',' or spaces) -> (kh, kw)."""
    rows = [r for r in (part.strip() for part in text.replace("\n", ";").split(";")) if r]
    table = [[v for v in row.replace(",", " ").split()] for row in rows]
    return _to_kernel(table, source)


def load_file(path: Path) -> np.ndarray:
    """A kernel from YAML (a list of rows, or a mapping with a `kernel:` list of rows) or CSV.
    At most limits.MAX_KERNEL_FILE_BYTES; YAML is read with the config reader's depth and alias limits."""
    from genai_cli.conv.limits import MAX_KERNEL_FILE_BYTES
    from genai_cli.files import require_regular_file

    require_regular_file(path, "kernel")
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_KERNEL_FILE_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read kernel file {path}: {e.strerror}") from None
    if len(raw) > MAX_KERNEL_FILE_BYTES:
        raise UsageError(f"kernel file {path} is larger than {MAX_KERNEL_FILE_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"kernel file {path} is not UTF-8 text") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        from genai_cli.config import parse_yaml

        data = parse_yaml(text, f"kernel file {path}")
        if isinstance(data, dict):
            if "kernel" not in data:
                raise UsageError(f"kernel file {path}: a mapping needs a `kernel:` key with a list of rows")
            data = data["kernel"]
        if not isinstance(data, list) or not all(isinstance(row, list) for row in data):
            raise UsageError(f"kernel file {path}: expected a list of rows, like [[1, 0, -1], [1, 0, -1], [1, 0, -1]]")
        return _to_kernel(data, str(path))
    # CSV (or any plain text): one row per line, values separated by commas or spaces; '#' starts a comment
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return _to_kernel([line.replace(",", " ").split() for line in lines if line], str(path))


def resolve(kernel: str | None, values: str | None) -> tuple[np.ndarray, str]:
    """--kernel NAME|FILE or --kernel-values "..." -> (kernel (kh, kw), a label for titles and file names)."""
    if kernel is not None and values is not None:
        raise UsageError("give either --kernel or --kernel-values, not both")
    if values is not None:
        return parse_values(values), "custom"
    assert kernel
    if kernel in KERNELS:
        return named(kernel), kernel
    path = Path(kernel).expanduser()
    try:
        exists = path.exists()
    except OSError:  # a name too long for the file system, ...
        exists = False
    if exists:  # a folder or a FIFO is refused by load_file, naming it
        return load_file(path), path.stem
    raise UsageError(
        f"unknown kernel {shorten(kernel)}: not a named kernel and not a file",
        hint="named kernels: " + ", ".join(KERNELS) + " (`genai conv kernels` shows them)",
    )


def _to_kernel(table: list, source: str) -> np.ndarray:
    if not table or not all(len(row) for row in table):
        raise UsageError(f"kernel from {source} is empty", hint='write rows of numbers, e.g. "1,0,-1;1,0,-1;1,0,-1"')
    widths = {len(row) for row in table}
    from genai_cli.conv.limits import MAX_KERNEL_SIDE

    if len(table) > MAX_KERNEL_SIDE or max(widths) > MAX_KERNEL_SIDE:
        raise UsageError(
            f"kernel from {source} is {len(table)}x{max(widths)}: a kernel has at most"
            f" {MAX_KERNEL_SIDE} rows and columns"
        )
    if len(widths) != 1:
        lengths = ", ".join(str(len(row)) for row in table)
        raise UsageError(
            f"kernel from {source} is not rectangular: its rows have {lengths} values",
            hint="every row needs the same number of values",
        )
    out = np.empty((len(table), widths.pop()), dtype=np.float64)
    for i, row in enumerate(table):
        for j, value in enumerate(row):
            try:
                number = float(value) if not isinstance(value, bool) else math.nan
            except (TypeError, ValueError):
                number = math.nan
            if not math.isfinite(number):
                raise UsageError(
                    f"kernel from {source}: {shorten(value)} (row {i + 1}, column {j + 1}) is not a finite number"
                )
            out[i, j] = number
    return out
