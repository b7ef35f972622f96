"""Benchmark: genai's convolution path against scipy.signal.correlate2d and a naive NumPy sliding window.

    .venv/bin/python scripts/bench/conv.py                 # 4096x4096 grey, 3x3 vertical-edges
    .venv/bin/python scripts/bench/conv.py --kernel sobel-x --size 2048

Same input for all: the built-in sample photo, grey, resized to SIZE x SIZE, float32 (what
`genai conv apply` convolves). Output: 'valid' cross-correlation (no padding, stride 1).
Every result is checked against scipy's before its time is reported. Time: best of --repeat
runs (the naive window: one run). scipy.ndimage.correlate is shown too, for reference.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np
import scipy
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image
from scipy import ndimage, signal

from genai_cli.conv import kernels, ops
from genai_cli.conv.images import sample_photo_path


def naive_sliding_window(x: np.ndarray, k: np.ndarray, rows_per_chunk: int = 256) -> np.ndarray:
    """The textbook version: every window materialised, multiplied by the kernel, summed.
    (In row chunks, so that the window products stay ~100 MB at 4096 wide.)"""
    kh, kw = k.shape
    out = np.empty((x.shape[0] - kh + 1, x.shape[1] - kw + 1), x.dtype)
    for start in range(0, out.shape[0], rows_per_chunk):
        stop = min(start + rows_per_chunk, out.shape[0])
        windows = sliding_window_view(x[start : stop + kh - 1], (kh, kw))  # (rows, W', kh, kw)
        out[start:stop] = (windows * k).sum(axis=(2, 3))
    return out


def best_of(fn, repeat: int) -> tuple[float, np.ndarray]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096, help="image side in pixels")
    parser.add_argument("--kernel", default="vertical-edges", help="a named kernel")
    parser.add_argument("--repeat", type=int, default=5, help="runs per method (best is kept)")
    args = parser.parse_args()

    grey = Image.open(sample_photo_path()).convert("L").resize((args.size, args.size), Image.Resampling.BICUBIC)
    x = np.asarray(grey, dtype=np.float32)  # (SIZE, SIZE)
    k = kernels.named(args.kernel).astype(np.float32)  # (3, 3)
    print(
        f"input {x.shape[0]}x{x.shape[1]} float32, kernel {args.kernel} {k.shape[0]}x{k.shape[1]}, "
        f"valid cross-correlation; numpy {np.__version__}, scipy {scipy.__version__}, "
        f"python {platform.python_version()}, {platform.machine()}"
    )

    t_scipy, ref = best_of(lambda: signal.correlate2d(x, k, mode="valid"), args.repeat)
    t_genai, ours = best_of(lambda: ops.correlate2d(x, k), args.repeat)
    t_nd, nd = best_of(lambda: ndimage.correlate(x, k, mode="constant")[1:-1, 1:-1], args.repeat)
    t_naive, naive = best_of(lambda: naive_sliding_window(x, k), 1)
    tol = 1e-3 * float(np.abs(ref).max())  # float32 sums in a different order
    for name, r in (("genai", ours), ("ndimage", nd), ("naive", naive)):
        assert r.shape == ref.shape and float(np.abs(r - ref).max()) <= tol, f"{name} disagrees with scipy"

    rows = [
        ("genai conv (ops.correlate2d)", t_genai),
        ("scipy.signal.correlate2d (anchor)", t_scipy),
        ("scipy.ndimage.correlate (reference)", t_nd),
        ("naive NumPy sliding window", t_naive),
    ]
    print(f"{'method':<38} {'seconds':>8} {'Mpixel/s':>9} {'vs genai':>9}")
    for name, t in rows:
        print(f"{name:<38} {t:8.3f} {ref.size / t / 1e6:9.1f} {t / t_genai:8.1f}x")
    print(
        f"genai is {t_scipy / t_genai:.1f}x as fast as scipy.signal.correlate2d "
        f"and {t_naive / t_genai:.1f}x as fast as the naive sliding window"
    )


if __name__ == "__main__":
    main()
