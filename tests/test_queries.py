"""The one stdin query loop (genai_cli/commands/queries.py), through real commands: embed, toy render, generate.

A bad line is reported (stderr, or a JSON error object with --json) and the others are answered; exit 2 at the
end; an empty or closed stdin says so; each answer is written as soon as its line is read.
"""

from __future__ import annotations

import io
import json
import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import write_tiny_lm  # noqa: E402

CAPTION = "a red star on a blue background"


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    return str(write_tiny_lm(tmp_path_factory.mktemp("tiny-lm-queries") / "tiny-llama"))


def _exe() -> str:
    exe = shutil.which("genai", path=str(Path(sys.executable).parent))
    assert exe, "the genai console script is not installed"
    return exe


def _errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


# --- the reader itself --------------------------------------------------------------------------


def test_lines_bound_each_line_and_survive_bad_bytes():
    from genai_cli.commands.queries import _lines

    data = b"\xef\xbb\xbffirst\r\n" + b"x" * 100_000 + b"\n" + b"caf\xe9\n" + "caf\u00e9\n".encode() + b"last"
    got = list(_lines(io.BytesIO(data), max_chars=50))
    assert got == [
        (1, "first", None),  # the byte-order mark and the CR are gone
        (2, None, "longer than 50 characters"),  # skipped without being kept
        (3, None, "not UTF-8 text"),  # latin-1: reported, and the next line is still read
        (4, "caf\u00e9", None),
        (5, "last", None),  # a last line without a newline
    ]


# --- embed: a bad middle line, --json error objects, single queries ------------------------------


def test_embed_bad_middle_line_is_reported_and_the_rest_answered(cli):
    r = cli("embed", "similar", "-n", "1", input="frog\nxqzzyv\n\ncat\n")
    assert r.exit_code == 2, r
    assert len(r.stdout.splitlines()) == 2  # frog's and cat's answers, nothing for the bad line
    errors = _errors(r.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: line 2:") and "xqzzyv" in errors[0], r.stderr
    assert "1 of 3 lines failed" in r.stderr


def test_embed_json_error_object_names_the_line(cli):
    r = cli("embed", "similar", "--json", "-n", "2", input="frog\nxqzzyv\ncat\n")
    assert r.exit_code == 2, r
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o.get("line") for o in objs] == [None, 2, None]
    assert objs[1]["query"] == ["xqzzyv"] and "xqzzyv" in objs[1]["error"]
    assert objs[0]["query"] == ["frog"] and len(objs[2]["results"]) == 2
    assert _errors(r.stderr) == []  # with --json the error is on stdout, in place of the answer


def test_embed_bad_bytes_and_long_lines_are_bad_lines(cli):
    data = b"frog\n" + b"\xff\xfe\n" + b"cat " * 5000 + b"\n" + b"cat\n"
    r = cli("embed", "similar", "--json", "-n", "1", input=data)
    assert r.exit_code == 2, r
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    got = [(o.get("line"), o.get("error")) for o in objs[1:3]]
    assert got == [(2, "not UTF-8 text"), (3, "longer than 10,000 characters")]
    assert objs[1]["query"] is None and objs[3]["query"] == ["cat"]


def test_single_bad_query_with_json_is_a_json_error_object(cli):
    r = cli("embed", "similar", "xqzzyv", "--json")
    assert r.exit_code == 2 and _errors(r.stderr) == [], r
    obj = json.loads(r.stdout)
    assert obj["query"] == ["xqzzyv"] and "xqzzyv" in obj["error"] and "line" not in obj
    plain = cli("embed", "similar", "xqzzyv")  # without --json: the usual error line, stdout empty
    assert plain.exit_code == 2 and plain.stdout == "" and len(_errors(plain.stderr)) == 1


@pytest.mark.parametrize("data", ["", "\n  \n\n"], ids=["empty", "blank-lines"])
def test_empty_stdin_is_an_error_that_says_so(cli, data):
    for args, what in (
        (["embed", "analogy"], "no words given"),
        (["toy", "render", "-", "--seed", "1"], "no caption given"),
    ):
        r = cli(*args, input=data)
        assert r.exit_code == 2 and r.stdout == "", r
        errors = _errors(r.stderr)
        assert len(errors) == 1 and what in errors[0] and "stdin was empty" in errors[0], r.stderr


@pytest.mark.parametrize("args", [["embed", "similar", "-"], ["toy", "render", "-", "--seed", "1"]])
def test_closed_stdin_is_an_error_that_says_so(args, tmp_path):
    p = subprocess.run(
        [_exe(), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
        preexec_fn=lambda: os.close(0),
    )
    assert p.returncode == 2 and p.stdout == "", p
    errors = _errors(p.stderr)
    assert len(errors) == 1 and "stdin is closed" in errors[0] and "Traceback" not in p.stderr, p.stderr


def test_each_answer_comes_before_the_next_line_is_written():
    """A pipeline sees each answer as its line is read: the first answer arrives while stdin is still open."""
    p = subprocess.Popen(
        [_exe(), "embed", "similar", "-n", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        p.stdin.write("frog\n")
        p.stdin.flush()
        ready, _, _ = select.select([p.stdout], [], [], 120)
        assert ready, "no answer while stdin is open"
        first = p.stdout.readline()
        assert first.split()[0] == "snake", first  # glove-6b-50d: frog -> snake
        p.stdin.write("cat\n")
        p.stdin.close()
        assert p.stdout.readline().split()[0] == "dog"
        assert p.wait(timeout=120) == 0
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


# --- toy render ---------------------------------------------------------------------------------


def test_toy_render_bad_lines_reported_others_drawn(cli):
    data = (
        f"{CAPTION}\na purple galaxy\n".encode()
        + b"\xe9\n"
        + b"x" * 5000
        + b"\n"
        + b"a green circle on a white background\n"
    )
    r = cli("toy", "render", "-", "-n", "1", "--seed", "2", "-o", "out", input=data)
    assert r.exit_code == 2, r
    paths = r.stdout.splitlines()
    assert len(paths) == 2 and all(Path(p).is_file() for p in paths) and "circle" in paths[1]
    errors = _errors(r.stderr)
    assert [e.split(":")[1].strip() for e in errors] == ["line 2", "line 3", "line 4"], r.stderr
    assert "galaxy" in errors[0] and "not UTF-8" in errors[1] and "longer than 1,000 characters" in errors[2]
    j = cli(
        "toy", "render", "-", "-n", "1", "--seed", "2", "-o", "out", "--json", input=f"a purple galaxy\n{CAPTION}\n"
    )
    objs = [json.loads(line) for line in j.stdout.splitlines()]
    assert j.exit_code == 2 and (objs[0]["line"], objs[0]["query"]) == (1, "a purple galaxy")
    assert "galaxy" in objs[0]["error"]
    assert objs[1]["caption"] == CAPTION and objs[1]["seed"] == 2


def test_toy_render_single_bad_caption_with_json(cli):
    r = cli("toy", "render", "a purple galaxy", "--json", "-o", "never")
    assert r.exit_code == 2 and json.loads(r.stdout)["query"] == "a purple galaxy", r
    assert not Path("never").exists()


# --- generate: several prompts, bad lines, the answer separator ------------------------------------


def test_generate_bad_middle_prompt_and_blank_line_between_answers(cli, tiny_lm):
    args = ("generate", "-m", tiny_lm, "-n", "6", "--seed", "5")
    one = [json.loads(cli(*args, p, "--json").stdout)["text"] for p in ("first prompt", "second prompt")]
    r = cli(*args, input=b"first prompt\n\xff\xfe bad\n\nsecond prompt\n")
    assert r.exit_code == 2, r
    assert r.stdout == f"{one[0]}\n\n{one[1]}\n"  # each answer ends its line; a blank line between two answers
    errors = _errors(r.stderr)
    assert len(errors) == 1 and errors[0].startswith("error: line 2:") and "not UTF-8" in errors[0]
    j = cli(*args, "--json", input=b"first prompt\n\xff\xfe bad\nsecond prompt\n")
    objs = [json.loads(line) for line in j.stdout.splitlines()]
    assert j.exit_code == 2 and [o["text"] for o in (objs[0], objs[2])] == one
    assert objs[1] == {"error": "not UTF-8 text", "line": 2, "query": None}


def test_generate_single_bad_prompt_with_json(cli, tiny_lm):
    r = cli("generate", "   ", "-m", tiny_lm, "--json")
    assert r.exit_code == 2 and _errors(r.stderr) == [], r
    obj = json.loads(r.stdout)
    assert obj["query"] == "   " and "empty prompt" in obj["error"]


def test_generate_empty_stdin_loads_nothing(cli, tiny_lm):
    r = cli("generate", "-m", tiny_lm, input="\n\n")
    assert r.exit_code == 2 and r.stdout == "", r
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: no prompt given: stdin was empty") and not any("loaded" in x for x in lines)
