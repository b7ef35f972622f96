"""Write rendered images as PNG files: atomically, never over an existing file unless forced."""

from __future__ import annotations

from pathlib import Path

from genai_cli import __version__
from genai_cli.files import slug, temp_path
from genai_cli.image.pngmeta import png_bytes
from genai_cli.toyworld import render as R
from genai_cli.toyworld.world import Scene


def _png_bytes(pixels, parameters: str) -> bytes:
    """(H, W, 3) uint8 as PNG bytes with the recipe in the `parameters` chunk
    (AUTOMATIC1111's, as pngmeta writes it)."""
    from PIL import Image

    return png_bytes(Image.fromarray(pixels), {"parameters": parameters})


def write_files(path: Path, contents: dict[str, bytes], force: bool = False) -> Path:
    """Write files that share one name and differ in suffix (`x.png` + `x.txt`), each through a temp name.

    Without `force` no existing file is replaced: the first stem among `x`, `x-1`, `x-2` ... whose files
    are all free is claimed atomically, one hard link per file (a link fails if the name exists, even
    when another process just took it; what was claimed is released before the next stem is tried).
    With `force` each file is replaced in one rename. Returns the path with `path`'s own suffix."""
    import os

    path.parent.mkdir(parents=True, exist_ok=True)  # the output folder is made with its first file
    tmps: dict[str, Path] = {}
    try:
        for suffix, data in contents.items():
            tmp = temp_path(path.with_suffix(suffix))
            tmps[suffix] = tmp
            tmp.write_bytes(data)
        n = 0
        while True:
            stem = path.stem if n == 0 else f"{path.stem}-{n}"
            targets = {suffix: path.with_name(stem + suffix) for suffix in contents}
            if force:
                for suffix, target in targets.items():
                    os.replace(tmps[suffix], target)
                return targets[path.suffix]
            claimed: list[Path] = []
            try:
                for suffix, target in targets.items():
                    _claim(tmps[suffix], target)
                    claimed.append(target)
                return targets[path.suffix]
            except FileExistsError:
                for target in claimed:
                    target.unlink(missing_ok=True)
            n += 1
    finally:
        for tmp in tmps.values():
            tmp.unlink(missing_ok=True)


def _claim(tmp: Path, target: Path) -> None:
    """Give `tmp`'s file the name `target` unless that name exists (FileExistsError)."""
    import os

    try:
        os.link(tmp, target)  # atomic, and fails if the name is taken
    except FileExistsError:
        raise
    except OSError:  # a file system without hard links: check, then copy under the name
        if target.exists():
            raise FileExistsError(target) from None
        with open(target, "xb") as f:  # "x": fails if it appeared meanwhile
            f.write(tmp.read_bytes())


def write_renders(
    scene, n: int, out: Path, size: int, seed: int, force: bool = False, caption_files: bool = False
) -> list[Path]:
    """Render n images of `scene` (a Scene, or a sky.SkyScene; image i from image_rng(seed, i)) into folder
    `out` -> their paths.

    caption_files: also write NAME.txt beside NAME.png, the caption with {} in place of the shape
    (`a red {} on a white background`): what `genai invert` trains the new word's slot with. The two
    names are claimed together, so neither an existing image nor an existing caption is replaced
    (without `force`)."""
    from genai_cli.toyworld import sky

    if caption_files and not isinstance(scene, Scene):
        raise ValueError("caption files hold a shape's slot ({}); a night sky scene has no shape")
    draw = R.render if isinstance(scene, Scene) else sky.render
    base = slug(scene.caption)
    paths: list[Path] = []
    for i in range(n):
        pixels = draw(scene, size, R.image_rng(seed, i))
        recipe = (
            f"{scene.caption}\nSeed: {seed}, Index: {i}, Size: {size}x{size}, Renderer: genai toy render, "
            f"Version: genai {__version__}"  # the Version field tells `genai info` (and A1111's readers) who wrote it
        )
        files = {".png": _png_bytes(pixels, recipe)}
        if caption_files:
            files[".txt"] = (scene.caption.replace(f" {scene.shape} ", " {} ") + "\n").encode("utf-8")
        paths.append(write_files(out / f"{base}-s{seed}-{i:03d}.png", files, force))
    return paths
