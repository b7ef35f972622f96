"""What is inside a file genai wrote (or another tool, in the same formats).

PNG: the A1111 `parameters` chunk parsed into fields, and genai's own `genai` JSON chunk.
safetensors: metadata and each tensor's name, dtype and shape, read from the header only
(no tensor data is loaded, and no torch is needed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def describe(path: Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise UsageError(f"file not found: {path}")
    if path.is_dir():
        raise UsageError(f"{path} is a folder", hint="name a .png or .safetensors file")
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(PNG_MAGIC):
        return describe_png(path)
    if len(head) >= 9 and head[8:9] == b"{":
        return describe_safetensors(path)
    if path.suffix.lower() in (".ckpt", ".bin", ".pt", ".pth", ".pkl"):
        raise UsageError(f"{path.name}: a pickled file; genai does not open those (they can run code)")
    raise UsageError(
        f"{path}: neither a PNG nor a safetensors file", hint="genai info reads .png and .safetensors files"
    )


def describe_png(path: Path) -> dict[str, Any]:
    from PIL import Image

    from genai_cli.image import pngmeta

    with Image.open(path) as im:
        width, height = im.size
    text = pngmeta.read_png_text(path)
    out: dict[str, Any] = {"file": str(path), "type": "png", "width": width, "height": height}
    raw = text.pop("parameters", None)
    out["parameters"] = pngmeta.parse_parameters(raw) if raw else None
    out["parameters_text"] = raw
    genai = text.pop("genai", None)
    try:
        out["genai"] = json.loads(genai) if genai else None
    except ValueError:
        out["genai"] = genai
    out["text"] = text  # any other text chunks
    return out


def describe_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            metadata = f.metadata() or {}
            tensors = []
            for name in f.keys():
                sl = f.get_slice(name)
                tensors.append({"name": name, "dtype": sl.get_dtype(), "shape": list(sl.get_shape())})
    except Exception as e:  # safetensors raises its own SafetensorError
        raise UsageError(f"{path}: not a valid safetensors file ({str(e).splitlines()[0][:200]})") from None
    count = 0
    for t in tensors:
        n = 1
        for d in t["shape"]:
            n *= d
        count += n
    return {"file": str(path), "type": "safetensors", "metadata": metadata, "tensors": tensors, "parameters": count}


def as_text(info: dict[str, Any]) -> str:
    """A readable report, `key: value` per line."""
    lines = [f"file: {info['file']}"]
    if info["type"] == "png":
        lines.append(f"size: {info['width']}x{info['height']}")
        params = info.get("parameters")
        if params:
            lines.append(f"prompt: {params['prompt']}")
            if params.get("negative_prompt"):
                lines.append(f"negative prompt: {params['negative_prompt']}")
            lines += [f"{k}: {v}" for k, v in params.items() if k not in ("prompt", "negative_prompt")]
        else:
            lines.append("parameters: none (no A1111 `parameters` chunk)")
        if info.get("genai") is not None:
            lines.append("genai: " + json.dumps(info["genai"], ensure_ascii=False))
        lines += [f"{k}: {v}" for k, v in info.get("text", {}).items()]
    else:
        lines.append(f"tensors: {len(info['tensors'])} ({info['parameters']:,} numbers)")
        lines += [f"metadata {k}: {v}" for k, v in info["metadata"].items()]
        width = max((len(t["name"]) for t in info["tensors"]), default=0)
        lines += [f"{t['name']:<{width}}  {t['dtype']:<5}  {tuple(t['shape'])}" for t in info["tensors"]]
    return "\n".join(lines)
