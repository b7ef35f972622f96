"""Options shared by many commands, declared once (as the `hf` CLI does), and small shared helpers.

One spelling per idea, in every command (tests/test_command_surface.py checks it):

    -n, --n          how many (images, timesteps ...)
    -o, --out        where results go: a file, or a folder
    --force          replace an existing output
    --seed           the seed (0 .. 2**32-1)
    --json           machine-readable output on stdout
    -c, --config     a YAML config file
    -m, --model      the model
    --device, --precision

Where the help differs between commands (what is counted, what --out holds), the command calls the
factory (`n_option("Images per prompt.")`); the names, short alias, type limits and help shape come from here.

A help text may end with "(config: section.key)": `--help` shows it as "[default: VALUE]", VALUE read
from the merged configuration (genai_cli/app.py). Several keys, "(config: image.seed, runtime.seed)",
show the first one that is set.

An explicit output FILE that exists is refused (exit 2, "use --force to replace it") unless --force is
given: `refuse_existing_file`. An output FOLDER never collides: new files in it get fresh names
(`name-1.png`) unless --force.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from genai_cli.seeds import MAX_SEED  # the one seed range (genai_cli/seeds.py: no heavy imports)

HELP_FORCE_FILE = "Replace --out if it exists (without --force, an existing file is refused)."
HELP_FORCE_FOLDER = "Replace files of the same name in --out (without --force, fresh names are chosen)."


def _with_config(help: str, config: Optional[str]) -> str:
    return f"{help} (config: {config})" if config else help


def n_option(help: str, config: Optional[str] = None, **kw: Any) -> Any:
    """-n/--n: how many."""
    return typer.Option("--n", "-n", help=_with_config(help, config), show_default=config is None, **kw)


def out_option(help: str, config: Optional[str] = None, **kw: Any) -> Any:
    """-o/--out: where results go (a file or a folder: say which in `help`)."""
    return typer.Option("--out", "-o", help=_with_config(help, config), show_default=config is None, **kw)


def force_option(help: str = HELP_FORCE_FILE) -> Any:
    """--force: replace an existing output (HELP_FORCE_FILE for a file, HELP_FORCE_FOLDER for a folder)."""
    return typer.Option("--force", help=help)


def seed_option(
    help: str = "Seed for reproducible results; unset: a fresh random seed, printed on stderr.",
    config: Optional[str] = "runtime.seed",
) -> Any:
    """--seed, 0 .. 2**32-1."""
    return typer.Option("--seed", min=0, max=MAX_SEED, help=_with_config(help, config), show_default=config is None)


def model_option(help: str, config: Optional[str] = None, **kw: Any) -> Any:
    """-m/--model: which model (say which names it takes in `help`)."""
    return typer.Option("--model", "-m", help=_with_config(help, config), show_default=config is None, **kw)


ConfigOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--config", "-c", help="A YAML config file, layered over the defaults and your user config.", show_default=False
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")]
DeviceOpt = Annotated[
    Optional[str],
    typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps. (config: runtime.device)", show_default=False),
]
PrecisionOpt = Annotated[
    Optional[str],
    typer.Option("--precision", help="auto, fp32, fp16 or bf16. (config: runtime.precision)", show_default=False),
]
SeedOpt = Annotated[Optional[int], seed_option()]
ForceOpt = Annotated[bool, force_option()]
ForceFolderOpt = Annotated[bool, force_option(HELP_FORCE_FOLDER)]


def refuse_existing_file(path: Optional[Path], force: bool, flag: str = "--out") -> None:
    """The one rule for an explicit output file (-o/--out FILE): if it exists, exit 2 naming it, unless --force."""
    if path is None or force:
        return
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        from genai_cli.errors import UsageError

        raise UsageError(f"{flag} {path} exists", hint="use --force to replace it")


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
