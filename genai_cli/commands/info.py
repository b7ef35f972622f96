"""`genai info`: the recipe inside an image, or what is inside a safetensors file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genai_cli.commands.common import JsonOpt

MAX_FOLDER_FILES = 100_000  # files looked at under the folders given (a photo library, not a disk)


def info(
    files: Annotated[
        list[Path],
        typer.Argument(help="Images (PNG, JPEG, WEBP), safetensors files, or folders of images.", show_default=False),
    ],
    json_out: JsonOpt = False,
    raw: Annotated[
        bool, typer.Option("--raw", help="Also show the raw metadata chunks the recipe was read from.")
    ] = False,
) -> None:
    """Show an image's recipe (prompt, seed, steps, sampler ... as written by genai, AUTOMATIC1111,
    ComfyUI, Fooocus, InvokeAI or NovelAI) or a safetensors file's tensors and metadata.

    One file: a full report. Several files or a folder (searched recursively): one line per image,
    tab-separated (file, generator, seed, steps, guidance, sampler, size, model, prompt), or one JSON
    object per line with --json.
    """
    from genai_cli import console
    from genai_cli.errors import GenaiError
    from genai_cli.image import inspect

    if len(files) == 1 and not files[0].is_dir():
        described = inspect.describe(files[0], raw)
        console.emit(described, lambda: inspect.as_text(described), json_out)
        return

    skipped = failed = 0
    named_failed = False
    for path, named in _walk(files):
        if not named:
            try:
                kind = inspect.sniff(path)
            except OSError:
                kind = None
            if kind not in ("png", "jpeg", "webp"):
                skipped += 1
                continue
        try:
            described = inspect.describe(path, raw)
        except GenaiError as e:
            console.warn(e.message)
            failed += 1
            named_failed = named_failed or named
            continue
        console.emit(described, lambda described=described: inspect.as_line(described), json_out)
    if skipped:
        console.info(f"skipped {skipped} file(s) that are not images")
    if failed:
        console.warn(f"{failed} file(s) could not be read")
    if named_failed:
        from genai_cli.errors import EXIT_USAGE

        raise typer.Exit(EXIT_USAGE)


def _walk(paths: list[Path]):
    """(path, named) for each file given, and each regular, non-hidden file under each folder given,
    in sorted order; symlinked folders are not followed. More than MAX_FOLDER_FILES is an error."""
    import os

    from genai_cli.errors import UsageError
    from genai_cli.image.inspect import escape

    found: list[tuple[Path, bool]] = []
    for p in paths:
        if not p.is_dir():
            found.append((p, True))
            continue
        for root, dirs, names in os.walk(p):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                f = Path(root) / name
                if name.startswith(".") or not f.is_file():
                    continue
                found.append((f, False))
                if len(found) > MAX_FOLDER_FILES:
                    raise UsageError(f"{escape(p)}: more than {MAX_FOLDER_FILES:,} files", hint="name a smaller folder")
    return found
