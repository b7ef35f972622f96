"""Cross-correlation and pooling in NumPy, with the same semantics as torch.

What CNNs call "convolution" is cross-correlation: the kernel is slid over the
image without flipping, and each output cell is the sum of the element-wise
products of the kernel and the window under it. `torch.nn.functional.conv2d`
does exactly this, and so does everything here (zero padding, floor-mode sizes).

Speed: instead of materialising every window (the textbook sliding window), the
output is accumulated from one shifted, strided view of the input per kernel
element: kh*kw fused multiply-adds over the output, each a contiguous-ish pass
that NumPy vectorises well. Zero kernel entries are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from genai_cli.conv.limits import MAX_KERNEL_SIDE, MAX_MULTIPLY_ADDS, MAX_PADDING, MAX_POOL_SIZE, MAX_STRIDE
from genai_cli.errors import UsageError


def output_size(n: int, k: int, padding: int = 0, stride: int = 1) -> int:
    """floor((n + 2p - k) / s) + 1: cells along one axis after a k-wide window with stride s."""
    return (n + 2 * padding - k) // stride + 1


@dataclass(frozen=True)
class SizeExplanation:
    axis: str  # "height" or "width"
    n: int  # input size along the axis
    k: int  # window (kernel or pool) size
    padding: int
    stride: int

    @property
    def out(self) -> int:
        return output_size(self.n, self.k, self.padding, self.stride)

    def text(self) -> str:
        return f"{self.axis}: floor(({self.n} + 2*{self.padding} - {self.k}) / {self.stride}) + 1 = {self.out}"


def check_conv_args(shape: tuple[int, int], kernel_shape: tuple[int, int], stride: int, padding: int) -> None:
    """Validate before computing; every error names the bad value (exit code 2)."""
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or not 1 <= stride <= MAX_STRIDE:
        raise UsageError(
            f"stride must be an integer from 1 to {MAX_STRIDE}, got {stride!r}", hint=f"use --stride 1 to {MAX_STRIDE}"
        )
    if isinstance(padding, bool) or not isinstance(padding, (int, np.integer)) or not 0 <= padding <= MAX_PADDING:
        raise UsageError(
            f"padding must be an integer from 0 to {MAX_PADDING}, got {padding!r}",
            hint=f"use --padding 0 to {MAX_PADDING}",
        )
    kh, kw = kernel_shape
    check_kernel_shape(kh, kw)
    h, w = shape
    if kh > h + 2 * padding or kw > w + 2 * padding:
        raise UsageError(
            f"kernel {kh}x{kw} is larger than the padded image {h + 2 * padding}x{w + 2 * padding}"
            f" ({h}x{w} with padding {padding})",
            hint="use a smaller kernel, a larger image or more --padding",
        )


def check_kernel_shape(kh: int, kw: int, source: str = "kernel") -> None:
    if not (1 <= kh <= MAX_KERNEL_SIDE and 1 <= kw <= MAX_KERNEL_SIDE):
        raise UsageError(f"{source} is {kh}x{kw}: a kernel has 1 to {MAX_KERNEL_SIDE} rows and columns")


def check_work(channels: int, shape: tuple[int, int], kernel_shape: tuple[int, int], stride: int, padding: int) -> int:
    """Multiply-adds of convolving `channels` planes of `shape`; refused above MAX_MULTIPLY_ADDS."""
    kh, kw = kernel_shape
    oh = output_size(shape[0], kh, padding, stride)
    ow = output_size(shape[1], kw, padding, stride)
    work = channels * oh * ow * kh * kw
    if work > MAX_MULTIPLY_ADDS:
        raise UsageError(
            f"a {kh}x{kw} kernel over {channels} x {shape[0]}x{shape[1]} pixels (padding {padding}, stride {stride})"
            f" is {work:,} multiply-adds, over the limit of {MAX_MULTIPLY_ADDS:,}",
            hint="use a smaller image or kernel, or a larger --stride",
        )
    return work


def check_pool_args(shape: tuple[int, int], size: int) -> None:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 1 <= size <= MAX_POOL_SIZE:
        raise UsageError(
            f"pool size must be an integer from 1 to {MAX_POOL_SIZE}, got {size!r}", hint="use --pool-size 2"
        )
    if size > shape[0] or size > shape[1]:
        raise UsageError(
            f"pool size {size} is larger than the feature map {shape[0]}x{shape[1]}",
            hint="use a smaller --pool-size, or less --stride",
        )


def pad2d(x: np.ndarray, padding: int) -> np.ndarray:
    """Zero padding on the last two axes."""
    if padding == 0:
        return x
    width = [(0, 0)] * (x.ndim - 2) + [(padding, padding), (padding, padding)]
    return np.pad(x, width)


def correlate2d(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    """Cross-correlate a 2-D image with a 2-D kernel; torch.nn.functional.conv2d semantics.

    image (H, W), kernel (kh, kw) -> (H', W') with H' = floor((H + 2p - kh) / s) + 1.
    Float inputs keep their dtype (float32 stays float32); integers are computed in float64.
    """
    image = np.asarray(image)
    kernel = np.asarray(kernel)
    if image.ndim != 2 or kernel.ndim != 2:
        raise ValueError(f"correlate2d wants 2-D image and kernel, got {image.shape} and {kernel.shape}")
    check_conv_args(image.shape, kernel.shape, stride, padding)
    dtype = np.result_type(image.dtype, kernel.dtype, np.float32)
    x = pad2d(image.astype(dtype, copy=False), padding)  # (H+2p, W+2p)
    k = kernel.astype(dtype, copy=False)
    kh, kw = k.shape
    oh = output_size(image.shape[0], kh, padding, stride)
    ow = output_size(image.shape[1], kw, padding, stride)
    out = np.zeros((oh, ow), dtype)  # (H', W')
    tmp = np.empty((oh, ow), dtype)
    for r in range(kh):
        for c in range(kw):
            weight = k[r, c]
            if weight == 0:
                continue
            # every output cell's pixel under kernel element (r, c): a strided view, no copy
            view = x[r : r + stride * (oh - 1) + 1 : stride, c : c + stride * (ow - 1) + 1 : stride]
            if weight == 1:
                out += view
            elif weight == -1:
                out -= view
            else:
                np.multiply(view, weight, out=tmp)
                out += tmp
    return out


def conv2d(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """A convolution layer: x (C_in, H, W), weight (C_out, C_in, kh, kw), bias (C_out,) -> (C_out, H', W').

    Same shifted-view scheme as correlate2d; each kernel offset is one (C_out, C_in) x (C_in, H'*W') product.
    """
    x = np.asarray(x)
    weight = np.asarray(weight)
    if x.ndim != 3 or weight.ndim != 4 or weight.shape[1] != x.shape[0]:
        raise ValueError(f"conv2d wants x (C_in,H,W) and weight (C_out,C_in,kh,kw), got {x.shape} and {weight.shape}")
    c_out, c_in, kh, kw = weight.shape
    check_conv_args(x.shape[1:], (kh, kw), stride, padding)
    dtype = np.result_type(x.dtype, weight.dtype, np.float32)
    xp = pad2d(x.astype(dtype, copy=False), padding)  # (C_in, H+2p, W+2p)
    oh = output_size(x.shape[1], kh, padding, stride)
    ow = output_size(x.shape[2], kw, padding, stride)
    out = np.zeros((c_out, oh * ow), dtype)  # (C_out, H'*W')
    for r in range(kh):
        for c in range(kw):
            view = xp[:, r : r + stride * (oh - 1) + 1 : stride, c : c + stride * (ow - 1) + 1 : stride]
            out += weight[:, :, r, c].astype(dtype) @ view.reshape(c_in, oh * ow)  # (C_out, C_in) @ (C_in, H'W')
    out = out.reshape(c_out, oh, ow)
    if bias is not None:
        out += np.asarray(bias, dtype)[:, None, None]
    return out


def pool2d(x: np.ndarray, size: int = 2, mode: str = "max", stride: int | None = None) -> np.ndarray:
    """Max or average pooling over the last two axes; torch max_pool2d/avg_pool2d semantics
    (no padding, floor mode, stride defaults to the window size). (..., H, W) -> (..., H', W')."""
    x = np.asarray(x)
    stride = size if stride is None else stride
    check_pool_args(x.shape[-2:], size)
    if mode not in ("max", "avg"):
        raise UsageError(f"pool must be max or avg, got {mode!r}")
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(-2, -1))  # (..., H-s+1, W-s+1, s, s)
    windows = windows[..., ::stride, ::stride, :, :]  # (..., H', W', s, s)
    return windows.max(axis=(-2, -1)) if mode == "max" else windows.mean(axis=(-2, -1))


def relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0)


def window(
    image: np.ndarray, kernel_shape: tuple[int, int], row: int, col: int, stride: int = 1, padding: int = 0
) -> np.ndarray:
    """The (padded) input window under output cell (row, col): (kh, kw)."""
    x = pad2d(np.asarray(image), padding)
    kh, kw = kernel_shape
    return x[row * stride : row * stride + kh, col * stride : col * stride + kw]
