"""Options shared by many commands, declared once (as the `hf` CLI does)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

ConfigOpt = Annotated[
    Optional[Path],
    typer.Option("--config", "-c", help="A YAML config file, layered over the defaults and your user config.", show_default=False),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
DeviceOpt = Annotated[
    Optional[str], typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps. (config: runtime.device)", show_default=False)
]
PrecisionOpt = Annotated[
    Optional[str], typer.Option("--precision", help="auto, fp32, fp16 or bf16. (config: runtime.precision)", show_default=False)
]
SeedOpt = Annotated[
    Optional[int], typer.Option("--seed", min=0, max=2**32 - 1, help="Seed for reproducible results. (config: runtime.seed)", show_default=False)
]


def stdin_has_input() -> bool:
    """True when stdin is a pipe or file to read queries from: not a terminal, and not closed.

    A closed stdin (`genai ... <&-`) leaves `sys.stdin` as None; that is "no input", not a crash.
    """
    import sys

    stdin = sys.stdin
    if stdin is None:
        return False
    try:
        return not stdin.isatty()
    except (ValueError, OSError):  # closed or broken file object
        return False


def setup_runtime(config_file: Optional[Path], device: Optional[str], precision: Optional[str], seed: Optional[int]):
    """Resolve runtime settings (flags over config), set them up, and say on stderr what is used."""
    from genai_cli import config, console, runtime

    rt = config.section("runtime", config_file, device=device, precision=precision, seed=seed)
    result = runtime.setup(rt["device"], rt["precision"], rt["seed"])
    console.info(result.describe())
    return result
