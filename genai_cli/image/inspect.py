"""What is inside an image (its recipe) or a safetensors file, read safely.

Images (PNG, JPEG, WEBP) are opened through files.open_image (bomb, truncation and text-chunk limits);
their recipe, from genai, AUTOMATIC1111, ComfyUI, Fooocus, InvokeAI or NovelAI, is read by
image/recipes.py into one normalised shape. safetensors: metadata and each tensor's name, dtype and
shape, read from the header only (no tensor data is loaded, and no torch is needed).

Everything shown as text that came from a file goes through `escape` (control characters, C1
controls and bidirectional overrides are written as \\x.. / \\u.. escapes), so a file cannot clear
the screen, retitle the terminal or reorder what is printed. JSON output keeps the exact values.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PICKLED = (".ckpt", ".bin", ".pt", ".pth", ".pkl")
MAX_SAFETENSORS_HEADER = 100_000_000  # bytes of JSON header (the safetensors library's own limit)

# C0 and C1 controls, DEL, line/paragraph separators, and the bidirectional marks and overrides
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape(value: Any) -> str:
    """`value` as text that is safe to print on a terminal (control characters escaped)."""

    def one(m: re.Match) -> str:
        c = m.group()
        return _NAMED.get(c) or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")

    return _CONTROLS.sub(one, str(value))


def sniff(path: Path) -> str | None:
    """ "png", "jpeg", "webp", "safetensors" or None, from the first bytes (the file must be regular)."""
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(PNG_MAGIC):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    return None


def describe(path: Path, raw: bool = False) -> dict[str, Any]:
    """What `genai info` reports about one file. UsageError (exit 2) naming it for anything unreadable."""
    from genai_cli.files import require_regular_file

    try:
        path = require_regular_file(Path(path), "file")
    except UsageError as e:  # its message names the path as given: escape it
        raise UsageError(escape(e.message), e.hint) from None
    kind = sniff(path)
    if kind == "safetensors":
        return describe_safetensors(path)
    if kind is not None:
        return describe_image(path, raw)
    if path.stat().st_size == 0:
        raise UsageError(f"{escape(path)}: empty file")
    if path.suffix.lower() in PICKLED:
        raise UsageError(f"{escape(path.name)}: a pickled file; genai does not open those (they can run code)")
    raise UsageError(
        f"{escape(path)}: neither a PNG nor a safetensors file (nor a JPEG or WEBP image)",
        hint="genai info reads images (.png, .jpg, .webp) and .safetensors files",
    )


def read_png(path: Path) -> tuple[int, int, dict[str, str]]:
    """(width, height, text chunks) of a PNG, without decoding its pixels.

    Walks the chunks to IEND with Pillow's own chunk reader (PngStream): IHDR and the text chunks
    (tEXt, zTXt, iTXt, before or after the image data) are read, CRC-checked and held to Pillow's
    text limits (files.MAX_TEXT_CHUNK decompressed per chunk, MAX_TEXT_CHUNKS_TOTAL in all); every
    other chunk, the image data included, is skipped by its length. A chunk running past the end of
    the file (a truncated download), a bad CRC or a missing IEND is a UsageError naming the file;
    so is an image over files.MAX_IMAGE_PIXELS. About 20x faster than decoding (BENCHMARKS.md)."""
    from PIL import ImageFile, PngImagePlugin

    from genai_cli import files

    name = escape(path)
    PngImagePlugin.MAX_TEXT_CHUNK = files.MAX_TEXT_CHUNK
    PngImagePlugin.MAX_TEXT_MEMORY = files.MAX_TEXT_CHUNKS_TOTAL
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    size = path.stat().st_size
    width = height = None
    try:
        with open(path, "rb") as f:
            if f.read(8) != PNG_MAGIC:
                raise SyntaxError("not a PNG file")
            png = PngImagePlugin.PngStream(f)
            while True:
                cid, pos, length = png.read()
                if pos + length + 4 > size:
                    raise EOFError("truncated: a chunk runs past the end of the file")
                if width is None and cid != b"IHDR":
                    raise SyntaxError("no IHDR chunk first")
                if cid in (b"IHDR", b"tEXt", b"zTXt", b"iTXt"):
                    png.crc(cid, png.call(cid, pos, length))
                    if cid == b"IHDR":
                        width, height = png.im_size
                        if width * height > files.MAX_IMAGE_PIXELS:
                            raise UsageError(
                                f"{name}: image too large ({width}x{height}, over "
                                f"{files.MAX_IMAGE_PIXELS // (1024 * 1024)} megapixels; possibly a decompression bomb)"
                            )
                elif cid == b"IEND":
                    break
                else:
                    f.seek(length + 4, 1)
            return width, height, {str(k): str(v) for k, v in png.im_text.items()}
    except UsageError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as e:
        reason = str(e).splitlines()[0][:120] if str(e) else "truncated"
        raise UsageError(f"{name}: damaged or unreadable image ({reason})") from None


def describe_image(path: Path, raw: bool = False) -> dict[str, Any]:
    from genai_cli.files import open_image
    from genai_cli.image import pngmeta, recipes

    if sniff(path) == "png":
        fmt = "png"
        width, height, chunks = read_png(path)
        text = dict(chunks)
    else:
        im = open_image(path, "image")
        fmt = (im.format or "").lower()
        width, height = im.size
        chunks, text = {}, {}
        try:
            comment = recipes.user_comment(im.getexif().get_ifd(0x8769).get(0x9286))
        except Exception:  # a malformed EXIF block: no recipe there
            comment = None
        if comment:
            chunks["EXIF UserComment"] = comment
            text["parameters"] = comment
    recipe, problem = recipes.from_text_chunks(text, escape(path))
    out: dict[str, Any] = {"file": str(path), "type": fmt, "width": width, "height": height, "recipe": recipe}
    if problem:
        out["problem"] = problem
    params = text.get("parameters")
    a1111 = params is not None and not params.lstrip().startswith("{")
    out["parameters"] = pngmeta.parse_parameters(params) if a1111 and params.strip() else None
    out["parameters_text"] = params
    genai = text.get("genai")
    out["genai"] = (recipes.load_json(genai, escape(path)) or genai) if genai else None
    used = recipes.SOURCES.get(recipe["generator"], ()) if recipe else ()
    if fmt != "png":
        used = ("EXIF UserComment",) if recipe else ()
    # raw chunks: all of them with --raw; otherwise those the recipe was not read from
    out["text"] = (
        dict(chunks) if raw else {k: v for k, v in chunks.items() if k not in used and k not in ("parameters", "genai")}
    )
    return out


def describe_safetensors(path: Path) -> dict[str, Any]:
    """Header-only: the 8-byte length, then that much JSON; checked for size and nesting before parsing,
    then validated by the safetensors library (which reads no tensor data here)."""
    from genai_cli.image import recipes

    name = escape(path)
    size = path.stat().st_size
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8).ljust(8, b"\0"))
        if n > MAX_SAFETENSORS_HEADER:
            raise UsageError(
                f"{name}: safetensors header too large ({n:,} bytes; the limit is {MAX_SAFETENSORS_HEADER:,})"
            )
        if 8 + n > size:
            raise UsageError(
                f"{name}: not a valid safetensors file (its header says {n:,} bytes; the file is {size:,})"
            )
        header = f.read(n)
    try:
        text = header.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{name}: not a valid safetensors file (its header is not UTF-8)") from None
    recipes.check_json(text, name, MAX_SAFETENSORS_HEADER)

    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = []
            for key in f.keys():
                sl = f.get_slice(key)
                tensors.append({"name": key, "dtype": sl.get_dtype(), "shape": list(sl.get_shape())})
    except Exception as e:  # safetensors raises its own SafetensorError
        raise UsageError(f"{name}: not a valid safetensors file ({escape(str(e).splitlines()[0][:200])})") from None
    count = 0
    for t in tensors:
        k = 1
        for d in t["shape"]:
            k *= d
        count += k
    return {"file": str(path), "type": "safetensors", "metadata": metadata, "tensors": tensors, "parameters": count}


# --- text output --------------------------------------------------------------------------


def as_text(info: dict[str, Any]) -> str:
    """A readable report, `key: value` per line, every value from the file escaped."""
    lines = [f"file: {escape(info['file'])}"]
    if info["type"] == "safetensors":
        lines.append(f"tensors: {len(info['tensors'])} ({info['parameters']:,} numbers)")
        lines += [f"metadata {escape(k)}: {escape(v)}" for k, v in info["metadata"].items()]
        width = max((len(escape(t["name"])) for t in info["tensors"]), default=0)
        lines += [f"{escape(t['name']):<{width}}  {t['dtype']:<5}  {tuple(t['shape'])}" for t in info["tensors"]]
        return "\n".join(lines)
    lines.append(
        f"size: {info['width']}x{info['height']}" + ("" if info["type"] == "png" else f" ({info['type'].upper()})")
    )
    recipe, params = info.get("recipe"), info.get("parameters")
    if recipe is None:
        lines.append(
            "recipe: none"
            + (f" ({escape(info['problem'])})" if info.get("problem") else " (no recipe in its metadata)")
        )
    else:
        lines.append(f"generator: {escape(recipe['generator'])}")
        from genai_cli.image.recipes import figure_command

        command = figure_command(recipe)
        if command is not None:  # one of genai's figures: its settings are on the `genai:` line below
            lines.append(f"command: genai {escape(command)}")
        else:
            lines.append(f"prompt: {escape(recipe['prompt'])}")
        if recipe.get("negative"):
            lines.append(f"negative prompt: {escape(recipe['negative'])}")
        if params:  # A1111 text (genai's own files too): its fields as written
            lines += [f"{escape(k)}: {escape(v)}" for k, v in params.items() if k not in ("prompt", "negative_prompt")]
        else:
            for key in ("seed", "steps", "guidance", "sampler", "scheduler", "model"):
                if recipe.get(key) is not None:
                    lines.append(f"{key}: {escape(recipe[key])}")
            if recipe.get("width") and (recipe["width"], recipe["height"]) != (info["width"], info["height"]):
                lines.append(f"generated size: {recipe['width']}x{recipe['height']}")
    if info.get("genai") is not None:
        lines.append("genai: " + escape(json.dumps(info["genai"], ensure_ascii=False)))
    lines += [f"{escape(k)}: {escape(v)}" for k, v in info.get("text", {}).items()]
    return "\n".join(lines)


LINE_COLUMNS = ("file", "generator", "seed", "steps", "guidance", "sampler", "size", "model", "prompt")


def as_line(info: dict[str, Any]) -> str:
    """One tab-separated line (LINE_COLUMNS; `-` where unknown), for grep, cut and awk."""
    if info["type"] == "safetensors":
        cols = [
            info["file"],
            "safetensors",
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
            f"{len(info['tensors'])} tensor" + ("" if len(info["tensors"]) == 1 else "s"),
        ]
    else:
        r = info.get("recipe") or {}
        size = (
            f"{r['width']}x{r['height']}" if r.get("width") and r.get("height") else f"{info['width']}x{info['height']}"
        )
        cols = [info["file"], r.get("generator") or "no-recipe"]
        cols += [r.get(k) for k in ("seed", "steps", "guidance", "sampler")] + [size, r.get("model"), r.get("prompt")]
    return "\t".join("-" if c is None or c == "" else escape(c) for c in cols)
