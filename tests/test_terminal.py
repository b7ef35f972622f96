"""genai in a real terminal: stderr on a pseudo-terminal (so rich draws live progress bars and
styles), stdout on a pipe, as in `genai imagine ... > paths.txt` or `... | xargs genai info`.

CI has no terminal, so only a pty shows what a person sees:
* stdout holds exactly the results (the PNG paths or JSON lines) and the terminal none of them,
  for every command that shows a progress bar;
* NO_COLOR (https://no-color.org) leaves no escape at all on the terminal (no colour, no bold or
  dim, no cursor moves), bars and tables included; without it the same runs are styled.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import shutil
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

ESC = b"\x1b"
TIMEOUT_S = 240  # a run takes seconds; this only turns a hang into a failure


def _genai() -> list[str]:
    exe = shutil.which("genai", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "genai_cli"]


def _pty(rows: int = 30, columns: int = 100) -> tuple[int, int]:
    """A pseudo-terminal (master, slave) of `rows` x `columns` (0 x 0: one that reports no size)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    return master, slave


def _drain(fd: int, into: list[bytes]) -> threading.Thread:
    """Read a pty master until the last process holding its slave is gone, in a thread, so that a
    full pty buffer never blocks the program under test."""

    def read() -> None:
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:  # EIO: no process holds the slave any more
                return
            if not data:
                return
            into.append(data)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


class Run:
    def __init__(self, code: int, stdout: bytes, terminal: bytes):
        self.code, self.stdout, self.terminal = code, stdout, terminal

    @property
    def lines(self) -> list[str]:
        return self.stdout.decode().splitlines()

    def __repr__(self) -> str:
        return f"Run(code={self.code}, stdout={self.stdout[:600]!r}, terminal={self.terminal[-1500:]!r})"


def run(*args: str, no_color: bool, stdout_on_pty: bool = False) -> Run:
    """Run the installed genai with stderr on a pty and stdout on a pipe (or on a second pty)."""
    unset = ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE")  # what would override the terminal
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(TERM="xterm-256color", COLUMNS="100", LINES="30", OMP_NUM_THREADS="1")
    if no_color:
        env["NO_COLOR"] = "1"
    err_master, err_slave = _pty()
    out_master = out_slave = None
    if stdout_on_pty:
        out_master, out_slave = _pty()
    terminal: list[bytes] = []
    screen: list[bytes] = []
    proc = subprocess.Popen(
        [*_genai(), *args],
        stdin=subprocess.DEVNULL,
        stderr=err_slave,
        env=env,
        stdout=out_slave if stdout_on_pty else subprocess.PIPE,
    )
    os.close(err_slave)
    readers = [_drain(err_master, terminal)]
    if stdout_on_pty:
        os.close(out_slave)
        readers.append(_drain(out_master, screen))
    try:
        piped = b"" if stdout_on_pty else proc.communicate(timeout=TIMEOUT_S)[0]
        code = proc.wait(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for t in readers:
            t.join(timeout=10)
        os.close(err_master)
        if out_master is not None:
            os.close(out_master)
    return Run(code, b"".join(screen) if stdout_on_pty else piped, b"".join(terminal))


def _check_split(r: Run, results: list[str]) -> None:
    """stdout is the results and nothing else; none of them reached the terminal."""
    assert r.code == 0, r
    assert results and r.lines == results, r
    for line in results:
        assert line.encode() not in r.terminal, r


def _paths(r: Run, as_json: bool) -> list[str]:
    paths = [json.loads(line)["path"] for line in r.lines] if as_json else r.lines
    assert paths and all(Path(p).is_file() and p.endswith(".png") for p in paths), r
    return paths


# --- the bar itself: results written while it is shown ------------------------------------------------

BAR_SCRIPT = """
import sys, time
from genai_cli import console
with console.progress("working", total=4) as advance:
    for i in range(4):
        time.sleep(0.15)
        advance()
        console.result(f"result-{i}")
        console.info(f"note-{i}")
"""


@pytest.mark.parametrize("no_color", [False, True], ids=["styled", "no-color"])
def test_results_printed_above_a_bar_on_the_same_terminal(no_color):
    """stdout and stderr on one terminal that reports no size (as some `script` and CI terminals do):
    every result and message reaches it whole, on its own line, and the bar still shows and finishes."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES")}
    env.update(TERM="xterm-256color", **({"NO_COLOR": "1"} if no_color else {}))
    master, slave = _pty(0, 0)
    seen: list[bytes] = []
    proc = subprocess.Popen(
        [sys.executable, "-c", BAR_SCRIPT], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    reader = _drain(master, seen)
    try:
        assert proc.wait(timeout=60) == 0
    finally:
        reader.join(timeout=10)
        os.close(master)
    screen = b"".join(seen)
    lines = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", screen).split(b"\r\n")  # the text, without styles
    shown = [line.split(b"\r")[-1] for line in lines]  # what stays on each line once the cursor went back
    for i in range(4):  # the bar is lifted (cleared from the line start) before each line and drawn again after
        assert f"result-{i}".encode() in shown and f"note-{i}".encode() in shown, screen
    assert b"working" in screen and b"4/4" in screen, screen
    assert (ESC not in screen) if no_color else (b"\x1b[" in screen), screen


# --- imagine and toy render: PNG paths ----------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_imagine_paths_reach_the_pipe_not_the_terminal(tmp_path, as_json):
    """`genai imagine ... > paths.txt` under a terminal: the bar on the terminal, the paths in the file.
    The text run is styled (rich's live bar); the JSON run has NO_COLOR: no escape at all, though a bar is drawn."""
    args = [
        "imagine",
        "--model",
        "toy",
        "a red circle on a white background",
        "-n",
        "2",
        "--steps",
        "2",
        "--seed",
        "1",
        "--out",
        str(tmp_path / "out"),
    ]
    r = run(*args, *(["--json"] if as_json else []), no_color=as_json)
    paths = _paths(r, as_json)
    assert len(paths) == 2
    _check_split(r, r.lines)
    assert b"generating" in r.terminal and b"4/4" in r.terminal  # the bar (2 images x 2 steps) was drawn and finished
    if as_json:
        assert ESC not in r.terminal, r
    else:
        assert b"\x1b[2m" in r.terminal, r  # info lines are dim: this test can see styles


def test_toy_render_paths_reach_the_pipe(tmp_path):
    r = run(
        "toy",
        "render",
        "a red circle on a white background",
        "-n",
        "3",
        "--seed",
        "1",
        "--out",
        str(tmp_path),
        no_color=True,
    )
    assert len(_paths(r, False)) == 3
    _check_split(r, r.lines)
    assert ESC not in r.terminal, r


# --- embed evaluate: a bar while it works, tables or JSON as the result ------------------------------


@pytest.fixture
def questions(tmp_path) -> Path:
    q = tmp_path / "q.txt"
    q.write_text(": capitals\nfrance paris england london\nitaly rome france paris\n: broken\nfoo bar baz qux\n")
    return q


def test_evaluate_json_reaches_the_pipe_and_shows_progress(questions):
    """One bar for the analogies (counting questions), one for the word-pair sets."""
    r = run("embed", "evaluate", "--analogies", str(questions), "--restrict", "5000", "--json", no_color=False)
    _check_split(r, r.lines)
    (got,) = [json.loads(line) for line in r.lines]
    asked = got["analogies"]["overall"]["asked"]
    assert asked >= 1 and [p["dataset"] for p in got["word_pairs"]] == ["simlex999.txt", "wordsim353.tsv"]
    assert b"analogies" in r.terminal and f"{asked}/{asked}".encode() in r.terminal, r
    assert b"word pairs" in r.terminal and b"2/2" in r.terminal, r


def test_evaluate_table_on_a_terminal_no_color(questions):
    """Both streams on terminals: with NO_COLOR no escape reaches either (bars and tables included)."""
    args = ["embed", "evaluate", "--analogies", str(questions), "--vectors", "slide", "--skip-pairs"]
    plain = run(*args, no_color=True, stdout_on_pty=True)
    assert plain.code == 0, plain
    assert b"coverage: 2 of 3" in plain.stdout and b"overall" in plain.stdout, plain
    assert b"analogies" in plain.terminal and b"2/2" in plain.terminal, plain
    assert ESC not in plain.stdout and ESC not in plain.terminal, plain

    styled = run(*args, no_color=False, stdout_on_pty=True)
    assert styled.code == 0 and b"\x1b[1m" in styled.stdout, styled  # the overall row is bold


def test_an_error_on_a_terminal(tmp_path):
    """The error line is bold red on a terminal, and plain with NO_COLOR."""
    args = ["embed", "evaluate", "--analogies", str(tmp_path / "missing.txt"), "--vectors", "slide"]
    styled = run(*args, no_color=False)
    plain = run(*args, no_color=True)
    assert styled.code == plain.code == 2 and styled.stdout == plain.stdout == b""
    assert b"\x1b[1;31merror:" in styled.terminal, styled
    assert plain.terminal.startswith(b"error: ") and ESC not in plain.terminal, plain


# --- embed train: the saved vectors' record --------------------------------------------------------------


def test_embed_train_record_reaches_the_pipe(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("the cat sat on the mat\nthe dog sat on the log\n" * 50)
    out = tmp_path / "vec.bin"
    r = run(
        "embed",
        "train",
        str(corpus),
        "--out",
        str(out),
        "--size",
        "8",
        "--epochs",
        "2",
        "--seed",
        "1",
        "--json",
        no_color=True,
    )
    _check_split(r, r.lines)
    (rec,) = [json.loads(line) for line in r.lines]
    assert rec["path"] == str(out) and out.is_file()
    assert b"training word2vec" in r.terminal and b"2/2" in r.terminal and ESC not in r.terminal, r


# --- invert: the learned embedding's record --------------------------------------------------------------


def test_invert_record_reaches_the_pipe(tiny, tmp_path):
    from PIL import Image

    images = tmp_path / "concept"
    images.mkdir()
    for i, colour in enumerate(("red", "blue")):
        Image.new("RGB", (32, 32), colour).save(images / f"img{i}.png")
    out = tmp_path / "run"
    r = run(
        "invert",
        "--model",
        str(tiny),
        "--images",
        str(images),
        "--token",
        "<thing>",
        "--init-word",
        "the",
        "--out",
        str(out),
        "--steps",
        "2",
        "--batch-size",
        "1",
        "--save-every",
        "0",
        "--checkpoint-every",
        "0",
        "--json",
        no_color=False,
    )
    _check_split(r, r.lines)
    (rec,) = [json.loads(line) for line in r.lines]
    assert rec["path"] == str(out / "learned_embeds.safetensors") and Path(rec["path"]).is_file()
    assert b"inverting" in r.terminal, r
