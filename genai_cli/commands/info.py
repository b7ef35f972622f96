"""`genai info`: what is inside a PNG or safetensors file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from genai_cli.commands.common import JsonOpt


def info(
    files: Annotated[list[Path], typer.Argument(help="PNG or safetensors files.", show_default=False)],
    json_out: JsonOpt = False,
) -> None:
    """Show the recipe of a PNG (A1111 parameters, genai config) or the tensors and metadata of a safetensors file."""
    from genai_cli import console
    from genai_cli.image import inspect

    for i, f in enumerate(files):
        described = inspect.describe(f)
        if json_out:
            console.result_json(described)
        else:
            console.result(("\n" if i else "") + inspect.as_text(described))
