"""Writing result files so that nothing is lost (DESIGN.md, "Nothing is lost").

A file is written in full under a temporary name in its folder, then published under its
real name in one step. Without `force` an existing file is never replaced: the first free
name of `name.png`, `name-1.png`, `name-2.png` ... is claimed atomically (a hard link fails
if the name exists, even when another process just took it).
"""

from __future__ import annotations

import os
from pathlib import Path


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


def free_path(path: Path) -> Path:
    """The name `publish` would choose now (for messages printed before writing)."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    return candidate


def save_figure(fig, path: Path, force: bool = False, **savefig_kwargs) -> Path:
    """Save a matplotlib figure as PNG through a temp name, close it, and `publish` it."""
    import matplotlib.pyplot as plt

    tmp = temp_path(path)
    try:
        fig.savefig(tmp, format="png", **savefig_kwargs)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        plt.close(fig)
    return publish(tmp, path, force)
