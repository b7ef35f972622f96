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


class GenaiGroup(TyperGroup):
    """Runs every command inside the error boundary.

    GenaiError -> its message and hint on stderr, its exit code (2 for bad input).
    KeyboardInterrupt -> exit 130 (typer does this for us). Any other exception ->
    a one-line message and exit 1; GENAI_DEBUG=1 shows the traceback instead.
    """

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


def _register() -> None:
    from genai_cli.commands import config_cmd, embed, text

    app.add_typer(config_cmd.app, name="config")
    app.add_typer(embed.app, name="embed")
    app.command("generate")(text.generate)
    app.command("chat")(text.chat)
    app.command("next")(text.next_token)
    app.command("attention")(text.attention)


_register()


def main() -> None:
    """Console-script entry point."""
    try:
        app(prog_name="genai")
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except BrokenPipeError:
        _silence_stdout()
        sys.exit(EXIT_FAILURE)
