"""Write rendered images as PNG files: atomically, never over an existing file unless forced."""

from __future__ import annotations

import os
import re
from pathlib import Path

from genai_cli.toyworld import render as R
from genai_cli.toyworld.world import Scene


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def fresh_path(path: Path, taken: set[Path]) -> Path:
    """`path`, or `stem-2.png`, `stem-3.png` ... the first name neither on disk nor already chosen."""
    candidate, k = path, 1
    while candidate.exists() or candidate in taken:
        k += 1
        candidate = path.with_name(f"{path.stem}-{k}{path.suffix}")
    return candidate


def write_png(pixels, path: Path, parameters: str) -> None:
    """Write (H, W, 3) uint8 to `path` via a temp name + rename; the recipe goes in the `parameters` text chunk."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", parameters)  # the AUTOMATIC1111 chunk other tools read
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        Image.fromarray(pixels).save(tmp, format="PNG", pnginfo=info)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_renders(scene: Scene, n: int, out: Path, size: int, seed: int, force: bool = False) -> list[Path]:
    """Render n images of `scene` (image i from image_rng(seed, i)) into folder `out` -> their paths."""
    out.mkdir(parents=True, exist_ok=True)
    base = slug(scene.caption)
    paths: list[Path] = []
    taken: set[Path] = set()
    for i in range(n):
        path = out / f"{base}-s{seed}-{i:03d}.png"
        if not force:
            path = fresh_path(path, taken)
        taken.add(path)
        pixels = R.render(scene, size, R.image_rng(seed, i))
        write_png(pixels, path, f"{scene.caption}\nSeed: {seed}, Index: {i}, Size: {size}x{size}, Renderer: genai toy render")
        paths.append(path)
    return paths
