"""The command surface as a whole, walked from the live app: help that reads cleanly at 80 columns with
the configured defaults, one spelling per idea in every command, one --force rule, shell completion."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import write_tiny_lm  # noqa: E402


def _walk():
    """(command path, click command) for the root, every group and every command."""
    import typer
    from typer._click import Context

    from genai_cli.app import app

    out = []

    def walk(cmd, path):
        out.append((path, cmd))
        if hasattr(cmd, "list_commands"):
            ctx = Context(cmd)
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])

    walk(typer.main.get_command(app), [])
    return out


ALL = _walk()
LEAVES = [(path, cmd) for path, cmd in ALL if not hasattr(cmd, "list_commands")]
OPTIONS = [(" ".join(path), p) for path, cmd in LEAVES for p in cmd.params if p.param_type_name == "option"]


def _ids(rows):
    return [" ".join(path) or "genai" for path, _ in rows]


def _help(cli, monkeypatch, path) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    r = cli(*path, "--help")
    assert r.exit_code == 0, r
    assert r.stderr == "", r
    return r.stdout


# --- help at 80 columns ----------------------------------------------------------------------

# the start of click's "[...]" after a help text: a default, or a range such as 0<=x<=4294967295
EXTRA_START = re.compile(r"\[(default: |-?[\d.]+<=?x|x[<>]=?)")


@pytest.mark.parametrize("path,cmd", ALL, ids=_ids(ALL))
def test_every_help_reads_cleanly_at_80_columns(cli, monkeypatch, path, cmd):
    text = _help(cli, monkeypatch, path)
    assert text.startswith("Usage: genai"), text
    for line in text.splitlines():
        assert len(line) <= 80, f"{len(line)} columns: {line!r}"
        assert "…" not in line, line
        assert "`" not in line, line
        assert "(config:" not in line, line
        assert "\u00a0" not in line and "\u2011" not in line, repr(line)  # wrapping helpers never leak
        for m in EXTRA_START.finditer(line):
            assert "]" in line[m.end() :], f"a default or range split over two lines: {line!r}"
        stripped = line.strip()
        assert not stripped.startswith("]") and not re.match(r"-?[\d.]*<=?x", stripped), f"a split range: {line!r}"


def test_group_help_lists_every_command_without_cutting_it_short(cli, monkeypatch):
    text = _help(cli, monkeypatch, ["embed"])
    # `embed contextual`'s first sentence is long: it wraps, it is not cut to "..."
    flat = " ".join(text.split())
    assert "compare them (static GloVe: always 1.0)." in flat
    for name in ("analogy", "similar", "plot", "train", "math", "contextual"):
        assert re.search(rf"^  {name}\s", text, re.M), name


def _config_value(cfg, keys: str):
    values = []
    for key in keys.split(", "):
        node = cfg
        for part in key.split("."):
            node = node[part]
        values.append(node)
    return next((v for v in values if v is not None), None)


MARKED = [(c, p) for c, p in OPTIONS if "(config: " in (p.help or "")]


@pytest.mark.parametrize("command,param", MARKED, ids=[f"{c} {p.opts[0]}" for c, p in MARKED])
def test_help_shows_the_configured_default(cli, monkeypatch, command, param):
    from genai_cli import config
    from genai_cli.app import help_default

    keys = re.search(r"\(config: ([\w., ]+)\)", param.help).group(1)
    value = _config_value(config.load(), keys)  # a marker naming no key fails here
    flat = " ".join(_help(cli, monkeypatch, command.split()).split())
    shown = help_default(param, value)
    if shown is None:  # unset (the help text says what happens then)
        return
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        assert shown == str(value)
    assert f"[default: {shown}" in flat, (param.opts, shown)


def test_a_user_config_changes_the_default_shown(cli, monkeypatch, tmp_path):
    user = tmp_path / "mine.yaml"
    user.write_text("embed:\n  topn: 7\n  method: mul\ntext:\n  max_tokens: 99\n")
    monkeypatch.setenv("GENAI_CONFIG", str(user))
    text = _help(cli, monkeypatch, ["embed", "analogy"])
    assert "[default: 7; 1<=x<=10000]" in text
    assert re.search(r"--method <str>\s+add \(3CosAdd\) or mul \(3CosMul\)\.\s+\[default: mul\]", text), text
    assert "[default: 99]" in _help(cli, monkeypatch, ["generate"])


def test_help_is_plain_text_and_imports_nothing_heavy(genai_exe):
    """No rich box drawing; `--help` (with the merged config it shows) imports none of the heavy libraries."""
    r = genai_exe("imagine", "--help", env={"COLUMNS": "80"})
    assert r.exit_code == 0 and "╭" not in r.stdout and "Options:" in r.stdout, r
    code = (
        "import sys\nsys.argv = ['genai', 'imagine', '--help']\nfrom genai_cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'numpy', 'transformers', 'diffusers', 'gensim') if m in sys.modules]\n"
        "print('HEAVY', heavy, file=sys.stderr)\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "HEAVY []" in p.stderr, p.stderr


# --- one spelling per idea -----------------------------------------------------------------

CANONICAL = {
    "n": ["--n", "-n"],
    "out": ["--out", "-o"],
    "force": ["--force"],
    "seed": ["--seed"],
    "json": ["--json"],
    "config": ["--config", "-c"],
    "model": ["--model", "-m"],
    "device": ["--device"],
    "precision": ["--precision"],
}
DEST = {"json_out": "json", "as_json": "json", "config_file": "config", "output": "out"}
SHORT = {"-o": "out", "-c": "config", "-m": "model"}  # these short aliases mean one idea only


def _idea(param) -> str | None:
    dest = DEST.get(param.name, param.name)
    if dest in CANONICAL:
        return dest
    names = set(param.opts) | set(param.secondary_opts)
    return next((idea for idea, spelled in CANONICAL.items() if spelled[0] in names), None)


@pytest.mark.parametrize("command,param", OPTIONS, ids=[f"{c} {p.opts[0]}" for c, p in OPTIONS])
def test_every_shared_idea_has_its_one_spelling(command, param):
    from genai_cli.commands.common import MAX_SEED

    names = set(param.opts) | set(param.secondary_opts)
    assert "--output" not in names, f"{command}: --output is spelled -o/--out"
    idea = _idea(param)
    for short, meaning in SHORT.items():
        if short in names:
            assert idea == meaning, f"{command}: {short} is {CANONICAL[meaning]} everywhere, not {param.opts}"
    if "-n" in names:  # -n is a count: the number of images, words, tokens
        assert type(param.type).__name__ in ("IntParamType", "IntRange"), (command, param.opts)
    if idea is None:
        return
    assert sorted(param.opts) == sorted(CANONICAL[idea]) and not param.secondary_opts, (command, param.opts)
    if idea == "seed":
        assert (param.type.min, param.type.max) == (0, MAX_SEED), command
    if idea == "n":
        assert type(param.type).__name__ in ("IntParamType", "IntRange"), command


@pytest.mark.parametrize("idea", ["json", "config", "device", "precision"])
def test_shared_options_read_the_same_everywhere(idea):
    helps = {p.help for _, p in OPTIONS if _idea(p) == idea}
    assert len(helps) == 1, helps


def test_imagine_and_diffuse_take_dash_n(cli):
    for command in (["imagine"], ["diffuse", "x.png"], ["toy", "render"]):
        r = cli(*command, "-n", "0")
        assert r.exit_code == 2 and "No such option" not in r.stderr, (command, r)


@pytest.mark.parametrize(
    "args,named",
    [
        (["toy", "render", "a red circle on a white background", "-n", "0"], ["--n", "0", "1<=x<=100000"]),
        (["generate", "hi", "--seed", "-1"], ["--seed", "-1"]),
        (["conv", "apply", "--output", "x.png"], ["--output"]),  # the old spelling is gone, not an alias
        (["attention", "hi", "-f"], ["-f"]),
        (["embed", "analogy", "a", "b", "c", "-m", "mul"], ["-m"]),  # -m is --model; --method has no short alias
        (["no-such-command"], ["no-such-command"]),
    ],
)
def test_a_usage_error_is_one_error_line(genai_exe, args, named):
    from tests.hostile.conftest import assert_refused

    r = genai_exe(*args)
    line = assert_refused(r, *named)
    assert "hint: see 'genai" in r.stderr, r
    assert line.startswith("error: ")


# --- one --force rule for an explicit output file ----------------------------------------------


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> str:
    return str(write_tiny_lm(tmp_path_factory.mktemp("tiny-lm") / "tiny-llama"))


def _small_png(path: Path) -> Path:
    from PIL import Image

    Image.new("RGB", (24, 24), "red").save(path)
    return path


def _assert_refused_then_replaced(cli, args: list[str], out: Path):
    out.write_bytes(b"precious")
    r = cli(*args)
    assert r.exit_code == 2, r
    assert r.stdout == "", r
    assert str(out) in r.stderr and "use --force to replace it" in r.stderr, r
    assert out.read_bytes() == b"precious"  # untouched
    assert sorted(p.name for p in out.parent.glob(f"{out.stem}*")) == [out.name]  # no fresh name beside it
    r = cli(*args, "--force")
    assert r.exit_code == 0, r
    assert Path(r.stdout.strip()) == out, r
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_conv_apply_out_existing_file(cli, tmp_path):
    image = _small_png(tmp_path / "in.png")
    _assert_refused_then_replaced(
        cli, ["conv", "apply", str(image), "-o", str(tmp_path / "fig.png")], tmp_path / "fig.png"
    )


def test_embed_plot_out_existing_file(cli, tmp_path):
    _assert_refused_then_replaced(
        cli, ["embed", "plot", "paris", "rome", "--out", str(tmp_path / "plot.png")], tmp_path / "plot.png"
    )


def test_attention_out_existing_file(cli, tmp_path, tiny_lm):
    _assert_refused_then_replaced(
        cli, ["attention", "the cat", "-m", tiny_lm, "-o", str(tmp_path / "att.png")], tmp_path / "att.png"
    )


def test_attention_refuses_before_loading_a_model(cli, tmp_path):
    out = tmp_path / "att.png"
    out.write_bytes(b"precious")
    r = cli("attention", "the cat", "-m", str(tmp_path / "no-such-model"), "-o", str(out))
    assert r.exit_code == 2 and "use --force to replace it" in r.stderr and "no-such-model" not in r.stderr, r


def test_output_folders_still_choose_fresh_names(cli, tmp_path):
    first = cli("toy", "render", "a red circle on a white background", "-n", "1", "--seed", "1", "-o", str(tmp_path))
    second = cli("toy", "render", "a red circle on a white background", "-n", "1", "--seed", "1", "-o", str(tmp_path))
    assert first.exit_code == second.exit_code == 0, (first, second)
    paths = (first.stdout + second.stdout).split()
    assert first.stdout != second.stdout and all(Path(line).is_file() for line in paths)


# --- shell completion ------------------------------------------------------------------------


def test_show_completion_prints_a_bash_script(genai_exe):
    # typer finds the shell by walking up the process tree (shellingham), which fails when the suite runs
    # detached from a shell; its own tests' switch makes --show-completion take the shell's name instead
    r = genai_exe("--show-completion", "bash", env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"})
    assert r.exit_code == 0, r
    assert "_GENAI_COMPLETE" in r.stdout and "complete " in r.stdout and "genai" in r.stdout, r


def test_completion_completes_commands_and_options(genai_exe):
    r = genai_exe(env={"_GENAI_COMPLETE": "complete_bash", "COMP_WORDS": "genai em", "COMP_CWORD": "1"})
    assert r.exit_code == 0 and r.stdout.split() == ["embed"], r
    r = genai_exe(env={"_GENAI_COMPLETE": "complete_bash", "COMP_WORDS": "genai imagine --se", "COMP_CWORD": "2"})
    assert r.exit_code == 0 and r.stdout.split() == ["--seed"], r


def test_root_help_offers_completion(cli, monkeypatch):
    text = _help(cli, monkeypatch, [])
    assert "--install-completion" in text and "--show-completion" in text
