"""Where models come from: built-in assets, aliases, hub ids, local paths.

    resolve("sd15", "image")  -> an alias from configs/models.yaml, then as below
    resolve("./my-model", ..) -> a local folder or file, used as it is
    resolve("org/name", ..)   -> a hub id: the local Hugging Face cache first; the network only
                                 when HF_HUB_OFFLINE is not set, with short timeouts, never a hang

Built-in models are not resolved here: each capability knows its own (the GloVe vectors
in vectors/store.py, and so on) and checks for its built-in names before calling resolve().
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from genai_cli.errors import GenaiError, UsageError


@lru_cache(maxsize=None)
def aliases(kind: str) -> dict[str, str]:
    """The aliases of one kind (a top-level key of configs/models.yaml)."""
    from genai_cli.config import builtin_config_dir, read_yaml

    data: dict[str, Any] = read_yaml(builtin_config_dir() / "models.yaml")
    return {str(k): str(v) for k, v in (data.get(kind) or {}).items()}


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def resolve(name: str, kind: str, allow_patterns: list[str] | None = None) -> Path:
    """A local path holding the model named `name` (alias, local path or hub id)."""
    name = name.strip()
    if not name:
        raise UsageError(f"empty {kind} model name")
    target = aliases(kind).get(name, name)
    path = Path(target).expanduser()
    if path.exists():
        return path
    if target.startswith((".", "/", "~")) or target.count("/") != 1:
        known = ", ".join(sorted(aliases(kind))) or "none"
        raise UsageError(
            f"{kind} model {name!r} is neither a known alias, an existing path, nor a hub id (org/name)",
            hint=f"aliases: {known}",
        )
    return hub_snapshot(target, allow_patterns, label=name)


def hub_snapshot(
    repo_id: str, allow_patterns: list[str] | None = None, label: str | None = None, revision: str | None = None,
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
