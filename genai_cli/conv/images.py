"""Reading images, and the built-in sample photo.

The sample photo is scikit-learn's china.jpg (CC BY 2.0, danielbuechele on Flickr), which
ships inside the scikit-learn wheel (sklearn/datasets/images/): no download. It is found
by path, without importing scikit-learn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genai_cli.errors import GenaiError, UsageError

SAMPLE_NAME = "china.jpg"
SAMPLE_CREDIT = "china.jpg from scikit-learn (CC BY 2.0, danielbuechele on Flickr)"


def sample_photo_path() -> Path:
    from genai_cli import models

    path = models.package_file("sklearn", f"datasets/images/{SAMPLE_NAME}")
    if path is None:
        raise GenaiError(
            "the built-in sample photo comes with scikit-learn, which is not installed",
            hint="pip install scikit-learn, or give an IMAGE",
        )
    if not path.is_file():
        raise GenaiError(f"the sample photo is missing from scikit-learn: {path}", hint="give an IMAGE")
    return path


def load(path: Path | None, channels: str = "gray") -> tuple[np.ndarray, str]:
    """An image as float32 grey levels 0..255: (H, W) for gray, (H, W, 3) for rgb. Returns (pixels, name).

    Read through files.open_image (folders, FIFOs, truncated files and decompression bombs are
    refused, naming the file); an image over limits.MAX_IMAGE_PIXELS is refused before any float copy."""
    from genai_cli.conv.limits import MAX_IMAGE_PIXELS
    from genai_cli.files import open_image

    if channels not in ("gray", "rgb"):
        raise UsageError(f"channels must be gray or rgb, got {channels!r}")
    name = SAMPLE_NAME if path is None else Path(path).name
    path = sample_photo_path() if path is None else Path(path).expanduser()
    im = open_image(path, "image")
    w, h = im.size
    if w * h > MAX_IMAGE_PIXELS:
        raise UsageError(
            f"{path}: image {w}x{h} is over conv's limit of {MAX_IMAGE_PIXELS // (1024 * 1024)} megapixels",
            hint="resize it first (4096x4096 fits)",
        )
    im = im.convert("L" if channels == "gray" else "RGB")
    return np.asarray(im, dtype=np.float32), name
