"""The Typer app: command groups, and the one error boundary.

Command modules import only typer and the standard library at the top; anything
heavy (numpy, torch, transformers, diffusers, gensim) is imported inside the
command body, so `genai --help` stays fast and imports none of them.
"""

from __future__ import annotations

import os
import re
import sys

import typer
from typer._click.exceptions import NoArgsIsHelpError, UsageError
from typer.core import TyperCommand, TyperGroup

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


# --- help that reads cleanly at 80 columns -----------------------------------------------
#
# Help is click's plain formatter (typer's rich tables truncate names and defaults at 80
# columns), with three touches, made by the classes below for every command and group:
# * an option's help may end with "(config: section.key)": it is shown as "[default: VALUE]",
#   VALUE taken from the merged configuration (built-in defaults + the user's config file);
# * the "[...]" after a help text (default, range) is never split over two lines;
# * `code` in help texts reads as 'code'.

_CONFIG_MARK = re.compile(r"\s*\(config: ([\w.]+(?:, [\w.]+)*)\)")
_NBSP = "\u00a0"  # joins the words of a "[...]" so that wrapping cannot split it; a space again on output
_NBHY = "\u2011"  # a hyphen inside a name (word2vec-binary) that wrapping cannot split; "-" again on output
_IN_WORD_HYPHEN = re.compile(r"(?<=\w)-(?=\w)")
_BRACKET_MAX = 40  # a longer "[...]" is wrapped like text


def help_default(param, value) -> str | None:
    """How a configured `value` reads as `param`'s default in --help (None: nothing to show)."""
    if value is None or value == [] or value == "":
        return None
    if isinstance(value, bool):
        if getattr(param, "secondary_opts", None):  # --greedy/--sample: name the flag in effect
            return (param.opts if value else param.secondary_opts)[0].lstrip("-")
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def _config_value(cfg: dict, key: str):
    node = cfg
    for part in key.split("."):
        node = node[part]  # KeyError: a marker naming no key (a test walks every marker)
    return node


def _merged_config() -> dict | None:
    """The merged configuration for help texts; None when it cannot be read (the command says why when run)."""
    try:
        from genai_cli import config

        return config.load()
    except Exception:
        return None


def _with_config_default(param, text: str, cfg: dict | None) -> str:
    match = _CONFIG_MARK.search(text)
    if match:
        text = text[: match.start()] + text[match.end() :]
        shown = None
        if cfg is not None:
            try:  # several keys: the first one that is set (image.seed, then runtime.seed)
                values = [_config_value(cfg, key) for key in match.group(1).split(", ")]
                shown = help_default(param, next((v for v in values if v is not None), None))
            except (KeyError, TypeError):
                shown = None
        if shown is not None:
            head, sep, extra = text.rpartition("  [")
            if sep and text.endswith("]") and "default:" not in extra:
                text = f"{head}  [default: {shown}; {extra}"
            elif not (sep and "default:" in extra):
                text = f"{text}  [default: {shown}]"
    head, sep, extra = text.rpartition("  [")
    if sep and text.endswith("]") and len(extra) < _BRACKET_MAX:
        text = head + sep + extra.replace(" ", _NBSP)
    return _unbreakable_hyphens(text)


def _unbreakable_hyphens(text: str) -> str:
    return _IN_WORD_HYPHEN.sub(_NBHY, text)


def _format_params(cmd, ctx, formatter) -> None:
    """The Arguments and Options sections (as typer's plain help), with configured defaults."""
    cfg = (
        _merged_config()
        if any("(config: " in (p.help or "") for p in cmd.get_params(ctx) if hasattr(p, "help"))
        else None
    )
    args, opts = [], []
    for param in cmd.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, text = record
        row = (names, _with_config_default(param, text, cfg))
        (args if param.param_type_name == "argument" else opts).append(row)
    if args:
        with formatter.section("Arguments"):
            formatter.write_dl(args)
    if opts:
        with formatter.section("Options"):
            formatter.write_dl(opts)


def _first_sentence(text: str) -> str:
    import inspect

    paragraph = " ".join(inspect.cleandoc(text or "").split("\n\n")[0].split())
    match = re.match(r"(.*?[.!?])\s+(?=[A-Z])", paragraph)
    return _unbreakable_hyphens(match.group(1) if match else paragraph)


class _CleanHelp:
    """Plain, 80-column help for a command or group (see above)."""

    def format_help_text(self, ctx, formatter) -> None:
        saved = self.help
        self.help = _unbreakable_hyphens(saved) if saved else saved
        try:
            super().format_help_text(ctx, formatter)
        finally:
            self.help = saved

    def format_options(self, ctx, formatter) -> None:
        _format_params(self, ctx, formatter)
        if isinstance(self, TyperGroup):
            self.format_commands(ctx, formatter)

    def format_commands(self, ctx, formatter) -> None:
        """Each command with its first sentence, wrapped, never cut short with "..."."""
        rows = []
        for name in self.list_commands(ctx):
            cmd = self.get_command(ctx, name)
            if cmd is not None and not cmd.hidden:
                rows.append((name, cmd.short_help or _first_sentence(cmd.help)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_help(self, ctx) -> str:
        return super().get_help(ctx).replace(_NBSP, " ").replace(_NBHY, "-").replace("`", "'")


class GenaiCommand(_CleanHelp, TyperCommand):
    """Every genai command: typer's command with clean 80-column help."""


class _OneLineUsageError(UsageError):
    """A usage error found by click (unknown option, value out of range ...), shown as genai shows bad input:
    one `error:` line naming the option and the value, a hint line, exit 2."""

    def show(self, file=None) -> None:
        from genai_cli import console

        where = self.ctx.command_path if self.ctx is not None else "genai"
        console.error(self.format_message(), f"see '{where} --help'")


def _one_line(e: UsageError) -> UsageError:
    if isinstance(e, (NoArgsIsHelpError, _OneLineUsageError)):  # `genai embed` alone: the help, as click shows it
        return e
    return _OneLineUsageError(e.format_message(), e.ctx)


def _single(info):
    """The click command for one registered command (a typer CommandInfo), built as a GenaiCommand."""
    import copy

    info = copy.copy(info)
    info.cls = GenaiCommand
    single = typer.Typer(add_completion=False, pretty_exceptions_enable=False, rich_markup_mode=None)
    single.registered_commands.append(info)
    return typer.main.get_command(single)


class GenaiGroup(_CleanHelp, TyperGroup):
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
            return LazyCommands(
                module.app, name=name, help=module.app.info.help, no_args_is_help=True, rich_markup_mode=None
            )
        if name in COMMANDS:
            module_name, function = COMMANDS[name]
            callback = getattr(importlib.import_module(module_name), function)
            return _single(typer.models.CommandInfo(name=name, callback=callback))
        return super().get_command(ctx, name)

    def parse_args(self, ctx, args):
        try:
            return super().parse_args(ctx, args)
        except UsageError as e:
            raise _one_line(e) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except UsageError as e:  # a bad flag or value, found by click: the same one error line as ours
            raise _one_line(e) from None
        except GenaiError as e:
            if _debug():  # the traceback, and still the error's own exit code (2 for bad input, not Python's 1)
                import traceback

                traceback.print_exc()
                raise typer.Exit(e.exit_code) from None
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


class LazyCommands(_CleanHelp, TyperGroup):
    """A command group that builds only the command being run.

    Typer turns every command of a group into a click command (inspecting each signature)
    before running one; for `genai embed analogy` that was most of the startup time.
    """

    def __init__(self, typer_app: typer.Typer, **kwargs):
        super().__init__(**kwargs)
        self._infos = {
            info.name or info.callback.__name__.lower().replace("_", "-"): info
            for info in typer_app.registered_commands
        }

    def list_commands(self, ctx) -> list[str]:
        return list(self._infos)

    def get_command(self, ctx, name: str):
        info = self._infos.get(name)
        if info is None:
            return None
        return _single(info)


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
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"genai {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", help="Print the version and exit.", callback=_version, is_eager=True
    ),
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
