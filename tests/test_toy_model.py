"""The shipped toy-world Stable Diffusion: it loads offline, and what it draws is what the prompt says.

Judged by the shipped analyzer (a CNN that reads shape, colour and background), never by pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genai_cli.image.loading import TOY_PIPELINE

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_shipped_pipeline_is_small_and_loads_offline_with_diffusers():
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer

    size = sum(p.stat().st_size for p in TOY_PIPELINE.rglob("*") if p.is_file())
    assert size <= 40 * 2**20, f"{size / 2**20:.1f} MB"
    pipe = StableDiffusionPipeline.from_pretrained(str(TOY_PIPELINE))  # HF_HUB_OFFLINE=1: nothing can download
    assert isinstance(pipe.unet, UNet2DConditionModel) and isinstance(pipe.vae, AutoencoderKL)
    assert isinstance(pipe.text_encoder, CLIPTextModel) and isinstance(pipe.tokenizer, CLIPTokenizer)
    vocab = pipe.tokenizer.get_vocab()
    assert "star</w>" in vocab and "moon</w>" not in vocab and "<moon>" not in vocab  # the held-out word is gone
    assert pipe.text_encoder.get_input_embeddings().weight.shape[0] == len(pipe.tokenizer)


def test_imagine_toy_draws_what_the_prompt_says(cli, tmp_path):
    from genai_cli.toyworld import analyzer

    r = cli(
        "imagine",
        "--model",
        "toy",
        "a red circle on a white background",
        "a green square on a black background",
        "--n",
        "3",
        "--seed",
        "0",
        "-o",
        str(tmp_path),
        "--json",
    )
    assert r.exit_code == 0, r
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(records) == 6 and all(rec["width"] == 32 and rec["model"] == "toy" for rec in records)
    images = np.stack([np.asarray(Image.open(rec["path"]).convert("RGB")) for rec in records])
    verdicts = analyzer.load()(images)
    want = [("circle", "red", "white")] * 3 + [("square", "green", "black")] * 3
    right = sum((v.shape, v.colour, v.background) == w for v, w in zip(verdicts, want))
    assert right >= 5, verdicts  # the model scores ~95% on all three heads at once; 5 of 6 leaves room for one miss
    info = cli("info", records[0]["path"], "--json")
    assert json.loads(info.stdout)["parameters"]["Model"] == "toy"


def _read_right(records, want) -> int:
    """How many of the images the shipped analyzer reads as `want` (shape, colour, background)."""
    from genai_cli.toyworld import analyzer

    images = np.stack([np.asarray(Image.open(rec["path"]).convert("RGB")) for rec in records])
    return sum((v.shape, v.colour, v.background) == want for v in analyzer.load()(images))


@pytest.mark.parametrize("scheduler", ["default", "ddim", "euler", "euler-a", "dpm++2m"])
def test_every_sampler_draws_the_prompt_on_the_toy_model(cli, tmp_path, scheduler):
    """DDIM once drew noise here: built from the toy model's DPM++ config, it clipped latents to -1..1."""
    r = cli("imagine", "--model", "toy", "a red circle on a white background", "--scheduler", scheduler,
            "--n", "4", "--seed", "0", "-o", str(tmp_path), "--json")  # fmt: skip
    assert r.exit_code == 0, r
    assert "draws poorly" not in r.stderr
    assert _read_right([json.loads(line) for line in r.stdout.splitlines()], ("circle", "red", "white")) >= 3


@pytest.mark.parametrize("scheduler", ["lms", "pndm"])
def test_toy_model_warns_of_4th_order_samplers(cli, tmp_path, scheduler):
    r = cli("imagine", "--model", "toy", "a red circle", "--scheduler", scheduler, "--steps", "2", "--seed", "0",
            "-o", str(tmp_path))  # fmt: skip
    assert r.exit_code == 0, r
    assert f"warning: the toy model draws poorly with --scheduler {scheduler} (4th-order multistep: noise at 25" in (
        r.stderr
    )
    assert Path(r.stdout.strip()).is_file()  # a warning: it still draws


def test_pndm_draws_the_toy_model_right_at_100_steps(cli, tmp_path):
    r = cli("imagine", "--model", "toy", "a red circle on a white background", "--scheduler", "pndm",
            "--steps", "100", "--n", "4", "--seed", "0", "-o", str(tmp_path), "--json")  # fmt: skip
    assert r.exit_code == 0, r
    assert _read_right([json.loads(line) for line in r.stdout.splitlines()], ("circle", "red", "white")) >= 3


def test_toy_reports_the_words_it_does_not_know(cli, tmp_path):
    r = cli("imagine", "--model", "toy", "a shiny galaxy", "--steps", "2", "--seed", "1", "-o", str(tmp_path))
    assert r.exit_code == 0, r
    assert "the toy model does not know: shiny" in r.stderr and "galaxy," not in r.stderr
    assert Path(r.stdout.strip()).is_file()  # it still draws (from the words it knows), as CLIP would
    for prompt in ("a red star on a blue background", "a beautiful galaxy"):
        known = cli("imagine", "--model", "toy", prompt, "--steps", "2", "-o", str(tmp_path))
        assert known.exit_code == 0 and "does not know" not in known.stderr, prompt


def test_diffuse_uses_the_toy_schedule_by_default(cli, tmp_path):
    img = tmp_path / "in.png"
    Image.fromarray(np.full((32, 32, 3), 128, np.uint8)).save(img)
    r = cli("diffuse", str(img), "--n", "3", "-o", str(tmp_path), "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["schedule"] == "toy"


def test_no_prompt_hint_comes_from_the_models_own_vocabulary(tmp_path, tiny):
    """`genai imagine --model toy` without a prompt suggests a prompt the toy model reads word for word, not
    CLIP's "a red fox in the snow" (issue 12, point 9); other models keep that example."""
    import shutil
    import subprocess
    import sys

    from transformers import CLIPTokenizer

    from genai_cli.image.run import FALLBACK_PROMPT, example_prompt
    from genai_cli.toyworld import vocab

    toy_example = example_prompt("toy")
    assert toy_example == "a red star on a blue background"
    assert vocab.unknown_words(toy_example, CLIPTokenizer.from_pretrained(str(TOY_PIPELINE / "tokenizer"))) == []
    copy = tmp_path / "my-toy"  # a copy of the toy model (fine-tuned, say) has the same vocabulary
    shutil.copytree(TOY_PIPELINE / "tokenizer", copy / "tokenizer")
    assert example_prompt(str(copy)) == toy_example
    assert example_prompt(str(tiny)) == FALLBACK_PROMPT == "a red fox in the snow"  # a CLIP-style vocabulary
    assert example_prompt("sd15") == FALLBACK_PROMPT  # a hub model: nothing is read or downloaded for a hint

    exe = Path(sys.executable).with_name("genai")  # as in a terminal: no prompt, nothing piped (stdin closed)
    for model, example in (("toy", toy_example), (str(tiny), FALLBACK_PROMPT)):
        p = subprocess.run(
            ["bash", "-c", f"'{exe}' imagine --model '{model}' -o '{tmp_path}/out' <&-"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert p.returncode == 2 and p.stdout == "", p
        assert "error: no prompt given" in p.stderr and f'genai imagine "{example}"' in p.stderr, p.stderr
        assert "red fox" not in p.stderr or model != "toy"


def test_imagine_records_its_seed_on_stderr_in_json_and_in_the_png(cli, tmp_path):
    """The one seed policy (genai_cli/seeds.py): --seed, then image.seed, then runtime.seed, then random; the seed
    used is on stderr, in the JSON record and in the PNG's metadata, and --seed with it makes the same image."""
    from genai_cli.image.pngmeta import read_png_text

    def run(*args):
        r = cli(
            "imagine",
            "--model",
            "toy",
            "a red star on a blue background",
            "--steps",
            "2",
            "--json",
            "-o",
            str(tmp_path / "out"),
            *args,
        )
        assert r.exit_code == 0, r
        rec = json.loads(r.stdout)
        meta = read_png_text(Path(rec["path"]))
        assert json.loads(meta["genai"])["seed"] == rec["seed"] and f"Seed: {rec['seed']}," in meta["parameters"]
        return r.stderr, rec

    stderr, rec = run()
    seed = rec["seed"]
    assert f"seed {seed} (random; --seed {seed} repeats this run)" in stderr
    stderr, again = run("--seed", str(seed))
    assert f"seed {seed} (from --seed)" in stderr and again["seed"] == seed
    assert Path(again["path"]).read_bytes() != b"" and np.array_equal(
        np.asarray(Image.open(again["path"])), np.asarray(Image.open(rec["path"]))
    )
    cfg = tmp_path / "genai.yaml"
    cfg.write_text("image:\n  seed: 11\nruntime:\n  seed: 22\n")
    stderr, rec = run("--config", str(cfg))
    assert "seed 11 (from config)" in stderr and rec["seed"] == 11
    stderr, rec = run("--config", str(cfg), "--seed", "5")
    assert "seed 5 (from --seed)" in stderr and rec["seed"] == 5
    cfg.write_text("runtime:\n  seed: 22\n")
    stderr, rec = run("--config", str(cfg))
    assert "seed 22 (from runtime.seed)" in stderr and rec["seed"] == 22


def test_models_is_the_one_resolver_of_built_in_assets():
    """genai_cli/models.py names every built-in asset; no other module builds a path into a package's data/."""
    import re

    from genai_cli import models
    from genai_cli.conv import cnn
    from genai_cli.errors import UsageError
    from genai_cli.image import loading

    assert models.resolve("toy", "image") == TOY_PIPELINE == loading.locate("toy").path
    assert (TOY_PIPELINE / "model_index.json").is_file()
    assert cnn.resolve_path("toy-analyzer") == models.builtin("toy-analyzer", "cnn")
    assert all(models.builtin(name, kind).exists() for kind, names in models.BUILTIN.items() for name in names)
    assert models.builtin("toy", "text") is None and models.local("sd15", "image") is None
    assert models.hub_id("sd15", "image") == models.aliases("image")["sd15"]
    with pytest.raises(UsageError, match="neither a known alias, an existing path, nor a hub id") as e:
        models.resolve("./nowhere", "image")
    assert "toy" in e.value.hint
    package = Path(models.__file__).parent
    for py in package.rglob("*.py"):
        if py.name != "models.py":
            assert not re.search(r'"data"\s*/|/\s*"data"', py.read_text(encoding="utf-8")), py
