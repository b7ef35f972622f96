"""The one way a command reads its queries (words, prompts, captions): from the arguments, else a file option
where the command has one, else stdin.

Where the queries come from
  * the command-line argument(s), when given: one query;
  * else the command's file option (`imagine --prompts-file`): one query per line;
  * else stdin, when the argument is `-`, or when there is no argument and stdin is a pipe or a file:
    one query per line. Blank lines are skipped.

How they are answered
  * Each query is answered as soon as its line is read, and each answer is flushed, so a pipeline sees the
    answers as they come. (A command that must know every query before it starts, as `imagine` does to plan
    its jobs, reads them all first; it then refuses the whole input at its first bad line, before any work.)
  * A bad line does not stop the others: a line longer than the command's limit, a line that is not UTF-8,
    or a query the command refuses (a UsageError: an unknown word, a malformed caption) is reported and the
    next line is read. The report is one `error: line N: ...` line on stderr, or with --json one JSON
    object on stdout in place of the answer: `{"error": "...", "line": N, "query": ...}` (plus "hint" and
    "suggestions" when the command gives them; "query" is null for a line that could not be read).
  * The exit code is then 2, after every line has been tried (stderr also says how many failed).
  * One query from the command line that is refused is, with --json, the same JSON object on stdout
    (without "line"), exit 2; without --json it is the usual `error:` line.
  * An empty stdin (or one with blank lines only) is an error that says so: `no prompt given: stdin was
    empty`, exit 2. So is a closed stdin (`genai ... <&-`): `stdin is closed`.
  * Limits: each command keeps its own bound on the characters of one line and on the number of queries
    in one run (a longer line is skipped unread; past the count the run stops with exit 2), so a huge
    input is never read whole.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer

MAX_LINE_CHARS = 10_000  # default bound on one line (a command may pass its own)
MAX_QUERIES = 10_000_000  # default bound on the queries of one run
_SKIP_CHUNK = 1 << 16  # bytes read at a time while skipping the rest of a line that is too long

Args = None | str | Sequence[str]


def wants_stdin(args: Args, file: Any = None) -> bool:
    """Whether the queries come from stdin: the argument `-`, or no argument and no file option with a
    piped stdin (a closed stdin is "no input", not a crash)."""
    if args == "-" or (not isinstance(args, str) and args is not None and list(args) == ["-"]):
        return file is None
    if args or file is not None:
        return False
    from genai_cli.commands.common import stdin_has_input

    return stdin_has_input()


def report(error, as_json: bool, query: Any = None, line: int | None = None, where: str = "") -> None:
    """Report one refused query: an `error:` line on stderr, or with --json an error object on stdout."""
    from genai_cli import console

    message = error.message if hasattr(error, "message") else str(error)
    hint = getattr(error, "hint", None)
    if as_json:
        obj: dict[str, Any] = {"error": message}
        if line is not None:
            obj["line"] = line
        obj["query"] = query
        if hint:
            obj["hint"] = hint
        if getattr(error, "suggestions", None):
            obj["suggestions"] = error.suggestions
        console.result_json(obj)
    else:
        prefix = f"{where + ' ' if where else ''}line {line}: " if line is not None else ""
        console.error(prefix + message, hint)


@contextmanager
def single(query: Any, as_json: bool):
    """Around the answer to a query from the command line: with --json a refusal is a JSON error object
    on stdout and exit 2; without, the UsageError goes on to the usual `error:` line."""
    from genai_cli.errors import EXIT_USAGE, UsageError

    try:
        yield
    except UsageError as e:
        if not as_json:
            raise
        report(e, True, query=query)
        raise typer.Exit(EXIT_USAGE) from None


class Queries:
    """The queries of one run, read one line at a time from stdin (or a file opened in binary mode).

    Iterate it for `(line_number, text)` of each good line (stripped of its line end; blank lines skipped);
    lines that cannot be read are reported as they come. Call `fail(...)` for a query the command refuses,
    and `finish()` at the end: it raises the empty-input error, or exit 2 when a line failed.
    """

    def __init__(
        self,
        what: str,
        as_json: bool,
        *,
        stream=None,
        source: str = "stdin",
        hint: str = "",
        max_chars: int = MAX_LINE_CHARS,
        max_queries: int = MAX_QUERIES,
    ):
        from genai_cli.errors import UsageError

        if stream is None:
            stream = sys.stdin
            if stream is None:
                raise UsageError(f"no {what} given: stdin is closed", hint=hint or None)
        self.stream, self.what, self.as_json, self.source, self.hint = stream, what, as_json, source, hint
        self.max_chars, self.max_queries = max_chars, max_queries
        self.read = self.failed = 0

    def __iter__(self) -> Iterator[tuple[int, str]]:
        from genai_cli.errors import UsageError

        for number, text, problem in _lines(self.stream, self.max_chars):
            if problem is not None:
                self.read += 1
                self.fail(number, None, problem)
                continue
            if not text.strip():
                continue
            self.read += 1
            if self.read > self.max_queries:
                raise UsageError(
                    f"{self.source}: more than {self.max_queries:,} {self.what}s", hint="split them between runs"
                )
            yield number, text

    def fail(self, line: int, query: Any, error) -> None:
        """Report a refused query (a UsageError, or a message) and go on."""
        self.failed += 1
        report(error, self.as_json, query=query, line=line, where="" if self.source == "stdin" else self.source)

    def finish(self) -> None:
        from genai_cli import console
        from genai_cli.errors import EXIT_USAGE, UsageError

        if not self.read:
            raise UsageError(f"no {self.what} given: {self.source} was empty", hint=self.hint or None)
        if self.failed:
            console.info(f"{self.failed} of {self.read} lines failed")
            raise typer.Exit(EXIT_USAGE)


def run(
    args: Args,
    answer: Callable[[Any], None],
    *,
    as_json: bool,
    what: str,
    usage: str = "",
    hint: str = "",
    parse: Callable[[str], Any] = lambda line: line,
    max_chars: int = MAX_LINE_CHARS,
    max_queries: int = MAX_QUERIES,
) -> None:
    """Answer the query on the command line, or each line of stdin (see the module's docstring).

    `answer(query)` prints its own result and raises UsageError for a query it refuses; `parse(line)` turns a
    stdin line into a query (default: the line itself; embed splits it into words). `args` is the command's
    positional value: a string, a list of words (one query), `-`, or None."""
    from genai_cli.errors import UsageError

    if not wants_stdin(args):
        if not args:  # nothing on the command line, and stdin is a terminal or closed
            said = f"; {usage}" if usage else ""
            closed = f": stdin is closed{said}" if sys.stdin is None else (f": {usage}" if usage else "")
            raise UsageError(f"no {what} given{closed}", hint=hint or None)
        query = args if isinstance(args, str) else list(args)
        with single(query, as_json):
            answer(query)
        return
    q = Queries(what, as_json, hint=hint, max_chars=max_chars, max_queries=max_queries)
    for number, text in q:
        query = text
        try:
            query = parse(text)
            answer(query)
        except UsageError as e:
            q.fail(number, query, e)
    q.finish()


def read_all(
    what: str,
    *,
    stream=None,
    source: str = "stdin",
    hint: str = "",
    max_chars: int = MAX_LINE_CHARS,
    max_queries: int = MAX_QUERIES,
) -> list[str]:
    """Every query of stdin (or of a file opened in binary mode), stripped, blank lines skipped: for a command
    that must know them all before it starts. Nothing has been answered yet, so the first bad line refuses the
    whole input (one `error:` line naming the source and the line, exit 2), as does an empty or closed stdin."""
    from genai_cli.errors import UsageError

    if stream is None:
        stream = sys.stdin
        if stream is None:
            raise UsageError(f"no {what} given: stdin is closed", hint=hint or None)
    texts: list[str] = []
    for number, text, problem in _lines(stream, max_chars):
        if problem is not None:
            raise UsageError(
                f"{source}: line {number} is {problem}", hint="nothing was done: fix that line and run again"
            )
        if text.strip():
            texts.append(text.strip())
            if len(texts) > max_queries:
                raise UsageError(f"{source}: more than {max_queries:,} {what}s", hint="split them between runs")
    if not texts:
        raise UsageError(f"no {what} given: {source} was empty", hint=hint or None)
    return texts


def _lines(stream, max_chars: int) -> Iterator[tuple[int, str | None, str | None]]:
    """(line number, text without its line end, None) for each line, or (number, None, problem) for a line
    that is too long or not UTF-8. Reads bytes (a bad line does not spoil the next); never more than about
    4 * max_chars bytes of one line are held."""
    raw = getattr(stream, "buffer", stream)
    limit = 4 * max_chars + 2  # bytes: a UTF-8 character is at most 4
    too_long = f"longer than {max_chars:,} characters"
    number = 0
    while True:
        try:
            chunk = raw.readline(limit)
        except UnicodeDecodeError:  # a text stream with no byte buffer under it: the rest cannot be trusted
            yield number + 1, None, "not UTF-8 text"
            return
        if not chunk:
            return
        number += 1
        if isinstance(chunk, str):
            text = chunk
        else:
            if len(chunk) >= limit and not chunk.endswith(b"\n"):
                while True:  # skip the rest of the line without keeping it
                    more = raw.readline(_SKIP_CHUNK)
                    if not more or more.endswith(b"\n"):
                        break
                yield number, None, too_long
                continue
            try:
                text = chunk.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError:
                yield number, None, "not UTF-8 text"
                continue
        text = text.rstrip("\r\n")
        if len(text) > max_chars:
            yield number, None, too_long
            continue
        yield number, text, None
