"""The installed `genai` entry point, run as people run it: pipes, exit codes, clean stdout."""

from __future__ import annotations

import json
import subprocess
import sys


def test_pipeline_stdout_has_only_answers(genai_exe):
    from genai_cli.vectors import store

    store.load("glove-6b-50d")  # built once beforehand: this run then has nothing to say on stderr
    r = genai_exe("embed", "analogy", "-n", "1", input="king man woman\nberlin germany france\n")
    assert r.exit_code == 0, r
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["queen", "paris"]
    assert all(len(line.split()) == 2 and float(line.split()[1]) > 0.5 for line in lines)
    assert r.stderr == ""


def test_json_lines_parse(genai_exe):
    r = genai_exe("embed", "similarity", "--json", input="cat dog\nking queen\n")
    assert r.exit_code == 0
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["words"] for o in objs] == [["cat", "dog"], ["king", "queen"]]


def test_unknown_word_exit_code_and_streams(genai_exe):
    r = genai_exe("embed", "similar", "qqqzzzx")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "qqqzzzx" in r.stderr and "Traceback" not in r.stderr


def test_debug_shows_traceback(genai_exe):
    r = genai_exe("embed", "similar", "qqqzzzx", env={"GENAI_DEBUG": "1"})
    assert r.exit_code == 2 and "Traceback" in r.stderr  # the traceback, and still exit 2 for bad input


def test_python_m_entry_point():
    r = subprocess.run(
        [sys.executable, "-m", "genai_cli", "embed", "similarity", "paris", "london", "--vectors", "slide"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and float(r.stdout) > 0.9


def test_embed_analogy_imports_no_heavy_module(session_cache):
    """`genai embed analogy` must not import torch (nor transformers, diffusers, gensim, pydantic once cached)."""
    code = (
        "import sys\n"
        "from genai_cli.app import app\n"
        "sys.argv = ['genai', 'embed', 'analogy', 'paris', 'france', 'england']\n"
        "try:\n    app(prog_name='genai')\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        "import json\nprint(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    for _ in range(2):  # the first run may build caches; the second is the everyday path
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    mods = set(json.loads(r.stderr.strip().splitlines()[-1]))
    heavy = [
        m
        for m in (
            "torch",
            "transformers",
            "diffusers",
            "gensim",
            "accelerate",
            "matplotlib",
            "scipy",
            "pydantic",
            "yaml",
            "rich",
        )
        if m in mods
    ]
    assert heavy == []
    assert r.stdout.splitlines()[1].split("\t")[0] == "london"
