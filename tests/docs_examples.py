"""The pure half of the executed documentation (tests/test_docs.py): find the ```console blocks of a
Markdown page with their directives, split them into commands and expected output, and compare that
with what a command printed. No pytest and no subprocess here, so the parser has fast unit tests."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import lru_cache

ELLIPSIS = "..."
FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")
# anything that looks like a directive, typos included (`doc-test`, `docs_test`, `Docs-Tests`), so that a
# misspelt one is an error rather than an HTML comment that silently does nothing
DIRECTIVE_LIKE = re.compile(r"^\s*<!--\s*docs?[-_ ]?tests?\b", re.IGNORECASE)
DIRECTIVE = re.compile(r"^\s*<!-- docs-test: (?P<kind>\S+)(?: (?P<args>.*?))?\s*-->\s*$")
PNG_ARGS = re.compile(r"^(?P<path>\S+) (?P<width>[1-9][0-9]*)x(?P<height>[1-9][0-9]*)$")
# the command itself shows that it may fail: its exit code is printed, or a fallback follows `||`
SHOWS_EXIT = ('echo "exit $?"', "echo exit $?", "|| ")


@dataclass
class Directive:
    line: int  # 1-based line of the page
    kind: str  # "skip" or "png"
    reason: str = ""  # skip
    path: str = ""  # png
    size: tuple[int, int] = (0, 0)  # png: (width, height)


@dataclass
class Command:
    line: int  # 1-based line of the `$ ` line
    text: str  # what bash runs: continuation lines joined with their newlines
    expected: list[str] = field(default_factory=list)

    @property
    def may_fail(self) -> bool:
        return any(s in self.text for s in SHOWS_EXIT)


@dataclass
class Block:
    page: str  # as given, e.g. "README.md" or "docs/embed.md"
    line: int  # 1-based line of the opening fence
    commands: list[Command] = field(default_factory=list)
    directives: list[Directive] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # a malformed block or directive: the test fails with these

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def skip(self) -> Directive | None:
        return next((d for d in self.directives if d.kind == "skip"), None)

    @property
    def pngs(self) -> list[Directive]:
        return [d for d in self.directives if d.kind == "png"]


def parse_directive(text: str, line: int) -> tuple[Directive | None, str | None]:
    """(the directive, None) or (None, why it is malformed)."""
    m = DIRECTIVE.match(text)
    if not m:
        return None, f"line {line}: malformed directive {text.strip()!r} (write `<!-- docs-test: KIND ARGS -->`)"
    kind, args = m["kind"], (m["args"] or "").strip()
    if kind == "skip":
        if not args:
            return None, f"line {line}: `docs-test: skip` needs a reason (a GPU, a hub download)"
        return Directive(line, "skip", reason=args), None
    if kind == "png":
        p = PNG_ARGS.match(args)
        if not p:
            return None, f"line {line}: `docs-test: png` takes PATH WIDTHxHEIGHT, got {args!r}"
        return Directive(line, "png", path=p["path"], size=(int(p["width"]), int(p["height"]))), None
    return None, f"line {line}: unknown directive {kind!r} (known: skip, png)"


def parse_page(text: str, page: str) -> list[Block]:
    """Every ```console block of a Markdown page, in page order. A docs-test directive that is malformed,
    or that stands anywhere but on the lines right before a console block, is reported as a block with an
    error at the directive's line, so that it fails instead of being ignored."""
    lines = text.splitlines()
    blocks: list[Block] = []
    pending: list[tuple[int, str]] = []  # directive-like comments since the last non-comment line
    i = 0
    while i < len(lines):
        raw = lines[i]
        m = FENCE.match(raw)
        if DIRECTIVE_LIKE.match(raw):
            pending.append((i + 1, raw))
            i += 1
            continue
        if not m:
            if raw.strip() and pending:  # a directive followed by text, not by a block
                blocks.extend(_stray(pending, page))
            if raw.strip():
                pending = []
            i += 1
            continue
        # a fence: find its end (same character, at least as long, nothing after it)
        fence, indent, info = m["fence"], len(m["indent"]), m["info"].strip()
        end = i + 1
        close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        body = [_dedent(s, indent) for s in lines[i + 1 : end]]
        language = info.split()[0].lower() if info else ""
        if language == "console":
            block = Block(page, i + 1)
            for line_no, comment in pending:
                d, err = parse_directive(comment, line_no)
                if err:
                    block.errors.append(err)
                elif d.kind == "skip" and block.skip:
                    block.errors.append(f"line {line_no}: a second `docs-test: skip` for one block")
                else:
                    block.directives.append(d)
            _split_commands(block, body, i + 2)
            blocks.append(block)
        elif pending:
            blocks.extend(_stray(pending, page, f"a ```{language or 'plain'} block"))
        pending = []
        i = end + 1
    if pending:
        blocks.extend(_stray(pending, page))
    return blocks


def _stray(pending: list[tuple[int, str]], page: str, before: str = "text") -> list[Block]:
    return [
        Block(
            page, n, errors=[f"line {n}: a docs-test directive must be right before a ```console block, not {before}"]
        )
        for n, _ in pending
    ]


def _dedent(line: str, indent: int) -> str:
    """A block inside a list item is indented like its fence: take that indentation off."""
    head = len(line) - len(line.lstrip(" "))
    return line[min(head, indent) :]


def _split_commands(block: Block, body: list[str], first_line: int) -> None:
    """`$ ` lines are commands (a trailing backslash continues one on the next line); the lines up to the next
    `$ ` line are the command's expected output."""
    current: Command | None = None
    j = 0
    while j < len(body):
        line, line_no = body[j], first_line + j
        if line.startswith("$ ") or line.rstrip() == "$":
            parts = [line[2:]]
            while parts[-1].endswith("\\") and j + 1 < len(body):
                j += 1
                parts.append(body[j])
            current = Command(line_no, "\n".join(parts))
            if not current.text.strip():
                block.errors.append(f"line {line_no}: an empty command")
            block.commands.append(current)
        elif current is not None:
            current.expected.append(line)
        elif line.strip():
            block.errors.append(f"line {line_no}: output before the first `$ ` command: {line!r}")
        j += 1
    if not block.commands:
        block.errors.append("a console block with no `$ ` command (use ```text for output alone)")


def normalise(text_lines: list[str]) -> list[str]:
    """Trailing spaces of each line and trailing blank lines go; nothing else changes."""
    out = [s.rstrip() for s in text_lines]
    while out and not out[-1]:
        out.pop()
    return out


@lru_cache(maxsize=4096)
def _line_pattern(expected: str) -> re.Pattern:
    """`...` inside a line matches any text within that line."""
    return re.compile(".*".join(re.escape(part) for part in expected.split(ELLIPSIS)), re.DOTALL)


def line_matches(expected: str, actual: str) -> bool:
    if ELLIPSIS not in expected:
        return expected == actual
    return "\n" not in actual and _line_pattern(expected).fullmatch(actual) is not None


def matches(expected: list[str], actual: list[str]) -> bool:
    """Whether `actual` fits `expected`: a line that is exactly `...` matches zero or more lines, `...` in a
    line matches any text of that one line, and trailing spaces and blank lines do not count."""
    exp, act = normalise(expected), normalise(actual)
    m = len(act)
    # fits[j]: exp[i:] matches act[j:], computed from the last expected line back to the first
    fits = [j == m for j in range(m + 1)]
    for e in reversed(exp):
        new = [False] * (m + 1)
        for j in range(m, -1, -1):
            if e == ELLIPSIS:
                new[j] = fits[j] or (j < m and new[j + 1])
            else:
                new[j] = j < m and fits[j + 1] and line_matches(e, act[j])
        fits = new
    return fits[0]


def diff(expected: list[str], actual: list[str], label: str, max_lines: int = 40) -> str:
    """A unified diff of expected vs actual output, cut to `max_lines` lines."""
    exp, act = normalise(expected), normalise(actual)
    lines = list(difflib.unified_diff(exp, act, f"expected ({label})", "actual", lineterm="", n=2))
    if len(lines) > max_lines:
        lines = lines[:max_lines] + [f"... ({len(lines) - max_lines} more diff lines)"]
    return "\n".join(lines)


def first_difference(expected: list[str], actual: list[str]) -> str:
    """Where the output first parts from the page, in one line (the longest prefix of the expected lines that
    some prefix of the output matches, and the line after it)."""
    exp, act = normalise(expected), normalise(actual)
    reach = {0}  # the output lines consumed by the expected lines so far, for every way of matching them
    for i, e in enumerate(exp):
        if e == ELLIPSIS:
            new = set(range(min(reach), len(act) + 1))
        else:
            new = {j + 1 for j in reach if j < len(act) and line_matches(e, act[j])}
        if not new:
            j = max(reach)
            got = repr(act[j]) if j < len(act) else "the end of the output"
            return f"expected line {i + 1} {e!r}, got {got}"
        reach = new
    if len(act) in reach:
        return "no difference"
    return f"unexpected output line {act[min(reach)]!r} after the last expected line"
