"""OUT/checkpoint/: the state a run continues from (vectors, optimiser state, step, settings), crash-safe.

    checkpoint.tmp/   a new checkpoint being written; its state.json is written last (atomically), so a
                      folder with a state.json holds every file it lists, at the sizes it lists
    checkpoint/       the current one                           checkpoint.old/  the previous one, during a swap

A save writes checkpoint.tmp/ completely, then swaps: checkpoint/ -> checkpoint.old/, checkpoint.tmp/ ->
checkpoint/, and removes checkpoint.old/. A process that dies at any moment leaves at least one complete
checkpoint among the three names; `find` takes the newest complete one (by step) whichever rename came last,
and the next save first finishes an interrupted swap. Nothing here deletes a complete checkpoint unless a
newer complete one exists. Reading is safe: safetensors for the vectors, torch.load(weights_only=True) for
the optimiser state; damaged, oversized or non-finite files are refused with an error that names the file.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError

CHECKPOINT = "checkpoint"
TMP = CHECKPOINT + ".tmp"
OLD = CHECKPOINT + ".old"
NAMES = (CHECKPOINT, TMP, OLD)  # also the order of preference between checkpoints of the same step
VECTORS, OPTIMIZER, STATE = "vectors.safetensors", "optimizer.pt", "state.json"
MAX_STATE_BYTES = 1024 * 1024  # a state.json is about 1 KB; a larger one is not ours
MAX_FILE_BYTES = 64 * 1024 * 1024  # vectors and optimiser moments of at most 64 x 4096 floats are about 3 MB

# what must match for --resume to continue a run (steps may grow, outputs may change): settings of the run, then
# what the run found (the model's label, the images' fingerprint, the number of processes)
RESUME_SETTINGS = (
    "token",
    "init_word",
    "property",
    "num_vectors",
    "lr",
    "batch_size",
    "grad_accum",
    "resolution",
    "repeats",
    "flip",
    "seed",
)
RESUME_KEYS = (*RESUME_SETTINGS, "model", "images_fingerprint", "processes")


def fingerprint(settings: Any, model: str, processes: int, images: str | None = None) -> dict[str, Any]:
    """The run's RESUME_KEYS, as a checkpoint records them. Before the images are read and the resolution is
    known (`images` None, settings.resolution None) those are left out, and `compare` skips them."""
    found = {k: getattr(settings, k) for k in RESUME_SETTINGS}
    found.update(model=model, processes=processes, images_fingerprint=images)
    return {k: v for k, v in found.items() if v is not None or k not in ("resolution", "images_fingerprint")}


def images_fingerprint(folder: Any) -> str:
    """The images' names, pixels and captions, as one short checksum (an invert.data.ImageFolder)."""
    import zlib

    import numpy as np

    crc = 0
    for ex in folder.examples:
        pixels = np.ascontiguousarray(ex.pixels).tobytes()
        crc = zlib.crc32(ex.path.name.encode() + pixels + (ex.caption or "").encode(), crc)
    return f"{len(folder.examples)}:{crc:08x}"


def compare(out: Path, mine: dict[str, Any]) -> dict[str, Any]:
    """The newest checkpoint's state; a UsageError naming every RESUME_KEYS value in `mine` that differs from it."""
    _, state = find(out)
    diff = [k for k in RESUME_KEYS if k in mine and state["settings"].get(k) != mine[k]]
    if diff:
        shown = ", ".join(f"{k}: {state['settings'].get(k)!r} then, {mine[k]!r} now" for k in diff)
        raise UsageError(
            f"--resume: the run in {out} was made with other settings ({shown})",
            hint="resume with the same settings (only --steps and the outputs may change)",
        )
    return state


def holds_run(out: Path) -> bool:
    """Whether `out` holds (part of) a textual-inversion run that a fresh run must not replace."""
    from genai_cli.invert.embeddings import DIFFUSERS_NAME

    return any((out / name).exists() for name in (*NAMES, DIFFUSERS_NAME))


def _state(folder: Path) -> dict[str, Any] | None:
    """The folder's state, None when it is incomplete (no state.json); a UsageError when state.json is damaged."""
    path = folder / STATE
    if not path.is_file():
        return None
    from genai_cli.files import require_regular_file

    require_regular_file(path, "checkpoint state")
    try:
        if path.stat().st_size > MAX_STATE_BYTES:
            raise ValueError(f"{path.stat().st_size} bytes")
        state = json.loads(path.read_text(encoding="utf-8"))
        step = state["step"]
        if (
            not isinstance(state, dict)
            or isinstance(step, bool)
            or not isinstance(step, int)
            or step < 0
            or not isinstance(state.get("settings"), dict)
            or not isinstance(state.get("files", {}), dict)
        ):
            raise ValueError("not a genai checkpoint state")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(
            f"damaged checkpoint file {path} ({str(e).splitlines()[0][:80] if str(e) else 'unreadable'})",
            hint="resume from another copy of the run, or start again with --force",
        ) from None
    return state


def candidates(out: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The complete checkpoints in `out`, newest first."""
    found = [(out / name, _state(out / name)) for name in NAMES if (out / name).is_dir()]
    complete = [(folder, state) for folder, state in found if state is not None]
    return sorted(complete, key=lambda fs: (-fs[1]["step"], NAMES.index(fs[0].name)))


def find(out: Path) -> tuple[Path, dict[str, Any]]:
    """The newest complete checkpoint in `out` -> (folder, state); a UsageError naming `out` if there is none."""
    found = candidates(out) if out.is_dir() else []
    if not found:
        raise UsageError(
            f"--resume: no checkpoint in {out}", hint="start without --resume, or give the --out of the run"
        )
    return found[0]


# --- writing --------------------------------------------------------------------------------------------------


def _fsync(path: Path) -> None:
    """Flush a file (or a folder's entries) to the disk, so a rename never publishes unwritten data."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # folders cannot be opened on some systems; the rename is still atomic there
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _swap(out: Path) -> None:
    """checkpoint.tmp/ (complete) becomes checkpoint/; at every moment a complete checkpoint exists."""
    current, tmp, old = out / CHECKPOINT, out / TMP, out / OLD
    shutil.rmtree(old, ignore_errors=True)  # never the newest: settle() or the save before made sure
    if current.exists():
        current.rename(old)
    tmp.rename(current)
    _fsync(out)
    shutil.rmtree(old, ignore_errors=True)


def settle(out: Path) -> None:
    """Finish a swap a crash interrupted: afterwards checkpoint/ is the newest complete checkpoint (if any)."""
    found = candidates(out)
    if not found or found[0][0].name == CHECKPOINT:
        return
    best = found[0][0]
    if best.name == TMP:
        _swap(out)
    else:  # checkpoint.old/ is the newest: checkpoint/ is missing or incomplete, checkpoint.tmp/ too
        shutil.rmtree(out / TMP, ignore_errors=True)
        shutil.rmtree(out / CHECKPOINT, ignore_errors=True)
        best.rename(out / CHECKPOINT)
        _fsync(out)


def save(
    out: Path, step: int, vectors: Any, optimizer_state: dict | None, settings: dict[str, Any], version: str
) -> Path:
    """Write a checkpoint of `step` and make it the current one -> OUT/checkpoint."""
    import torch
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    settle(out)
    tmp = out / TMP
    shutil.rmtree(tmp, ignore_errors=True)  # an unfinished write (settle() promoted a finished one)
    tmp.mkdir()
    save_file({"vectors": vectors.detach().float().cpu().contiguous()}, str(tmp / VECTORS))
    if optimizer_state is not None:
        torch.save(optimizer_state, tmp / OPTIMIZER)
    files = {}
    for name in (VECTORS, OPTIMIZER):
        if (tmp / name).exists():
            _fsync(tmp / name)
            files[name] = (tmp / name).stat().st_size
    state = {"step": step, "settings": settings, "files": files, "genai": version}
    part = tmp / (STATE + ".part")
    part.write_text(json.dumps(state, indent=1) + "\n")
    _fsync(part)
    part.rename(tmp / STATE)  # the folder is complete from here on
    _fsync(tmp)
    _swap(out)
    return out / CHECKPOINT


# --- reading --------------------------------------------------------------------------------------------------


def _check_size(folder: Path, name: str, state: dict[str, Any]) -> Path:
    from genai_cli.files import require_regular_file

    path = require_regular_file(folder / name, "checkpoint file")
    size = path.stat().st_size
    want = state.get("files", {}).get(name)
    if size > MAX_FILE_BYTES or (isinstance(want, int) and size != want):
        shown = f"{size} bytes, the checkpoint recorded {want}" if isinstance(want, int) else f"{size} bytes"
        raise UsageError(
            f"damaged checkpoint file {path} ({shown})",
            hint="resume from another copy of the run, or start again with --force",
        )
    return path


def _non_finite(value: Any) -> str | None:
    """'nan' or 'inf' if a tensor or float anywhere in `value` is not finite, else None."""
    import torch

    if isinstance(value, torch.Tensor):
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            return "nan" if bool(torch.isnan(value).any()) else "inf"
    elif isinstance(value, float) and not math.isfinite(value):
        return str(value)
    elif isinstance(value, dict):
        return next((r for r in map(_non_finite, value.values()) if r), None)
    elif isinstance(value, (list, tuple)):
        return next((r for r in map(_non_finite, value) if r), None)
    return None


def load(folder: Path, state: dict[str, Any], shape: tuple[int, int | None]) -> tuple[Any, dict | None]:
    """The checkpoint's vectors (shape `shape`, finite) and optimiser state (or None) -> (tensor, dict | None).

    `shape` (num_vectors, None) checks all but the width: what the command does before the model loads."""
    import torch
    from safetensors.torch import load_file

    path = _check_size(folder, VECTORS, state)
    try:
        data = load_file(str(path))
        vectors = data["vectors"]
    except Exception as e:  # safetensors raises its own error type for damaged files; KeyError for a foreign one
        raise UsageError(
            f"damaged checkpoint file {path} ({str(e).splitlines()[0][:100] if str(e) else type(e).__name__})",
            hint="resume from another copy of the run, or start again with --force",
        ) from None
    fits = vectors.ndim == 2 and all(want is None or got == want for got, want in zip(vectors.shape, shape))
    if set(data) != {"vectors"} or not vectors.is_floating_point() or not fits:
        shown = "x".join("dim" if n is None else str(n) for n in shape)
        raise UsageError(
            f"checkpoint file {path} holds {', '.join(f'{k} {tuple(v.shape)}' for k, v in data.items())}, "
            f"not vectors of shape {shown}"
        )
    bad = _non_finite(vectors)
    if bad:
        raise UsageError(f"checkpoint file {path}: its vectors hold {bad}", hint="start again with --force")
    optimizer_state = None
    if (folder / OPTIMIZER).exists() or OPTIMIZER in state.get("files", {}):
        opt = _check_size(folder, OPTIMIZER, state)
        try:
            optimizer_state = torch.load(opt, map_location="cpu", weights_only=True)  # tensors and numbers only
        except Exception as e:  # a damaged file, or a pickle that is more than tensors (it runs nothing)
            why = str(e).splitlines()[0][:100] if str(e) else type(e).__name__
            raise UsageError(
                f"damaged or unsafe checkpoint file {opt} ({why})",
                hint="resume from another copy of the run, or start again with --force",
            ) from None
        if not isinstance(optimizer_state, dict) or not {"state", "param_groups"} <= set(optimizer_state):
            raise UsageError(f"checkpoint file {opt} is not an optimiser state")
        bad = _non_finite(optimizer_state)
        if bad:
            raise UsageError(f"checkpoint file {opt}: the optimiser state holds {bad}", hint="start again with --force")
    return vectors.float(), optimizer_state
