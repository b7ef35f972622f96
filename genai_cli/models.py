"""Where models come from: built-in assets, aliases, hub ids, local paths. The one resolver of a name to a path.

    resolve("toy", "image")   -> a built-in asset shipped inside the package (BUILTIN below)
    resolve("sd15", "image")  -> an alias from configs/models.yaml, then as below
    resolve("./my-model", ..) -> a local folder or file, used as it is
    resolve("org/name", ..)   -> a hub id: the local Hugging Face cache first; the network only
                                 when HF_HUB_OFFLINE is not set, with short timeouts, never a hang

Built-in assets are named in BUILTIN, by kind: `builtin(name, kind)` is their path, so no module computes
a path into another package's data/ folder. (The built-in GloVe vectors, downloaded and cached rather than
shipped, stay with vectors/store.py.)
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from genai_cli.errors import GenaiError, UsageError

# built-in assets shipped inside the package: kind -> name -> path under genai_cli/
BUILTIN: dict[str, dict[str, str]] = {
    "image": {"toy": "toyworld/data/pipeline"},  # the toy-world Stable Diffusion (scripts/toyworld/ trains it)
    "cnn": {
        "digits-cnn": "conv/data/digits-cnn.safetensors",  # 8x8 handwritten digits (scripts/train_digits_cnn.py)
        "toy-analyzer": "toyworld/data/analyzer.safetensors",  # reads shape, colour, background of toy images
    },
    "scheduler": {"sd15": "image/data/sd15_scheduler_config.json"},  # Stable Diffusion 1.5's noise schedule
}


def builtin(name: str, kind: str) -> Path | None:
    """The path of the built-in asset `name` of `kind` (it may be missing from a broken install), or None."""
    rel = BUILTIN.get(kind, {}).get((name or "").strip())
    if rel is None:
        return None
    from importlib import resources

    return Path(str(resources.files("genai_cli").joinpath(rel)))


def package_file(package: str, rel: str) -> Path | None:
    """A data file shipped inside another installed package (scikit-learn's sample photos, gensim's test sets),
    found without importing it: None when the package is not installed. The file itself may be missing."""
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / rel


@lru_cache(maxsize=None)
def aliases(kind: str) -> dict[str, str]:
    """The aliases of one kind (a top-level key of configs/models.yaml)."""
    from genai_cli.config import builtin_config_dir, read_yaml

    data: dict[str, Any] = read_yaml(builtin_config_dir() / "models.yaml")
    return {str(k): str(v) for k, v in (data.get(kind) or {}).items()}


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def resolve(name: str, kind: str, allow_patterns: list[str] | None = None) -> Path:
    """A local path holding the model named `name` (built-in asset, alias, local path or hub id)."""
    name = name.strip()
    if not name:
        raise UsageError(f"empty {kind} model name")
    path = local(name, kind)
    if path is not None:
        return path
    return hub_snapshot(hub_id(name, kind), allow_patterns, label=name)


def local(name: str, kind: str) -> Path | None:
    """The path on this machine that `name` names without any download: a built-in asset of `kind`, or an
    alias or path that exists. None when it can only be a hub id (or nothing)."""
    name = (name or "").strip()
    shipped = builtin(name, kind)
    if shipped is not None:
        return shipped
    path = Path(aliases(kind).get(name, name)).expanduser()
    try:
        return path if path.exists() else None
    except OSError:  # a name too long to be a path ("File name too long")
        return None


def hub_id(name: str, kind: str, hint: str | None = None) -> str:
    """The hub id (org/name) that `name` or its alias stands for, or a UsageError naming it (with `hint`, else
    the aliases of `kind`) when it is neither a path that exists nor a hub id."""
    from genai_cli.errors import shorten

    target = aliases(kind).get(name.strip(), name.strip())
    if target.startswith((".", "/", "~")) or target.count("/") != 1 or target.endswith((".safetensors", ".gguf")):
        known = ", ".join(sorted([*aliases(kind), *BUILTIN.get(kind, {})])) or "none"
        raise UsageError(
            f"{kind} model {shorten(name)} is neither a known alias, an existing path, nor a hub id (org/name)",
            hint=hint or f"aliases: {known}",
        )
    return target


def hub_snapshot(
    repo_id: str,
    allow_patterns: list[str] | None = None,
    label: str | None = None,
    revision: str | None = None,
    cache_first: bool = True,
) -> Path:
    """The local snapshot of a hub repository (at `revision`, else the default branch): from the cache,
    else downloaded (unless offline). cache_first=False when the cached snapshot is known to lack files
    (a cached snapshot is found whatever allow_patterns says)."""
    os.environ.setdefault("HF_HUB_ETAG_TIMEOUT", "10")
    os.environ.setdefault("HF_HUB_DOWNLOAD_TIMEOUT", "30")
    from huggingface_hub import snapshot_download

    shown = repo_id if not label or label == repo_id else f"{label} ({repo_id})"
    try:
        if not cache_first:
            raise LookupError
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True, allow_patterns=allow_patterns))
    except Exception:
        pass
    if offline():
        raise GenaiError(
            f"model {shown} is not in the local Hugging Face cache, and HF_HUB_OFFLINE is set",
            hint=f"on a machine with network run `hf download {repo_id}` (or unset HF_HUB_OFFLINE), "
            "or pass a local folder",
        )
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=allow_patterns))
    except Exception as e:
        raise GenaiError(
            f"model {shown} is not cached and could not be downloaded ({type(e).__name__})",
            hint=f"check the name and your network, run `hf download {repo_id}`, or pass a local folder",
        ) from None
