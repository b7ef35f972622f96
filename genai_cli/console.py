"""Where output goes.

Results go to stdout, as plain text or JSON, flushed one answer at a time so that
pipelines see each answer as soon as it exists. Everything else (progress, logs,
warnings, errors) goes to stderr through rich. rich is imported on first use so
that commands that print only results do not pay for it.

Tables fit the terminal when stdout is one. In a pipe or a file there is no width to fit, so a
table is printed at its natural width: every header and row on one line, no cell cut short with
an ellipsis. $COLUMNS is ignored there (it describes a terminal, and CI and test runners often set
it to 80); `--json` stays the machine format.

NO_COLOR (https://no-color.org), when set and not empty, turns off every escape on both
consoles: colour and also bold, dim, italic and underline. A progress bar on a terminal is
then drawn by tqdm, which redraws its one line with a carriage return instead of escapes.
"""

from __future__ import annotations

import json
import os
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

_stderr_console = None
_stdout_console = None
_plain_bar = None  # the tqdm bar on stderr while one is shown (NO_COLOR on a terminal)
PIPE_WIDTH = 100_000  # the stdout console's width when stdout is not a terminal: in effect, no limit


def no_color() -> bool:
    """Whether NO_COLOR is set to a non-empty value: then no escape styles any output."""
    return os.environ.get("NO_COLOR", "") != ""


def _styles() -> dict[str, Any]:
    # rich's own NO_COLOR support drops colour but keeps bold, dim, italic and underline;
    # without a colour system rich writes no style escape at all
    return {"color_system": None, "no_color": True} if no_color() else {}


def stderr():
    """The rich console for messages (stderr)."""
    global _stderr_console
    if _stderr_console is None:
        from rich.console import Console

        _stderr_console = Console(stderr=True, highlight=False, soft_wrap=True, **_styles())
    return _stderr_console


def stdout():
    """A rich console on stdout, for results that are tables. No colour when piped.

    On a terminal it is as wide as rich finds it ($COLUMNS, else the terminal's size, else 80).
    Anywhere else it has no real limit (PIPE_WIDTH), whatever $COLUMNS says, and `print_table`
    prints each table at its natural width."""
    global _stdout_console
    if _stdout_console is None:
        from rich.console import Console

        width = None if _isatty(sys.stdout) else PIPE_WIDTH
        _stdout_console = Console(highlight=False, soft_wrap=True, width=width, **_styles())
    return _stdout_console


def reset() -> None:
    """Forget the cached consoles (tests swap sys.stdout/sys.stderr between runs)."""
    global _stderr_console, _stdout_console
    _stderr_console = _stdout_console = None


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # replaced or closed streams
        return False


@contextmanager
def _above_plain_bar(stream: Any) -> Iterator[None]:
    """Lift a shown tqdm bar while a line is written to the terminal it is drawn on, then redraw it."""
    if _plain_bar is None or not _isatty(stream):
        yield
        return
    from tqdm import tqdm

    with tqdm.external_write_mode(file=sys.stderr):
        yield


# --- results (stdout) -------------------------------------------------------------------


def result(text: str) -> None:
    """Write one result line to stdout and flush it."""
    with _above_plain_bar(sys.stdout):
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def result_json(obj: Any) -> None:
    """Write one JSON object on one line to stdout and flush it."""
    result(json.dumps(obj, ensure_ascii=False, default=_json_default))


def emit(obj: Any, text: str | Callable[[], str], as_json: bool) -> None:
    """Write a result as JSON (`obj`) or as text (`text`, or a function making it)."""
    if as_json:
        result_json(obj)
    else:
        result(text() if callable(text) else text)


def _json_default(o: Any) -> Any:
    # numpy scalars and arrays, paths
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def print_table(table: Any) -> None:
    """Print a rich renderable (a table) as a result on stdout: fitted to the terminal when stdout is
    one, else at its natural width (measured, so that a renderable that would expand does not fill PIPE_WIDTH)."""
    out = stdout()
    width = None if _isatty(sys.stdout) else max(1, out.measure(table).maximum)
    with _above_plain_bar(sys.stdout):
        out.print(table, width=width)
        sys.stdout.flush()


# --- messages (stderr) ------------------------------------------------------------------


def _say(markup: str) -> None:
    with _above_plain_bar(sys.stderr):
        stderr().print(markup)


def info(message: str) -> None:
    _say(f"[dim]{_escape(message)}[/dim]")


def warn(message: str) -> None:
    _say(f"[yellow]warning:[/yellow] {_escape(message)}")


def error(message: str, hint: str | None = None) -> None:
    _say(f"[bold red]error:[/bold red] {_escape(message)}")
    if hint:
        _say(f"[dim]hint:[/dim] {_escape(hint)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextmanager
def progress(description: str, total: float | None = None) -> Iterator[Callable[..., None]]:
    """A progress bar on stderr when stderr is a terminal. Yields `advance(n=1, total=None, description=None)`.

    Core code never sees rich: the command layer passes `advance` to it as a callback.
    Results keep going to stdout while the bar is shown (rich would otherwise capture what is
    written to sys.stdout and print it on the terminal when only stderr is one); only when
    stdout is itself a terminal are they printed above the bar, so that they do not tear it.
    """
    if not stderr().is_terminal:  # a log file or a pipe: no bar, not even its final state
        yield lambda n=1, total=None, description=None: None
        return
    if no_color():
        with _tqdm_progress(description, total) as advance:
            yield advance
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=stderr(),
        transient=False,
        redirect_stdout=_isatty(sys.stdout),
        redirect_stderr=True,  # stray writes to sys.stderr are printed above the bar
    ) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: float = 1, total: float | None = None, description: str | None = None) -> None:
            kwargs: dict[str, Any] = {}
            if total is not None:
                kwargs["total"] = total
            if description is not None:
                kwargs["description"] = description
            bar.update(task, advance=n, **kwargs)

        yield advance


@contextmanager
def _tqdm_progress(description: str, total: float | None) -> Iterator[Callable[..., None]]:
    """The NO_COLOR bar: tqdm draws one line and redraws it after a carriage return, no escapes."""
    global _plain_bar
    from tqdm import tqdm

    def fmt(total: float | None) -> str | None:
        if total is None or float(total).is_integer():
            return None  # tqdm's own: "desc:  40%|████      | 2/5 [00:01<00:01,  2.00it/s]"
        return "{desc}: {percentage:3.0f}%|{bar}| {n:.1f}/{total:.1f} [{elapsed}<{remaining}]"

    try:
        sized = min(os.get_terminal_size(sys.stderr.fileno())) > 0
    except (AttributeError, ValueError, OSError):
        sized = False
    # follow the terminal's size as it changes; a terminal that reports none gets rich's size
    # ($COLUMNS x $LINES, else 80 x 25), since tqdm draws nothing at all in 0 columns or 0 rows
    width = {"dynamic_ncols": True} if sized else {"ncols": stderr().width, "nrows": stderr().height}
    bar = tqdm(
        total=total,
        desc=description,
        file=sys.stderr,
        leave=True,
        bar_format=fmt(total),
        ascii=False,
        colour=None,
        **width,
    )
    _plain_bar = bar
    try:

        def advance(n: float = 1, total: float | None = None, description: str | None = None) -> None:
            if total is not None:
                bar.total = total
                bar.bar_format = fmt(total)
            if description is not None:
                bar.set_description_str(description, refresh=False)
            bar.update(n)

        yield advance
    finally:
        _plain_bar = None
        bar.close()
