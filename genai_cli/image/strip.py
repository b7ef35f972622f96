"""A row of labelled frames, as one PIL image: the pictures of the talk's diffusion slides."""

from __future__ import annotations

from typing import Any, Sequence

MIN_SIDE = 128  # small frames (tiny models) are enlarged to this, pixel for pixel, so labels fit
PAD = 6  # pixels between frames and around the strip


def to_pil(array: Any):
    """A float image (H, W, 3) in [0, 1] -> PIL RGB; NaN becomes 0."""
    import numpy as np
    from PIL import Image

    a = np.nan_to_num(np.asarray(array, dtype=np.float32), nan=0.0)
    return Image.fromarray((a.clip(0, 1) * 255).round().astype(np.uint8), mode="RGB")


def make_strip(frames: Sequence[Any], labels: Sequence[Sequence[str]]):
    """frames: PIL images of one size; labels: the text lines under each frame."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = frames[0].size
    scale = max(1, -(-MIN_SIDE // min(w, h)))  # ceil(MIN_SIDE / side)
    fw, fh = w * scale, h * scale
    try:
        font = ImageFont.load_default(size=max(11, min(18, fw // 11)))
    except TypeError:  # Pillow < 10.1
        font = ImageFont.load_default()
    line_h = (font.getbbox("Ag")[3] if hasattr(font, "getbbox") else 11) + 3
    n_lines = max(len(lbl) for lbl in labels) if labels else 0
    strip = Image.new("RGB", (PAD + len(frames) * (fw + PAD), PAD + fh + PAD + n_lines * line_h + PAD), "white")
    draw = ImageDraw.Draw(strip)
    for i, (frame, lines) in enumerate(zip(frames, labels)):
        x = PAD + i * (fw + PAD)
        strip.paste(frame.resize((fw, fh), Image.NEAREST) if scale > 1 else frame, (x, PAD))
        for j, text in enumerate(lines):
            tw = draw.textlength(text, font=font)
            draw.text((x + max(0, (fw - tw) / 2), PAD + fh + PAD + j * line_h), text, fill="black", font=font)
    return strip
