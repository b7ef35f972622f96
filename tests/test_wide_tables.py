"""Wide tables in a pipe or a file: their natural width, not the terminal's.

When stdout is not a terminal, a table prints every header and every row on one line and cuts no
cell with an ellipsis, even with COLUMNS=80 in the environment (CI and test runners set it; it
describes a terminal, which a pipe is not). On a terminal the table still fits the terminal.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest

from tests.test_terminal import _drain, _genai, _pty

PIPE_ENV = {"COLUMNS": "80", "LINES": "25", "NO_COLOR": "1"}
TIMEOUT_S = 120


def piped(*args: str) -> str:
    """Run the installed genai with stdout on a pipe and COLUMNS=80; return stdout."""
    env = {**os.environ, **PIPE_ENV}
    p = subprocess.run([*_genai(), *args], capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    assert p.returncode == 0, p
    return p.stdout


def on_terminal(*args: str, columns: int = 80) -> str:
    """Run the installed genai with stdout and stderr on one pseudo-terminal of `columns` columns."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR", "TTY_COMPATIBLE")}
    env.update(TERM="xterm-256color", NO_COLOR="1")
    master, slave = _pty(30, columns)
    seen: list[bytes] = []
    proc = subprocess.Popen([*_genai(), *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    reader = _drain(master, seen)
    try:
        assert proc.wait(timeout=TIMEOUT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        reader.join(timeout=10)
        os.close(master)
    return b"".join(seen).decode()


def cells(line: str) -> int:
    from rich.cells import cell_len

    return cell_len(line)


# --- the talk's tezgüino table ----------------------------------------------------------------------


def test_tezguino_table_is_one_line_per_header_and_row_in_a_pipe():
    """The report: with stdout in a file, the context headers wrapped onto 3 lines at 80 columns."""
    expected = json.loads(piped("embed", "context", "--json"))
    lines = piped("embed", "context").splitlines()
    headers = [line for line in lines if "(1)" in line]
    assert len(headers) == 1, lines
    header = headers[0]
    for i, ctx in enumerate(expected["contexts"], start=1):
        assert f"({i}) {ctx}" in header, header
    assert cells(header) > 80  # wider than the COLUMNS it was given: the natural width
    first = lines[: next(i for i, line in enumerate(lines) if line.startswith("└"))]  # the table of contexts
    for word, row in zip(expected["words"], expected["matrix"]):
        (line,) = [line for line in first if line.startswith(f"│ {word} ")]
        values = [c.strip() for c in line.strip("│").split("│")]
        assert values == [word, *(f"{x:g}" for x in row)], line
    assert len({cells(line) for line in lines if line.startswith(("┏", "┃", "│", "└"))}) <= 2  # two tables
    assert "…" not in "\n".join(lines)


def test_tezguino_table_fits_an_80_column_terminal():
    """On a terminal the table still fits it: the long headers wrap inside their cells, as before."""
    screen = on_terminal("embed", "context", columns=80)
    lines = [line for line in screen.replace("\r\n", "\n").split("\n") if line]
    assert any("tezgüino" in line for line in lines), screen
    assert max(cells(line) for line in lines) <= 80, screen
    assert not any("(1) A bottle of ___ is on the table." in line for line in lines), screen  # wrapped in its cell


# --- embed evaluate: the section names -------------------------------------------------------------

QUESTIONS = (
    ": capital-common-countries\nfrance paris england london\nitaly rome france paris\n"
    ": gram3-comparative-and-superlative-forms\nfoo bar baz qux\n"
)


def test_evaluate_prints_whole_section_names_in_a_pipe(tmp_path):
    q = tmp_path / "q.txt"
    q.write_text(QUESTIONS)
    out = piped("embed", "evaluate", "--analogies", str(q), "--vectors", "slide", "--skip-pairs")
    assert "…" not in out, out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    assert set(rows) == {"capital-common-countries", "gram3-comparative-and-superlative-forms", "overall"}, out
    assert [c.strip() for c in rows["capital-common-countries"].strip("│").split("│")][1:] == ["1", "2", "0.5000", "0"]
    header = next(line for line in out.splitlines() if "section" in line)
    assert "skipped (unknown words)" in header, out


def test_evaluate_fits_an_80_column_terminal(tmp_path):
    q = tmp_path / "q.txt"
    q.write_text(QUESTIONS)
    screen = on_terminal("embed", "evaluate", "--analogies", str(q), "--vectors", "slide", "--skip-pairs")
    table = [line for line in screen.replace("\r\n", "\n").split("\n") if line.startswith(("┏", "┃", "│", "└"))]
    assert table and max(cells(line) for line in table) <= 80, screen


# --- conv: its tables and its column-formatted list ----------------------------------------------------


@pytest.mark.parametrize("args", [["conv", "kernels"], ["conv", "demo", "--explain", "1", "1"]], ids=" ".join)
def test_conv_output_is_whole_in_a_pipe(args):
    out = piped(*args)
    assert out and "…" not in out, out
    if args[1] == "kernels":  # one kernel a line, its description whole
        assert re.search(r"^laplacian +0,1,0; 1,-4,1; 0,1,0 +second derivative: .+ flat areas$", out, re.M), out


# --- console.print_table itself --------------------------------------------------------------------------


def _print(monkeypatch, table, isatty: bool) -> list[str]:
    from genai_cli import console

    class Out(io.StringIO):
        def isatty(self) -> bool:
            return isatty

    out = Out()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setenv("COLUMNS", "80")
    console.reset()
    try:
        console.print_table(table)
    finally:
        console.reset()
    return out.getvalue().splitlines()


def _wide_table(expand: bool = False):
    from rich.table import Table

    t = Table(title="a wide table", expand=expand)
    t.add_column("name")
    t.add_column("a sentence long enough to be wrapped when the table must fit eighty columns")
    t.add_row("capital-common-countries-and-more", "x" * 60)
    return t


@pytest.mark.parametrize("expand", [False, True], ids=["natural", "expand"])
def test_print_table_uses_the_natural_width_off_a_terminal(monkeypatch, expand):
    """Not a terminal: one line per header and row, whatever COLUMNS says; a table that would expand
    takes its natural width too, not the console's (unlimited) width."""
    lines = _print(monkeypatch, _wide_table(expand), isatty=False)
    body = lines[1:]  # the title, then the table
    assert len(body) == 5, lines  # top rule, header, rule, the row, bottom rule
    assert {cells(line) for line in body} == {len("capital-common-countries-and-more") + 75 + 7}, lines
    assert "…" not in "\n".join(lines)


def test_print_table_fits_the_terminal_on_a_terminal(monkeypatch):
    lines = _print(monkeypatch, _wide_table(), isatty=True)
    assert max(cells(line) for line in lines) <= 80 and len(lines) > 6, lines
