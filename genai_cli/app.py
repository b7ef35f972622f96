"""The Typer app: command groups, and the one error boundary.

Command modules import only typer and the standard library at the top; anything
heavy (numpy, torch, transformers, diffusers, gensim) is imported inside the
command body, so `genai --help` stays fast and imports none of them.
"""

from __future__ import annotations

import os
import sys

import typer
from typer.core import TyperGroup

from genai_cli import __version__
from genai_cli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, GenaiError


def _debug() -> bool:
    return os.environ.get("GENAI_DEBUG", "").lower() not in ("", "0", "false", "no")


# Command groups, loaded lazily: `genai embed ...` imports and builds only genai_cli.commands.embed.
# name -> module holding a `app = typer.Typer(...)`
COMMAND_GROUPS = {
    "config": "genai_cli.commands.config_cmd",
    "embed": "genai_cli.commands.embed",
    "conv": "genai_cli.commands.conv",
    "toy": "genai_cli.commands.toy",
}
# Single commands, loaded lazily: name -> (module, function)
COMMANDS = {
    "imagine": ("genai_cli.commands.imagine", "imagine"),
    "anatomy": ("genai_cli.commands.anatomy", "anatomy"),
    "diffuse": ("genai_cli.commands.diffuse", "diffuse"),
    "info": ("genai_cli.commands.info", "info"),
    "invert": ("genai_cli.commands.invert", "invert"),
    "generate": ("genai_cli.commands.text", "generate"),
    "chat": ("genai_cli.commands.text", "chat"),
    "next": ("genai_cli.commands.text", "next_token"),
    "attention": ("genai_cli.commands.text", "attention"),
}


class GenaiGroup(TyperGroup):
    """The root command: lazy command groups, and the error boundary around every command.

    GenaiError -> its message and hint on stderr, its exit code (2 for bad input).
    KeyboardInterrupt -> exit 130 (typer does this for us). Any other exception ->
    a one-line message and exit 1; GENAI_DEBUG=1 shows the traceback instead.
    """

    def list_commands(self, ctx) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_GROUPS) | set(COMMANDS))

    def get_command(self, ctx, name: str):
        import importlib

        if name in COMMAND_GROUPS:
            module = importlib.import_module(COMMAND_GROUPS[name])
            return LazyCommands(module.app, name=name, help=module.app.info.help, no_args_is_help=True)
        if name in COMMANDS:
            module_name, function = COMMANDS[name]
            single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            single.command(name)(getattr(importlib.import_module(module_name), function))
            return typer.main.get_command(single)
        return super().get_command(ctx, name)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except GenaiError as e:
            if _debug():
                raise
            from genai_cli import console

            console.error(e.message, e.hint)
            raise typer.Exit(e.exit_code) from None
        except BrokenPipeError:
            _silence_stdout()
            raise typer.Exit(EXIT_FAILURE) from None
        except Exception as e:  # the boundary: nothing escapes as a raw traceback
            if _debug() or getattr(e, "__module__", "").startswith(("typer", "click")):
                raise
            from genai_cli import console

            console.error(f"{type(e).__name__}: {e}", "run again with GENAI_DEBUG=1 to see the traceback")
            raise typer.Exit(EXIT_FAILURE) from None


class LazyCommands(TyperGroup):
    """A command group that builds only the command being run.

    Typer turns every command of a group into a click command (inspecting each signature)
    before running one; for `genai embed analogy` that was most of the startup time.
    """

    def __init__(self, typer_app: typer.Typer, **kwargs):
        super().__init__(**kwargs)
        self._infos = {
            info.name or info.callback.__name__.lower().replace("_", "-"): info for info in typer_app.registered_commands
        }

    def list_commands(self, ctx) -> list[str]:
        return list(self._infos)

    def get_command(self, ctx, name: str):
        info = self._infos.get(name)
        if info is None:
            return None
        single = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
        single.registered_commands.append(info)
        return typer.main.get_command(single)


def _silence_stdout() -> None:
    """The reader of our stdout went away (`genai ... | head`): stop writing, quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


app = typer.Typer(
    name="genai",
    cls=GenaiGroup,
    help="Run the ideas of an introductory generative-AI talk on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"genai {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", callback=_version, is_eager=True),
) -> None:
    """Run the ideas of an introductory generative-AI talk on your own machine."""


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="genai")
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_FAILURE)
