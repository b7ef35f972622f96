"""Reading images, and the built-in sample photo.

The sample photo is scikit-learn's china.jpg (CC BY 2.0, danielbuechele on Flickr), which
ships inside the scikit-learn wheel (sklearn/datasets/images/): no download. It is found
by path, without importing scikit-learn.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from genai_cli.errors import GenaiError, UsageError

SAMPLE_NAME = "china.jpg"
SAMPLE_CREDIT = "china.jpg from scikit-learn (CC BY 2.0, danielbuechele on Flickr)"


def sample_photo_path() -> Path:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        raise GenaiError("the built-in sample photo comes with scikit-learn, which is not installed",
                         hint="pip install scikit-learn, or give an IMAGE")
    path = Path(spec.origin).parent / "datasets" / "images" / SAMPLE_NAME
    if not path.is_file():
        raise GenaiError(f"the sample photo is missing from scikit-learn: {path}", hint="give an IMAGE")
    return path


def load(path: Path | None, channels: str = "gray") -> tuple[np.ndarray, str]:
    """An image as float32 grey levels 0..255: (H, W) for gray, (H, W, 3) for rgb. Returns (pixels, name)."""
    from PIL import Image, UnidentifiedImageError

    if channels not in ("gray", "rgb"):
        raise UsageError(f"channels must be gray or rgb, got {channels!r}")
    name = SAMPLE_NAME if path is None else Path(path).name
    path = sample_photo_path() if path is None else Path(path).expanduser()
    if path.is_dir():
        raise UsageError(f"{path} is a folder, not an image file")
    if not path.exists():
        raise UsageError(f"image not found: {path}", hint="check the path, or leave IMAGE out to use the sample photo")
    try:
        with Image.open(path) as im:
            im.load()
            im = im.convert("L" if channels == "gray" else "RGB")
            pixels = np.asarray(im, dtype=np.float32)
    except UnidentifiedImageError:
        raise UsageError(f"{path} is not an image that Pillow can read",
                         hint="use a PNG, JPEG, GIF, BMP, TIFF or WebP file") from None
    except (OSError, ValueError) as e:  # truncated or damaged files
        raise UsageError(f"cannot read image {path}: {e}") from None
    return pixels, name
