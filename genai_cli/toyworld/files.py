"""Write rendered images as PNG files: atomically, never over an existing file unless forced."""

from __future__ import annotations

import re
from pathlib import Path

from genai_cli.toyworld import render as R
from genai_cli.toyworld.world import Scene


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def write_png(pixels, path: Path, parameters: str, force: bool = False) -> Path:
    """Write (H, W, 3) uint8 to `path` via a temp name + rename; the recipe goes in the `parameters` text chunk."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", parameters)  # the AUTOMATIC1111 chunk other tools read
    from genai_cli.files import publish, temp_path

    tmp = temp_path(path)
    try:
        Image.fromarray(pixels).save(tmp, format="PNG", pnginfo=info)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return publish(tmp, path, force)


def write_renders(scene: Scene, n: int, out: Path, size: int, seed: int, force: bool = False,
                  caption_files: bool = False) -> list[Path]:
    """Render n images of `scene` (image i from image_rng(seed, i)) into folder `out` -> their paths.

    caption_files: also write NAME.txt beside NAME.png, the caption with {} in place of the shape
    (`a red {} on a white background`): what `genai invert` trains the new word's slot with."""
    out.mkdir(parents=True, exist_ok=True)
    base = slug(scene.caption)
    paths: list[Path] = []
    for i in range(n):
        pixels = R.render(scene, size, R.image_rng(seed, i))
        recipe = f"{scene.caption}\nSeed: {seed}, Index: {i}, Size: {size}x{size}, Renderer: genai toy render"
        path = write_png(pixels, out / f"{base}-s{seed}-{i:03d}.png", recipe, force)
        if caption_files:
            _write_text(path.with_suffix(".txt"), scene.caption.replace(f" {scene.shape} ", " {} ") + "\n")
        paths.append(path)
    return paths


def _write_text(path: Path, text: str) -> None:
    from genai_cli.files import temp_path

    tmp = temp_path(path)
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # the PNG's name was fresh (or --force), so is its caption's
