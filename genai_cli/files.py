"""Writing result files so that nothing is lost.

A file is written in full under a temporary name in its folder, then published under its
real name in one step. Without `force` an existing file is never replaced: the first free
name of `name.png`, `name-1.png`, `name-2.png` ... is claimed atomically (a hard link fails
if the name exists, even when another process just took it).
"""

from __future__ import annotations

import os
from pathlib import Path


def slug(text: str, max_len: int | None = None) -> str:
    """A file-name part from any text: 'A red fox, in the snow!' -> 'a-red-fox-in-the-snow' (lower-case letters and
    digits, runs of anything else as one '-'), cut at a '-' boundary to at most `max_len` characters; '' when the
    text has no letter or digit (callers add their own fallback: `slug(p) or "image"`)."""
    import re

    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s if max_len is None else s[:max_len].rstrip("-")


def temp_path(path: Path) -> Path:
    """A temporary name next to `path` (hidden, per process, same suffix for format sniffers)."""
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


def publish(tmp: Path, path: Path, force: bool = False) -> Path:
    """Move the finished file `tmp` to `path` (replacing it only with `force`), or to the first
    free `stem-N` name. Returns the path used; `tmp` is gone afterwards."""
    try:
        if force:
            os.replace(tmp, path)
            return path
        candidate, n = path, 0
        while True:
            try:
                os.link(tmp, candidate)  # atomic, and fails if the name is taken
                return candidate
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links: check, then rename
                if not candidate.exists():
                    os.replace(tmp, candidate)
                    return candidate
            n += 1
            candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    finally:
        tmp.unlink(missing_ok=True)


def figure_chunks(recipe: dict) -> dict[str, str]:
    """PNG text chunks of one of genai's figures: `recipe` (its settings, with the `command` that drew it) as
    JSON in the `genai` chunk, which `genai info` reads back. No AUTOMATIC1111 `parameters` chunk: a figure is
    not a generated image, and image tools would show that chunk's text as its prompt."""
    import json

    return {"Software": "genai", "genai": json.dumps(recipe, ensure_ascii=False, default=str)}


def save_figure(fig, path: Path, force: bool = False, recipe: dict | None = None, **savefig_kwargs) -> Path:
    """Save a matplotlib figure as PNG through a temp name, close it, and `publish` it; with `recipe` (which
    names its `command`), the PNG carries it (figure_chunks)."""
    import matplotlib.pyplot as plt

    if recipe is not None:
        savefig_kwargs["metadata"] = figure_chunks(recipe)
    tmp = temp_path(path)
    try:
        fig.savefig(tmp, format="png", **savefig_kwargs)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return publish(tmp, path, force)


# --- reading untrusted files -----------------------------------------------------------

# Limits on images read from files (README.md, "How genai behaves": trust model): checked from the header,
# before any pixel is decoded. 64 megapixels is larger than any Stable Diffusion output and
# than the photos a user feeds to `conv` or `invert`; a 100000 x 100000 "bomb" is refused.
MAX_IMAGE_PIXELS = 64 * 1024 * 1024
# PNG text chunks: PIL's own cap on one decompressed chunk (zTXt/iTXt bombs) and on all together.
MAX_TEXT_CHUNK = 1024 * 1024
MAX_TEXT_CHUNKS_TOTAL = 8 * 1024 * 1024


def require_regular_file(path: Path, what: str = "file") -> Path:
    """`path` as a regular file, or a UsageError naming it: a folder, a FIFO (which would block
    a reader forever), a device or a missing path is refused before anything opens it."""
    import stat

    from genai_cli.errors import UsageError

    path = Path(path)
    name = str(path) if len(str(path)) <= 200 else f"{str(path)[:150]}...{str(path)[-40:]}"
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise UsageError(f"{what} not found: {name}") from None
    except OSError as e:
        raise UsageError(f"cannot read {what} {name}: {e.strerror}") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{name} is a folder; give a {what} file")
    if not stat.S_ISREG(mode):
        raise UsageError(f"{name} is not a regular file (a pipe, socket or device); give a {what} file")
    return path


def open_image(path: Path, what: str = "image"):
    """Open an untrusted image file with Pillow, fully decoded, or raise a UsageError naming it.

    Refuses non-regular files, images over MAX_IMAGE_PIXELS (decompression bombs, checked from the
    header before decoding), text-chunk bombs, truncated and unidentifiable files. Returns a loaded
    `PIL.Image.Image` whose file is already closed; `.info` holds its text chunks."""
    from PIL import Image, ImageFile, PngImagePlugin

    from genai_cli.errors import UsageError

    require_regular_file(path, what)
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS  # above this PIL warns; above twice this it raises
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    PngImagePlugin.MAX_TEXT_CHUNK = MAX_TEXT_CHUNK
    PngImagePlugin.MAX_TEXT_MEMORY = MAX_TEXT_CHUNKS_TOTAL
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_IMAGE_PIXELS:
                    raise Image.DecompressionBombError(f"{w}x{h}")
                im.load()
                return im
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UsageError(
            f"{path}: image too large (over {MAX_IMAGE_PIXELS // (1024 * 1024)} megapixels; "
            "possibly a decompression bomb)"
        ) from None
    except Image.UnidentifiedImageError:
        raise UsageError(f"{path}: not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError, EOFError) as e:
        # truncated data ("image file is truncated"), a too-large text chunk ("Decompressed data too large"),
        # broken chunk CRCs (SyntaxError) ...
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise UsageError(f"{path}: damaged or unreadable image ({reason})") from None


def load_json_limited(text: str | bytes, what: str, max_depth: int = 32, max_bytes: int = 1024 * 1024):
    """json.loads for JSON from a user file (e.g. a CNN file's `genai.layers` metadata), or a UsageError
    naming `what`: at most `max_bytes`, nested at most `max_depth` levels (checked before parsing, so a
    20,000-deep file never reaches the recursive parser), and no NaN/Infinity constants."""
    import json
    import re

    from genai_cli.errors import UsageError

    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > max_bytes:
        raise UsageError(f"{what}: JSON larger than {max_bytes} bytes ({size})")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise UsageError(f"{what}: not UTF-8 JSON text") from None
    depth = 0
    for m in re.finditer(r'"(?:[^"\\]|\\.)*"|[\[\]{}]', text):  # strings are skipped whole
        c = m.group()
        if c in "[{":
            depth += 1
            if depth > max_depth:
                raise UsageError(f"{what}: JSON nested more than {max_depth} levels deep")
        elif c in "]}":
            depth -= 1

    def no_constants(name: str):
        raise ValueError(f"{name} is not a JSON number")

    try:
        return json.loads(text, parse_constant=no_constants)
    except ValueError as e:  # json.JSONDecodeError included
        raise UsageError(f"{what}: not valid JSON ({str(e).splitlines()[0][:120]})") from None
