"""Where output goes.

Results go to stdout, as plain text or JSON, flushed one answer at a time so that
pipelines see each answer as soon as it exists. Everything else (progress, logs,
warnings, errors) goes to stderr through rich. rich is imported on first use so
that commands that print only results do not pay for it.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Any, Callable, Iterator

_stderr_console = None
_stdout_console = None


def stderr():
    """The rich console for messages (stderr)."""
    global _stderr_console
    if _stderr_console is None:
        from rich.console import Console

        _stderr_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _stderr_console


def stdout():
    """A rich console on stdout, for results that are tables. No colour when piped."""
    global _stdout_console
    if _stdout_console is None:
        from rich.console import Console

        _stdout_console = Console(highlight=False, soft_wrap=True)
    return _stdout_console


def reset() -> None:
    """Forget the cached consoles (tests swap sys.stdout/sys.stderr between runs)."""
    global _stderr_console, _stdout_console
    _stderr_console = _stdout_console = None


# --- results (stdout) -------------------------------------------------------------------


def result(text: str) -> None:
    """Write one result line to stdout and flush it."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def result_json(obj: Any) -> None:
    """Write one JSON object on one line to stdout and flush it."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=_json_default) + "\n")
    sys.stdout.flush()


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
    """Print a rich renderable (a table) as a result on stdout."""
    stdout().print(table)
    sys.stdout.flush()


# --- messages (stderr) ------------------------------------------------------------------


def info(message: str) -> None:
    stderr().print(f"[dim]{_escape(message)}[/dim]")


def warn(message: str) -> None:
    stderr().print(f"[yellow]warning:[/yellow] {_escape(message)}")


def error(message: str, hint: str | None = None) -> None:
    stderr().print(f"[bold red]error:[/bold red] {_escape(message)}")
    if hint:
        stderr().print(f"[dim]hint:[/dim] {_escape(hint)}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


@contextmanager
def progress(description: str, total: float | None = None) -> Iterator[Callable[..., None]]:
    """A rich progress bar on stderr. Yields `advance(n=1, total=None, description=None)`.

    Core code never sees rich: the command layer passes `advance` to it as a callback.
    """
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
