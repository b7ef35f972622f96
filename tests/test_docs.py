"""Executed documentation: every ```console block of README.md and docs/*.md is run and compared with what
the program prints, so a page cannot drift from the code (docs/writing-docs.md says the same for writers).

* Lines starting with `$ ` are commands, run by `bash -c` in the page's scratch folder; a trailing backslash
  continues a command on the next line. The lines up to the next `$ ` line are its expected output: stdout
  and stderr merged, as a terminal shows them (no progress bars: the output is a pipe, not a terminal).
* A command must exit 0, unless it shows its exit code (`...; echo "exit $?"`, `echo exit $?`) or a
  fallback (`|| `).
* The only normalisations: a line that is exactly `...` matches any number of lines (zero or more); `...`
  inside a line matches any text within that line; trailing spaces and trailing blank lines are ignored.
* Directives, HTML comments on the line(s) right before a block: `<!-- docs-test: skip REASON -->` (only for
  a GPU or a hub download; reported as skipped with REASON) and `<!-- docs-test: png PATH WIDTHxHEIGHT -->`
  (after the block, PATH must be a valid PNG of that size). An unknown, malformed or stray directive fails.
* One scratch folder per page, shared by its blocks in page order; it starts with symlinks to the
  repository's top-level entries (docs/, configs/, scripts/...): write into the folder itself; an example
  that changes a repository file it names (`-o docs/x.png`) fails.
* Environment: `genai` from the venv first on PATH; HOME, XDG_CONFIG_HOME and GENAI_CONFIG in a fresh folder
  (no user config); the built-in models' caches shared and warmed once per session (no "preparing ..."
  lines); HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1, OMP_NUM_THREADS=1; no COLUMNS, NO_COLOR or GENAI_DEBUG
  from outside; 120 s per command.

Why pytest's own collection with a small parser (tests/docs_examples.py) rather than byexample or similar:
one runner and one report for the whole suite, a parametrized test per block with ids like
`docs/embed.md:42` (`pytest -k embed.md`), skips counted in pytest's summary, and a syntax that is plain
console Markdown; byexample would add a second runner with its own syntax and options to learn.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docs_examples import (
    Block,
    Command,
    diff,
    first_difference,
    line_matches,
    matches,
    parse_page,
)

ROOT = Path(__file__).resolve().parent.parent
PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]
TIMEOUT_S = 120
NOT_LINKED = {".git", ".venv", "runs"}  # and anything named like a cache (caches, .pytest_cache, __pycache__)
# the outer environment must not shape what an example prints
DROPPED_VARS = {
    "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "PY_COLORS",
    "TTY_COMPATIBLE", "TTY_INTERACTIVE", "JUPYTER_COLUMNS", "JUPYTER_LINES", "MPLCONFIGDIR", "MPLBACKEND",
    "HF_HOME", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE", "PYTHONSTARTUP", "PYTHONWARNINGS",
}  # fmt: skip
DROPPED_PREFIXES = ("GENAI_", "PYTEST_", "XDG_")
# The one-time preparations of the built-in models, done before the first example that needs them so that none
# prints "preparing ..." or "converting ...": the GloVe store and matplotlib's font list (seconds) before any
# example; the SmolLM2 safetensors folder (a minute or more) only before an example that runs the model
# through transformers, so that `pytest -k embed.md` does not pay for it.
WARM_UP = 'from genai_cli.vectors.store import load; load("glove-6b-50d"); import matplotlib.font_manager'
WARM_UP_TRANSFORMERS = "from genai_cli.text.model import ensure_builtin; ensure_builtin()"
NEEDS_TRANSFORMERS = re.compile(r"\bgenai\s+(?:[^|;&]*\s)?(?:next|attention|contextual)\b|--engine[ =]transformers")


def _collect(pages: list[str] = PAGES) -> list:
    params = []
    for page in pages:
        try:
            blocks = parse_page((ROOT / page).read_text(encoding="utf-8"), page)
        except (OSError, UnicodeDecodeError) as e:
            blocks = [Block(page, 1, errors=[f"cannot read the page: {e}"])]
        params += [pytest.param(b, id=b.id) for b in blocks]
    return params


# --- the environment and the scratch folders -----------------------------------------------------------------


def _base_env(cache: Path, xdg_cache: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in DROPPED_VARS and not k.startswith(DROPPED_PREFIXES)}
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        GENAI_CACHE=str(cache),
        XDG_CACHE_HOME=str(xdg_cache),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONUNBUFFERED="1",
        # one torch/BLAS thread: the same numbers on every machine (a thread count can move a last digit), and
        # no two threads fighting over two cores that the rest of the suite keeps busy (10-30x slower here)
        OMP_NUM_THREADS="1",
    )
    return env


def _home(env: dict[str, str], home: Path) -> dict[str, str]:
    """`env` with a fresh HOME holding an empty user config."""
    config = home / ".config" / "genai" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("# no user config (tests/test_docs.py)\n")
    return {**env, "HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"), "GENAI_CONFIG": str(config)}


class Warmer:
    """Runs each warm-up once per session, in the examples' environment (with its own empty HOME)."""

    def __init__(self, env: dict[str, str], home: Path):
        self.env, self.home, self.done = env, home, set()

    def __call__(self, code: str) -> None:
        if code in self.done:
            return
        t0 = time.perf_counter()
        p = subprocess.run(
            [sys.executable, "-c", code], env=self.env, cwd=self.home,
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if p.returncode != 0:
            pytest.fail(f"warming the built-in caches failed ({code}), exit {p.returncode}:\n{p.stderr[-3000:]}")
        self.done.add(code)
        sys.stderr.write(f"\ntest_docs: warmed in {time.perf_counter() - t0:.1f} s: {code}\n")


@pytest.fixture(scope="session")
def docs_env(session_cache, tmp_path_factory) -> tuple[dict[str, str], Warmer]:
    """The environment every page starts from (the shared caches warmed for every example), and the warmer
    for the caches that only some examples need."""
    env = _base_env(session_cache, tmp_path_factory.mktemp("docs-xdg-cache"))
    home = tmp_path_factory.mktemp("docs-warm-home")
    warm = Warmer(_home(env, home), home)
    warm(WARM_UP)
    return env, warm


@pytest.fixture(scope="session")
def page_folder(docs_env, tmp_path_factory):
    """page -> (scratch folder, environment), made on a page's first block and kept for its later blocks."""
    made: dict[str, tuple[Path, dict[str, str]]] = {}

    def get(page: str) -> tuple[Path, dict[str, str]]:
        if page not in made:
            slug = re.sub(r"[^A-Za-z0-9]+", "-", page).strip("-")
            scratch = tmp_path_factory.mktemp(f"docs-{slug}")
            for entry in sorted(ROOT.iterdir()):
                if entry.name not in NOT_LINKED and "cache" not in entry.name:
                    (scratch / entry.name).symlink_to(entry)
            made[page] = scratch, _home(docs_env[0], tmp_path_factory.mktemp(f"docs-home-{slug}"))
        return made[page]

    return get


# --- running one command ---------------------------------------------------------------------------------


def run_command(text: str, cwd: Path, env: dict[str, str], timeout: float = TIMEOUT_S) -> tuple[int | None, str]:
    """(exit code or None on timeout, stdout and stderr merged). The command runs in its own process group,
    so a timeout ends everything it started."""
    p = subprocess.Popen(
        ["bash", "-c", text], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = p.communicate(timeout=timeout)
        code: int | None = p.returncode
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, _ = p.communicate()
        code = None
    return code, out.decode("utf-8", errors="replace")


def check_command(command: Command, page: str, cwd: Path, env: dict[str, str], timeout: float = TIMEOUT_S) -> str:
    """'' when the command prints what the page says and exits as it should; else what went wrong."""
    t0 = time.perf_counter()
    code, output = run_command(command.text, cwd, env, timeout)
    seconds = time.perf_counter() - t0
    actual = output.split("\n")
    where = f"{page}:{command.line}"
    problems = []
    if code is None:
        problems.append(f"timed out after {timeout:.0f} s")
    elif code != 0 and not command.may_fail:
        problems.append(f'exit code {code} (show it with `; echo "exit $?"` if the example means it)')
    if not matches(command.expected, actual):
        problems.append(
            f"output differs: {first_difference(command.expected, actual)}\n{diff(command.expected, actual, where)}"
        )
    if not problems:
        return ""
    shown = "\n".join(("$ " if i == 0 else "") + s for i, s in enumerate(command.text.split("\n")))
    return f"{where} ({seconds:.1f} s)\n{shown}\n" + "\n".join(problems)


def repo_paths(commands: list[Command], root: Path = ROOT) -> dict[str, int | None]:
    """The repository files an example names through the scratch folder's links (`-o docs/x.png`), with their
    mtimes (None: missing), so that a write into the repository is caught after the block. Only named paths
    are watched: other people may edit the working tree while the examples run."""
    watched = {}
    for command in commands:
        for token in re.split(r"[\s=\"'<>|;&]+", command.text):
            token = token.removeprefix("./")
            top = token.split("/", 1)[0]
            if "/" not in token or top in NOT_LINKED or "cache" in top or not (root / top).is_dir():
                continue
            path = root / token
            watched[token] = path.stat().st_mtime_ns if path.is_file() else None
    return watched


def repo_writes(before: dict[str, int | None], root: Path = ROOT) -> list[str]:
    """The watched repository files that were made or changed since `before`."""
    return [
        name for name, mtime in before.items() if (root / name).is_file() and (root / name).stat().st_mtime_ns != mtime
    ]


def check_png(path: Path, size: tuple[int, int]) -> str:
    """'' when `path` is a valid PNG of `size` (width, height); else what is wrong."""
    from PIL import Image

    if not path.is_file():
        return f"{path.name}: no such file"
    try:
        with Image.open(path) as im:
            im.verify()
            kind = im.format
        with Image.open(path) as im:
            got = im.size
    except Exception as e:  # PIL raises many kinds for a damaged file
        return f"{path.name}: not a readable image ({type(e).__name__}: {e})"
    if kind != "PNG":
        return f"{path.name}: a {kind} image, not a PNG"
    if got != size:
        return f"{path.name}: {got[0]}x{got[1]}, the page says {size[0]}x{size[1]}"
    return ""


# --- the examples ------------------------------------------------------------------------------------------


@pytest.fixture
def workspace(request) -> tuple[Path, dict[str, str]] | None:
    """The block's scratch folder and environment, with the caches it needs warmed: in the setup phase, so that
    `--durations` shows a warm-up apart from the examples. None for a block that fails on its own errors."""
    block: Block = request.node.callspec.params["block"]
    if block.errors:
        return None
    if block.skip:
        pytest.skip(f"{block.id}: {block.skip.reason}")
    folder = request.getfixturevalue("page_folder")(block.page)
    if any(NEEDS_TRANSFORMERS.search(c.text) for c in block.commands):
        request.getfixturevalue("docs_env")[1](WARM_UP_TRANSFORMERS)
    return folder


def _page_class(page: str, params: list) -> type:
    """A test class of one page's blocks. The suite runs under pytest-xdist with --dist loadscope (pyproject.toml),
    which keeps a class on one worker in order: a page's blocks share its scratch folder, and pages run in parallel."""

    @pytest.mark.parametrize("block", params)
    def test_example(self, block: Block, workspace):
        run_example(block, workspace)

    return type("TestPage_" + re.sub(r"\W", "_", page), (), {"test_example": test_example, "__doc__": page})


for _page_name in PAGES:
    if _params := _collect([_page_name]):  # a page without a console block (docs/writing-docs.md) has no test
        _cls = _page_class(_page_name, _params)
        globals()[_cls.__name__] = _cls


def run_example(block: Block, workspace) -> None:
    if block.errors:
        pytest.fail(f"{block.id}: " + "; ".join(block.errors), pytrace=False)
    scratch, env = workspace
    watched = repo_paths(block.commands)
    problems = [p for c in block.commands if (p := check_command(c, block.page, scratch, env))]
    for name in repo_writes(watched):
        problems.append(
            f"{block.id}: the example wrote {name} into the repository through a link: write to the scratch folder"
        )
    for png in block.pngs:
        if problem := check_png(scratch / png.path, png.size):
            problems.append(f"{block.page}:{png.line}: docs-test png {png.path}: {problem}")
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


# --- the parser and the comparison (fast: no subprocess) -------------------------------------------------


def _page(*lines: str) -> list[Block]:
    return parse_page("\n".join(lines) + "\n", "fake.md")


def test_a_wrong_number_is_a_mismatch():
    [block] = _page("# Fake", "", "```console", "$ genai embed similarity cat dog", "0.9218", "```")
    assert block.id == "fake.md:3" and not block.errors
    [cmd] = block.commands
    assert (cmd.line, cmd.text, cmd.expected) == (4, "genai embed similarity cat dog", ["0.9218"])
    assert matches(cmd.expected, ["0.9218"])
    assert not matches(cmd.expected, ["0.9219"])
    shown = diff(cmd.expected, ["0.9219"], "fake.md:4")
    assert "--- expected (fake.md:4)" in shown and "-0.9218" in shown and "+0.9219" in shown
    assert first_difference(cmd.expected, ["0.9219"]) == "expected line 1 '0.9218', got '0.9219'"


def test_an_ellipsis_line_matches_any_number_of_lines():
    expected = ["first", "...", "last"]
    assert matches(expected, ["first", "last"])  # zero lines
    assert matches(expected, ["first", "a", "b", "c", "last"])
    assert not matches(expected, ["first", "a", "b"])  # the line after `...` must still come
    assert not matches(expected, ["zeroth", "first", "last"])  # nothing before the first expected line
    assert not matches(expected, ["first", "last", "extra"])  # nor after the last
    assert matches(["...", "last"], ["x", "y", "last"]) and matches(["..."], [])
    assert matches(["a", "...", "b", "...", "c"], ["a", "b", "x", "b", "c"])


def test_an_ellipsis_in_a_line_matches_text_within_that_line_only():
    assert line_matches("loaded in ... s", "loaded in 0.74 s")
    assert line_matches("loaded in ... s", "loaded in  s")
    assert not line_matches("loaded in ... s", "loaded in 0.74 ms")
    assert not line_matches("a ... b", "a x\ny b")
    assert not matches(["a ... b"], ["a x", "y b"])  # it does not span lines
    assert line_matches("... tokens/s, seed ...", "51 tokens (eos), first after 0.47 s, 36.4 tokens/s, seed 1")
    assert not line_matches("0.9.8", "0x9y8") and not line_matches("(a)", "a")  # the rest is literal text
    assert not line_matches("..", "xy")


def test_only_trailing_spaces_and_blank_lines_are_ignored():
    assert matches(["a", "b  ", "", ""], ["a  ", "b", "", ""])
    assert matches(["a"], ["a", "", ""])
    assert not matches(["a"], ["", "a"])  # a leading blank line counts
    assert not matches(["a b"], ["a  b"]) and not matches([" a"], ["a"])  # inner and leading spaces count
    assert not matches(["A"], ["a"])


def test_continuation_lines_and_several_commands():
    [block] = _page(
        "```console",
        "$ genai embed analogy paris france \\",
        "    england -n 1",
        "london\t0.84",
        "$ echo done",
        "done",
        "```",
    )
    first, second = block.commands
    assert first.text == "genai embed analogy paris france \\\n    england -n 1" and first.line == 2
    assert first.expected == ["london\t0.84"]
    assert (second.line, second.text, second.expected) == (5, "echo done", ["done"])


def test_exit_codes_shown_by_the_command_may_be_non_zero():
    [block] = _page(
        "```console",
        '$ genai embed similar englnd; echo "exit $?"',
        "$ genai x; echo exit $?",
        "$ test -f nope || echo missing",
        "$ genai embed similar cat",
        "```",
    )
    assert [c.may_fail for c in block.commands] == [True, True, True, False]


def test_skip_and_png_directives():
    blocks = _page(
        "<!-- docs-test: skip needs a GPU (sdxl) -->",
        "```console",
        "$ genai imagine 'a cat' --model sdxl",
        "```",
        "",
        "<!-- docs-test: png embed-plot.png 640x480 -->",
        "<!-- docs-test: png other.png 8x8 -->",
        "```console",
        "$ genai embed plot king queen",
        "embed-plot.png",
        "```",
    )
    skipped, drawn = blocks
    assert skipped.skip.reason == "needs a GPU (sdxl)" and not skipped.errors
    assert drawn.skip is None and not drawn.errors
    assert [(d.path, d.size, d.line) for d in drawn.pngs] == [
        ("embed-plot.png", (640, 480), 6),
        ("other.png", (8, 8), 7),
    ]


@pytest.mark.parametrize(
    "comment, error",
    [
        ("<!-- docs-test: skp needs a GPU -->", "unknown directive 'skp'"),
        ("<!-- docs-test: skip -->", "needs a reason"),
        ("<!-- docs-test: png plot.png -->", "PATH WIDTHxHEIGHT"),
        ("<!-- docs-test: png plot.png 640 x 480 -->", "PATH WIDTHxHEIGHT"),
        ("<!-- docs-test: png plot.png 0x480 -->", "PATH WIDTHxHEIGHT"),
        ("<!-- docs-test skip needs a GPU -->", "malformed directive"),
        ("<!-- doc-test: skip needs a GPU -->", "malformed directive"),
        ("<!--docs-test: skip needs a GPU-->", "malformed directive"),
    ],
)
def test_unknown_or_malformed_directives_fail(comment, error):
    [block] = _page(comment, "```console", "$ echo hi", "hi", "```")
    assert block.skip is None and len(block.errors) == 1 and error in block.errors[0]
    assert block.errors[0].startswith("line 1:")


def test_a_stray_directive_fails():
    blocks = _page(
        "<!-- docs-test: skip not before a console block -->",
        "Some text.",
        "```console",
        "$ echo hi",
        "hi",
        "```",
        "<!-- docs-test: png x.png 1x1 -->",
        "```text",
        "a table",
        "```",
        "<!-- an ordinary comment is no directive -->",
        "```console",
        "$ echo ok",
        "ok",
        "```",
    )
    assert [(b.line, bool(b.errors)) for b in blocks] == [(1, True), (3, False), (7, True), (12, False)]
    assert "```text block" in blocks[2].errors[0]


def test_a_console_block_needs_a_command():
    [empty] = _page("```console", "just output", "```")
    assert any("no `$ ` command" in e for e in empty.errors)
    assert any("output before the first" in e for e in empty.errors)
    [late] = _page("```console", "output first", "$ echo hi", "hi", "```")
    assert late.errors == ["line 2: output before the first `$ ` command: 'output first'"]


def test_only_console_blocks_are_examples_and_fences_nest():
    blocks = _page(
        "```bash",
        "$ scripts/setup.sh",
        "```",
        "````markdown",
        "```console",
        "$ not an example",
        "```",
        "````",
        "~~~console",
        "$ echo tilde",
        "tilde",
        "~~~",
        "1. a list item",
        "   ```console",
        "   $ echo indented",
        "   indented",
        "   ```",
    )
    assert [(b.line, [c.text for c in b.commands], [c.expected for c in b.commands]) for b in blocks] == [
        (9, ["echo tilde"], [["tilde"]]),
        (14, ["echo indented"], [["indented"]]),
    ]


def test_the_runner_merges_stderr_and_checks_exit_codes(tmp_path):
    env = {"PATH": os.environ["PATH"]}
    [block] = _page("```console", "$ echo out; echo err >&2", "out", "err", "$ false", "```")
    ok, failing = block.commands
    assert check_command(ok, "fake.md", tmp_path, env) == ""
    problem = check_command(failing, "fake.md", tmp_path, env)
    assert problem.startswith("fake.md:5 (") and "$ false" in problem and "exit code 1" in problem
    [timed] = _page("```console", "$ sleep 5", "```")[0].commands
    assert "timed out after 1 s" in check_command(timed, "fake.md", tmp_path, env, timeout=1)


def test_every_page_parses_into_unique_ids():
    ids = [p.id for p in _collect()]
    assert ids and len(ids) == len(set(ids))
    assert all(re.fullmatch(r"(README|docs/[^/]+)\.md:\d+", i) for i in ids)


def test_the_environment_is_the_documented_one(monkeypatch, tmp_path):
    for name, value in {"COLUMNS": "33", "NO_COLOR": "1", "GENAI_DEBUG": "1", "XDG_CONFIG_HOME": "/x"}.items():
        monkeypatch.setenv(name, value)
    env = _home(_base_env(tmp_path / "cache", tmp_path / "xdg"), tmp_path / "home")
    assert not {"COLUMNS", "NO_COLOR", "GENAI_DEBUG"} & set(env)
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert (env["HF_HUB_OFFLINE"], env["TRANSFORMERS_OFFLINE"], env["GENAI_CACHE"]) == (
        "1",
        "1",
        str(tmp_path / "cache"),
    )
    assert env["HOME"] == str(tmp_path / "home") and env["XDG_CONFIG_HOME"] == str(tmp_path / "home" / ".config")
    assert Path(env["GENAI_CONFIG"]).is_file() and Path(env["GENAI_CONFIG"]).is_relative_to(tmp_path / "home")


@pytest.mark.parametrize(
    "command, needs",
    [
        ('genai next "The capital of France is"', True),
        ("genai attention 'The animal' -o a.png", True),
        ("genai embed contextual --word bank 'a' 'b'", True),
        ("echo hi | genai --json next", True),
        ("genai generate hi --engine transformers", True),
        ("genai generate hi --seed 1", False),
        ("genai embed analogy paris france england", False),
    ],
)
def test_which_examples_need_the_converted_text_model(command, needs):
    assert bool(NEEDS_TRANSFORMERS.search(command)) is needs


def test_writes_into_the_repository_are_noticed(tmp_path):
    root = tmp_path / "repo"
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "old.png").write_bytes(b"x")
    [block] = _page(
        "```console",
        "$ genai conv apply -o docs/new.png --out=./docs/old.png > docs/log.txt; cat README.md nope/x.png",
        "```",
    )
    watched = repo_paths(block.commands, root)
    assert set(watched) == {"docs/new.png", "docs/old.png", "docs/log.txt"}
    assert repo_writes(watched, root) == []
    (root / "docs" / "new.png").write_bytes(b"y")
    os.utime(root / "docs" / "old.png", ns=(1, 1))
    assert sorted(repo_writes(watched, root)) == ["docs/new.png", "docs/old.png"]
