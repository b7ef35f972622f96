"""Every option of every command meets hostile values, found by walking the command tree.

A new option cannot slip in without a hostile-input test: this module lists each command's
options from the live Typer app, then
* gives every integer option (a count, a size, an index, a seed) an absurd value and expects
  exit 2 naming the option, before any work starts: every count has an upper limit;
* gives every float option nan and inf, and expects exit 2 naming the option;
* gives every input-path option or argument a FIFO, which would block a careless reader forever,
  and expects exit 2 naming it, without hanging;
* requires every other option that takes a value (names, strings, output paths) to appear in
  `COVERED_ELSEWHERE` with the test that attacks it, or the reason it needs none.

The per-command base arguments (`BASE`) are a valid call; only the option under test is bad.
A command missing from `BASE` fails `test_every_command_has_a_base_call`.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

HUGE = "1000000000000"  # 10^12: no count, size, index or seed of genai accepts it
TIMEOUT_S = 60  # a refusal takes well under a second; this only turns a hang into a failure

# command -> a valid call (placeholders {image}, {folder}, {text}, {yaml} are made per test)
BASE: dict[str, list[str]] = {
    "anatomy": ["--model", "toy"],
    "attention": ["hello"],
    "chat": [],
    "config show": [],
    "config path": [],
    "conv demo": [],
    "conv apply": ["{image}"],
    "conv layers": ["{image}"],
    "conv kernels": [],
    "diffuse": ["{image}"],
    "embed analogy": ["paris", "france", "england", "--vectors", "slide"],
    "embed similar": ["paris", "--vectors", "slide"],
    "embed similarity": ["paris", "london", "--vectors", "slide"],
    "embed doesnt-match": ["paris", "london", "rome", "--vectors", "slide"],
    "embed vector": ["paris", "--vectors", "slide"],
    "embed evaluate": ["--vectors", "slide"],
    "embed plot": ["paris", "london", "--vectors", "slide"],
    "embed context": [],
    "embed train": ["{text}"],
    "embed math": ["paris - france + england", "--vectors", "slide"],
    "embed contextual": ["--word", "bank", "the bank approved the loan", "a bank by the river"],
    "generate": ["hello"],
    "imagine": ["a red circle", "--model", "toy"],
    "info": ["{image}"],
    "invert": ["--images", "{folder}", "--token", "<new>", "--init-word", "star", "--model", "toy"],
    "next": ["hello"],
    "toy render": ["a red circle on a white background"],
    "toy words": [],
}

# Options that name one of a set of choices (or a model or vector set by name): a made-up name
# is exit 2 naming it, before any model loads.
NAMED = {
    "--device",
    "--precision",
    "--format",
    "--method",
    "--engine",
    "--scheduler",
    "--schedule",
    "--pool",
    "--channels",
    "--save-format",
    "--preset",
    "--speedup",
    "--kernel",
    "--head",
    "--model",
    "--vectors",
}
BOGUS = "no-such-thing-42"

# Free text (words, prompts, captions, names): 100 KB of it is exit 2, naming the option (or the
# argument) without echoing it whole: every text has a documented length limit.
TEXTS = {
    "WORDS",
    "PROMPT",
    "PROMPTS",
    "TEXT",
    "CAPTION",
    "SENTENCES",
    "--word",
    "--negative",
    "--stop",
    "--system",
    "--title",
    "--token",
    "--init-word",
    "--validation-prompt",
    "--property",
    "--kernel-values",
    "--explain",
    "--steps",
    "--lora",
    "--single-file-config",
}
LONG = "w" * 100_000

# Everything else that takes a value: the test that attacks it, or why none is needed.
# "command --option" (or "* --option" for every command) -> "tests/...::test" or "reason: ...".
COVERED_ELSEWHERE: dict[str, str] = {
    "* --out": "tests/hostile/test_hostile_image.py::test_failed_runs_leave_no_empty_output_folder",
    "invert --out": "tests/hostile/test_hostile_invert.py::test_resume_finds_a_checkpoint_whichever_rename_came_last",
    "toy render --out": "tests/hostile/test_hostile_image.py::test_toy_captions_never_overwrite_an_existing_text_file",
    "embed plot --out": "tests/test_embed.py::test_plot_writes_png_and_never_overwrites",
}


def _commands():
    """(command path, click command) for every leaf command of the app."""
    import typer
    from typer._click import Context

    from genai_cli.app import app

    out = []

    def walk(cmd, path):
        if hasattr(cmd, "list_commands"):
            ctx = Context(cmd)
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])
        else:
            out.append((" ".join(path), cmd))

    walk(typer.main.get_command(app), [])
    return out


def _is_output(param) -> bool:
    return bool(set(getattr(param, "opts", [])) & {"--out", "-o"})


def _params():
    """Every value-taking parameter: (command, name as typed, kind, param)."""
    rows = []
    for command, cmd in _commands():
        for p in cmd.params:
            if getattr(p, "is_flag", False) or p.name == "help":
                continue
            name = max(p.opts, key=len) if p.param_type_name == "option" else p.name.upper()
            kind = type(p.type).__name__
            if kind in ("IntParamType", "IntRange"):
                kind = "int"
            elif kind in ("FloatParamType", "FloatRange"):
                kind = "float"
            elif kind in ("TyperPath", "Path") and not _is_output(p):
                kind = "input-path"
            else:
                kind = "other"
            rows.append((command, name, kind, p))
    return rows


PARAMS = _params()


def _ids(rows):
    return [f"{c} {n}" for c, n, *_ in rows]


class _Hang(Exception):
    pass


@pytest.fixture
def run_bad(cli, tmp_path):
    """Run `genai COMMAND BASE... OPTION VALUE` in-process with a time limit."""
    from PIL import Image

    image = tmp_path / "in.png"
    Image.new("RGB", (32, 32), "red").save(image)
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(2):
        Image.new("RGB", (64, 64), "red").save(folder / f"{i}.png")
    text = tmp_path / "corpus.txt"
    text.write_text("the cat sat on the mat\n" * 50)
    fill = {"{image}": str(image), "{folder}": str(folder), "{text}": str(text)}

    def run(command: str, param, value: str, positional: bool = False):
        base = [fill.get(a, a) for a in BASE[command]]
        if positional:  # the argument under test replaces the base's value for it
            options = [a for i, a in enumerate(base) if a.startswith("-") or (i and base[i - 1].startswith("-"))]
            args = [*command.split(), *options, value]
        elif param.name == "prompts_file":  # prompts come from the file instead of the arguments
            args = [*command.split(), *base[1:], "--prompts-file", value]
        else:
            args = [*command.split(), *base, max(param.opts, key=len), value]

        def hang(signum, frame):
            raise _Hang(f"genai {' '.join(args)} did not finish in {TIMEOUT_S} s")

        old = signal.signal(signal.SIGALRM, hang)
        signal.alarm(TIMEOUT_S)
        try:
            return cli(*args, input="")
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)

    return run


def _assert_refused_naming(result, name: str):
    assert result.exit_code == 2, result
    assert result.stdout == "", result
    assert "Traceback" not in result.stderr, result
    assert name.lstrip("-").upper() in result.stderr.upper().replace("_", "-"), result


def test_every_command_has_a_base_call():
    missing = sorted({c for c, *_ in PARAMS} - set(BASE))
    assert not missing, f"add a valid base call for {missing} to BASE in {__file__}"


INTS = [r for r in PARAMS if r[2] == "int"]
FLOATS = [r for r in PARAMS if r[2] == "float"]
PATHS = [r for r in PARAMS if r[2] == "input-path"]
OTHERS = [r for r in PARAMS if r[2] == "other"]
NAMES = [r for r in OTHERS if r[1] in NAMED]
LONG_TEXTS = [r for r in OTHERS if r[1] in TEXTS]


@pytest.mark.parametrize("command,name,kind,param", INTS, ids=_ids(INTS))
def test_every_count_has_an_upper_limit(run_bad, command, name, kind, param):
    r = run_bad(command, param, HUGE, positional=param.param_type_name == "argument")
    _assert_refused_naming(r, name)


@pytest.mark.parametrize("command,name,kind,param", FLOATS, ids=_ids(FLOATS))
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_every_float_refuses_non_finite(run_bad, command, name, kind, param, value):
    r = run_bad(command, param, value, positional=param.param_type_name == "argument")
    _assert_refused_naming(r, name)


@pytest.mark.parametrize("command,name,kind,param", PATHS, ids=_ids(PATHS))
def test_every_input_path_refuses_a_fifo(run_bad, tmp_path, command, name, kind, param):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    r = run_bad(command, param, str(fifo), positional=param.param_type_name == "argument")
    assert r.exit_code == 2, r
    assert r.stdout == "", r
    assert "Traceback" not in r.stderr, r
    assert str(fifo) in r.stderr or "pipe.png" in r.stderr, r


@pytest.mark.parametrize("command,name,kind,param", NAMES, ids=_ids(NAMES))
def test_every_named_choice_refuses_a_made_up_name(run_bad, command, name, kind, param):
    r = run_bad(command, param, BOGUS)
    assert r.exit_code == 2, r
    assert r.stdout == "", r
    assert "Traceback" not in r.stderr, r
    assert BOGUS in r.stderr, r


@pytest.mark.parametrize("command,name,kind,param", LONG_TEXTS, ids=_ids(LONG_TEXTS))
def test_every_text_has_a_length_limit(run_bad, command, name, kind, param):
    r = run_bad(command, param, LONG, positional=param.param_type_name == "argument")
    assert r.exit_code == 2, r
    assert r.stdout == "", r
    assert "Traceback" not in r.stderr, r
    assert len(r.stderr) < 2000, f"the 100 KB value was echoed: {len(r.stderr)} characters on stderr"


@pytest.mark.parametrize("command,name,kind,param", OTHERS, ids=_ids(OTHERS))
def test_every_other_option_is_attacked_somewhere(command, name, kind, param):
    if name in NAMED or name in TEXTS:
        return  # the two tests above
    key = f"{command} {name}"
    where = COVERED_ELSEWHERE.get(key) or COVERED_ELSEWHERE.get(f"* {name}")
    assert where, f"{key!r} takes a value but no hostile test covers it: add it to COVERED_ELSEWHERE in {__file__}"
    if where.startswith("reason:"):
        return
    file, _, test = where.partition("::")
    path = Path(__file__).resolve().parents[1] / Path(file).relative_to("tests")
    assert path.is_file(), where
    assert f"def {test}(" in path.read_text(), f"{where} does not exist"
