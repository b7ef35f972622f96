"""Convolve an image with a kernel, channel by channel, then pool: the core of `genai conv apply`.

`convolve(...)` reads as numbered steps:

    1. check everything that does not need the image (kernel, stride, padding, pooling)
    2. read the image: (H, W) grey levels, or (H, W, 3) for rgb, each channel then a plane of its own
    3. convolve each channel with the kernel (cross-correlation, as CNNs do), then pool each feature map
    4. explain each output size: floor((n + 2p - k) / s) + 1

It prints nothing and draws nothing: the command writes the figure (genai_cli/conv/figures.py) and the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genai_cli.conv import images, ops
from genai_cli.conv import kernels as kern
from genai_cli.errors import UsageError

CHANNELS = ("gray", "rgb")


@dataclass
class Convolution:
    image: str  # the file given, or "sample:china.jpg"
    image_name: str  # its file name
    pixels: np.ndarray  # (H, W) or (H, W, 3), grey levels 0..255
    planes: np.ndarray  # (C, H, W): the channels, each convolved on its own
    names: list[str]  # "gray", or "red", "green", "blue"
    kernel: np.ndarray  # (kh, kw)
    label: str  # the kernel's name (or "custom")
    stride: int
    padding: int
    pool: str  # "none", "max" or "avg"
    pool_size: int
    channels: str  # "gray" or "rgb"
    features: list[np.ndarray]  # C feature maps (H', W')
    pooled: list[np.ndarray] | None  # C pooled maps (H'', W''), None without pooling
    sizes: list[Any]  # ops.SizeExplanation of each output size

    def explain(self) -> list[str]:
        """The lines that show how each output size follows from the formula."""
        return ["output sizes: floor((n + 2p - k) / s) + 1", *("  " + s.text() for s in self.sizes)]

    def recipe(self, dpi: int) -> dict[str, Any]:
        """What the figure's PNG records (enough to make it again)."""
        return {
            "command": "genai conv apply",
            "image": self.image,
            "kernel": self.label,
            "kernel_values": self.kernel.tolist(),
            "stride": self.stride,
            "padding": self.padding,
            "pool": self.pool,
            "pool_size": self.pool_size,
            "channels": self.channels,
            "dpi": dpi,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "image": self.image,
            "channels": self.names,
            "input_shape": list(self.planes.shape[1:]),
            "kernel": self.label,
            "kernel_values": self.kernel.tolist(),
            "stride": self.stride,
            "padding": self.padding,
            "feature_shape": list(self.features[0].shape),
            "feature_min": float(min(f.min() for f in self.features)),
            "feature_max": float(max(f.max() for f in self.features)),
            "pool": self.pool,
            "pool_size": self.pool_size,
            "pooled_shape": list(self.pooled[0].shape) if self.pooled is not None else None,
            "sizes": [s.text() for s in self.sizes],
        }


def convolve(
    image: Path | None,
    kernel: str | None,
    kernel_values: str | None = None,
    *,
    channels: str = "gray",
    stride: int = 1,
    padding: int = 0,
    pool: str = "none",
    pool_size: int = 2,
) -> Convolution:
    """Convolve `image` (None: the built-in sample photo) with a named kernel, a kernel file or `kernel_values`
    ("1,0,-1;..."), each channel on its own, then pool. Raises UsageError naming a bad value, before the image
    is read where the value needs no image."""
    # 1. check everything that does not need the image
    if channels not in CHANNELS:
        raise UsageError(f"--channels must be gray or rgb, got {channels!r}")
    k, label = kern.resolve(kernel, kernel_values)
    ops.check_conv_args((10**9, 10**9), k.shape, stride, padding)
    # 2. the image: (H, W) or (H, W, 3), grey levels 0..255, as (C, H, W) planes
    pixels, name = images.load(image, channels)
    planes = pixels[None] if pixels.ndim == 2 else np.moveaxis(pixels, -1, 0)
    names = ["gray"] if pixels.ndim == 2 else ["red", "green", "blue"]
    ops.check_conv_args(planes.shape[1:], k.shape, stride, padding)
    ops.check_work(len(planes), planes.shape[1:], k.shape, stride, padding)  # limits.MAX_MULTIPLY_ADDS
    # 3. convolve each channel, then pool
    features = [ops.correlate2d(p, k.astype(np.float32), stride, padding) for p in planes]  # C x (H', W')
    pooled = [ops.pool2d(f, pool_size, pool) for f in features] if pool != "none" else None  # C x (H'', W'')
    # 4. how each output size follows from the formula
    h, w = planes.shape[1:]
    sizes = [
        ops.SizeExplanation("conv height", h, k.shape[0], padding, stride),
        ops.SizeExplanation("conv width", w, k.shape[1], padding, stride),
    ]
    if pooled is not None:
        fh, fw = features[0].shape
        sizes += [
            ops.SizeExplanation("pool height", fh, pool_size, 0, pool_size),
            ops.SizeExplanation("pool width", fw, pool_size, 0, pool_size),
        ]
    return Convolution(
        image=str(image) if image else f"sample:{images.SAMPLE_NAME}",
        image_name=name,
        pixels=pixels,
        planes=planes,
        names=names,
        kernel=k,
        label=label,
        stride=stride,
        padding=padding,
        pool=pool,
        pool_size=pool_size,
        channels=channels,
        features=features,
        pooled=pooled,
        sizes=sizes,
    )


def figure(c: Convolution):
    """The figure of a convolution: a row per channel; input, kernel, feature map, pooled map."""
    from genai_cli.conv import figures

    return figures.apply_figure(
        c.planes,
        c.names,
        c.kernel,
        c.label,
        c.features,
        c.pooled,
        image_name=c.image_name,
        stride=c.stride,
        padding=c.padding,
        pool=c.pool,
        pool_size=c.pool_size,
        rgb=c.pixels if c.pixels.ndim == 3 else None,
    )
