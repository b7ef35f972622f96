"""PNG files that carry their recipe, written without ever losing or overwriting one.

Two tEXt chunks:
  parameters  AUTOMATIC1111's format, read by A1111, ComfyUI, InvokeAI, civitai ...:
                  a red fox in the snow
                  Negative prompt: blurry
                  Steps: 25, Sampler: Euler a, CFG scale: 7.5, Seed: 42, Size: 512x512, Model: sd15
  genai       the resolved genai settings as JSON
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

# one `Key: value` of the last line; a value may be a quoted string holding commas (A1111's own regex)
_PARAM = re.compile(r'\s*(\w[\w \-/]+):\s*("(?:\\.|[^\\"])+"|[^,]*)(?:,|$)')


def format_parameters(prompt: str, negative: str, fields: dict[str, Any]) -> str:
    """The A1111 `parameters` text: prompt, optional `Negative prompt:` line, `Key: value, ...` line."""

    def value(v: Any) -> str:
        s = str(v)
        return json.dumps(s) if ("," in s or ":" in s or '"' in s) else s

    lines = [prompt]
    if negative:
        lines.append(f"Negative prompt: {negative}")
    lines.append(", ".join(f"{k}: {value(v)}" for k, v in fields.items()))
    return "\n".join(lines)


def parse_parameters(text: str) -> dict[str, Any]:
    """A1111 `parameters` text -> {"prompt", "negative_prompt", and each `Key: value` of the last line}."""
    lines = text.strip().split("\n")
    last = lines[-1].strip() if lines else ""
    params: dict[str, Any] = {}
    if len(_PARAM.findall(last)) >= 3:  # A1111 writes at least Steps, Sampler, CFG scale
        lines = lines[:-1]
        for key, val in _PARAM.findall(last):
            val = val.strip()
            if val.startswith('"') and val.endswith('"'):
                try:
                    val = json.loads(val)
                except ValueError:
                    val = val[1:-1]
            params[key.strip()] = val
    prompt, negative, in_negative = [], [], False
    for line in lines:
        if line.startswith("Negative prompt:"):
            in_negative = True
            line = line[len("Negative prompt:") :].strip()
        (negative if in_negative else prompt).append(line)
    return {"prompt": "\n".join(prompt).strip(), "negative_prompt": "\n".join(negative).strip(), **params}


def write_png(image: Any, path: Path, text: dict[str, str] | None = None, force: bool = False) -> Path:
    """Write a PIL image as PNG with tEXt chunks, atomically. Returns the path written.

    Without `force` an existing file is never replaced: if `path` exists (or appears while we
    write, e.g. from another process), a fresh name `stem-1.png`, `stem-2.png` ... is chosen.
    """
    from genai_cli.files import publish, temp_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)  # the output folder is made with its first file, not before
    tmp = temp_path(path)
    try:
        image.save(tmp, format="PNG", pnginfo=_info(text))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return publish(tmp, path, force)


def png_bytes(image: Any, text: dict[str, str] | None = None) -> bytes:
    """A PIL image as PNG bytes with tEXt chunks (for writers that publish several files together:
    genai_cli/toyworld/files.py)."""
    import io

    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=_info(text))
    return buf.getvalue()


def _info(text: dict[str, str] | None):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for k, v in (text or {}).items():
        info.add_text(k, v)
    return info


def read_png_text(path: Path) -> dict[str, str]:
    """The text chunks of a PNG (tEXt, zTXt, iTXt)."""
    from PIL import Image

    with Image.open(path) as im:
        im.load()  # text chunks after the image data are read only now
        return {str(k): str(v) for k, v in getattr(im, "text", {}).items()}
