"""The one seed policy (genai_cli/seeds.py) in toy render, generate, chat and embed train: --seed, then the
section's seed, then runtime.seed, then a random one; always on stderr and in the record; the same seed
gives the same output."""

from __future__ import annotations

import json
import random
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import write_tiny_lm  # noqa: E402

CAPTION = "a red star on a blue background"
RANDOM_LINE = re.compile(r"seed (\d+) \(random; --seed \1 ")


@pytest.fixture(scope="session")
def tiny_lm(tmp_path_factory) -> str:
    return str(write_tiny_lm(tmp_path_factory.mktemp("tiny-lm-seeds") / "tiny-llama"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """Enough text for gensim to split the work into several jobs (so its threads would race)."""
    r = random.Random(0)
    words = [f"w{i}" for i in range(300)]
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(" ".join(r.choice(words) for _ in range(20)) for _ in range(3000)) + "\n")
    return path


def _config(text: str) -> str:
    path = Path("seeds.yaml")
    path.write_text(text)
    return str(path)


# --- toy render -----------------------------------------------------------------------------------


def test_toy_random_seed_is_printed_and_repeats_the_images(cli):
    from PIL import Image

    r = cli("toy", "render", CAPTION, "-n", "2", "-o", "a", "--json")
    assert r.exit_code == 0, r
    m = RANDOM_LINE.search(r.stderr)
    assert m, r.stderr
    seed = int(m.group(1))
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert {o["seed"] for o in objs} == {seed}
    assert f"Seed: {seed}" in Image.open(objs[0]["path"]).text["parameters"]  # and in the PNG's metadata
    again = cli("toy", "render", CAPTION, "-n", "2", "-o", "b", "--seed", str(seed))
    assert f"seed {seed} (from --seed)" in again.stderr
    for o, p in zip(objs, again.stdout.splitlines()):
        assert Image.open(o["path"]).tobytes() == Image.open(p).tobytes()


def test_toy_seed_from_runtime_config(cli):
    r = cli("toy", "render", CAPTION, "-n", "1", "-o", "c", "--json", "--config", _config("runtime:\n  seed: 77\n"))
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["seed"] == 77 and "seed 77 (from runtime.seed)" in r.stderr
    flag = cli("toy", "render", CAPTION, "-n", "1", "-o", "c", "--json", "--seed", "3", "--config", "seeds.yaml")
    assert json.loads(flag.stdout)["seed"] == 3 and "seed 3 (from --seed)" in flag.stderr  # the flag wins


# --- generate and chat (the transformers engine; llama.cpp takes the same seed: tests/test_text.py) ----------------


def test_generate_random_seed_is_printed_and_repeats_the_text(cli, tiny_lm):
    r = cli("generate", "hello", "-m", tiny_lm, "-n", "12", "--json")
    assert r.exit_code == 0, r
    m = RANDOM_LINE.search(r.stderr)
    assert m, r.stderr
    first = json.loads(r.stdout)
    assert first["settings"]["seed"] == int(m.group(1))
    again = json.loads(cli("generate", "hello", "-m", tiny_lm, "-n", "12", "--json", "--seed", m.group(1)).stdout)
    assert again["text"] == first["text"] and again["settings"]["seed"] == first["settings"]["seed"]


def test_generate_and_chat_take_runtime_seed(cli, tiny_lm):
    cfg = _config("runtime:\n  seed: 4242\n")
    g = cli("generate", "hello", "-m", tiny_lm, "-n", "8", "--json", "--config", cfg)
    assert "seed 4242 (from runtime.seed)" in g.stderr and json.loads(g.stdout)["settings"]["seed"] == 4242
    c = cli("chat", "-m", tiny_lm, "-n", "8", "--json", "--config", cfg, input="hello\n")
    assert "seed 4242 (from runtime.seed)" in c.stderr and json.loads(c.stdout)["settings"]["seed"] == 4242
    assert json.loads(c.stdout)["text"] == json.loads(g.stdout)["text"]  # same seed, same prompt, same answer


# --- embed train ----------------------------------------------------------------------------------------


def _train(cli, corpus: Path, out: str, *args: str):
    return cli(
        "embed", "train", str(corpus), "-o", out, "--size", "16", "--epochs", "2", "--min-count", "1", "--json", *args
    )


def test_embed_train_seed_gives_identical_vectors(cli, corpus):
    runs = [_train(cli, corpus, f"v{i}.bin", "--seed", "1") for i in (1, 2)]
    for r in runs:
        assert r.exit_code == 0, r
        info = json.loads(r.stdout)
        assert (info["seed"], info["workers"]) == (1, 1)
        assert "seed 1 (from --seed)" in r.stderr and "training with 1 worker" in r.stderr
    assert Path("v1.bin").read_bytes() == Path("v2.bin").read_bytes()


def test_embed_train_seed_from_config_and_explicit_workers(cli, corpus):
    cfg = _config("embed:\n  train:\n    seed: 9\n")
    r = _train(cli, corpus, "c.bin", "--config", cfg)
    assert json.loads(r.stdout)["seed"] == 9 and "seed 9 (from config)" in r.stderr
    w = _train(cli, corpus, "w.bin", "--seed", "1", "--workers", "2")
    assert w.exit_code == 0 and json.loads(w.stdout)["workers"] == 2
    assert [line for line in w.stderr.splitlines() if line.startswith("warning:")] == [
        "warning: --workers 2: gensim's threads make the vectors differ from run to run even with a seed "
        "(--workers 1 repeats them)"
    ]


def test_embed_train_without_seed_prints_a_random_one(cli, corpus):
    r = _train(cli, corpus, "r.bin")
    assert r.exit_code == 0, r
    info = json.loads(r.stdout)
    assert f"seed {info['seed']} (random;" in r.stderr and info["workers"] == 2  # the configured threads: fast
