"""Issue 15: `auto` is the default model (sd15 with a GPU, the toy model on a CPU), unknown words get the
closest known words, and the toy world's night sky (genai_cli/toyworld/sky.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genai_cli.errors import GenaiError
from genai_cli.image import loading
from genai_cli.toyworld import vocab as V
from genai_cli.toyworld import world as W

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SD15_ID = "stable-diffusion-v1-5/stable-diffusion-v1-5"


def _no_gpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    if getattr(torch.backends, "mps", None) is not None:
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)


def _fake_gpu(monkeypatch, kind):
    """Make torch's device query answer as on a CUDA or an Apple (MPS) machine."""
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: kind == "cuda")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: kind == "mps")


def _sd15_not_cached(monkeypatch):
    """sd15 as on an offline machine that has never downloaded it; records what was asked for."""
    from genai_cli import models

    asked = []

    def snapshot(repo_id, allow_patterns=None, label=None):
        asked.append(repo_id)
        raise GenaiError(f"model {label} ({repo_id}) is not in the local Hugging Face cache, and HF_HUB_OFFLINE is set")

    monkeypatch.setattr(models, "hub_snapshot", snapshot)
    return asked


# --- part 1: the default model is the one that can run -----------------------------------------------------


def test_auto_is_the_default_for_imagine_and_invert():
    from genai_cli import config

    assert config.section("image", None)["model"] == "auto"
    assert config.section("invert", None)["model"] == "auto"


def test_auto_on_a_cpu_is_the_toy_model(cli, tmp_path, monkeypatch):
    _no_gpu(monkeypatch)
    r = cli("imagine", "a red circle on a white background", "--steps", "2", "--seed", "3", "-o", str(tmp_path), "--json")
    assert r.exit_code == 0, r
    lines = [line for line in r.stderr.splitlines() if line.startswith("model auto:")]
    assert len(lines) == 1 and "toy" in lines[0] and "no CUDA or MPS device" in lines[0] and "--model sd15" in lines[0]
    record = json.loads(r.stdout)
    assert record["model"] == "toy" and record["width"] == 32  # the recipe names the model auto chose
    assert json.loads(cli("info", record["path"], "--json").stdout)["parameters"]["Model"] == "toy"


@pytest.mark.parametrize("kind", ["cuda", "mps"])
def test_auto_with_a_gpu_is_sd15(cli, tmp_path, monkeypatch, kind):
    _fake_gpu(monkeypatch, kind)
    asked = _sd15_not_cached(monkeypatch)
    r = cli("imagine", "a beautiful galaxy", "-o", str(tmp_path / "out"))
    assert r.exit_code == 1 and r.stdout == ""  # offline and not cached: the error and the hint, nothing drawn
    assert asked == [SD15_ID]
    assert f"model auto: sd15 (a {kind} device is here" in r.stderr and "--model toy" in r.stderr
    assert "hint:" in r.stderr and not (tmp_path / "out").exists()


def test_auto_with_device_cpu_on_a_gpu_machine_is_the_toy_model(monkeypatch):
    _fake_gpu(monkeypatch, "cuda")
    assert loading.choose_auto("auto")[0] == "sd15"
    name, line = loading.choose_auto("cpu")
    assert name == "toy" and "device cpu" in line
    assert loading.resolve_auto("sd21", "cuda") == "sd21"  # only `auto` is resolved
    said = []
    assert loading.resolve_auto("auto", "mps", said.append) == "sd15" and len(said) == 1


def test_auto_without_the_toy_model_is_a_broken_install(cli, tmp_path, monkeypatch):
    _no_gpu(monkeypatch)
    monkeypatch.setattr(loading, "TOY_PIPELINE", tmp_path / "missing")
    r = cli("imagine", "a red circle on a white background", "-o", str(tmp_path))
    assert r.exit_code == 1 and r.stdout == ""
    assert "the built-in toy model is missing from this installation" in r.stderr
    assert "hint: reinstall genai" in r.stderr


def test_invert_auto_on_a_cpu_is_the_toy_model_with_its_preset(cli, tmp_path, monkeypatch):
    """auto -> toy -> the toy-cpu preset (batch 8, 400 steps, 32 px), as `--model toy` gives."""
    from genai_cli.invert import train

    _no_gpu(monkeypatch)
    r = cli("toy", "render", "a red moon on a white background", "-n", "3", "-o", str(tmp_path / "moon"), "--captions")
    assert r.exit_code == 0, r
    seen = []

    def stop(s, rt, **kw):
        seen.append(s)
        raise GenaiError("stopped by the test before training")

    monkeypatch.setattr(train, "invert", stop)
    r = cli("invert", "--images", str(tmp_path / "moon"), "--token", "<m>", "--init-word", "circle",
            "--out", str(tmp_path / "inv"))
    assert r.exit_code == 1 and "stopped by the test" in r.stderr
    assert "model auto: toy" in r.stderr
    (s,) = seen
    assert (s.model, s.batch_size, s.steps, s.resolution) == ("toy", 8, 400, 32)


# --- unknown words: the warning names them and the closest known words ------------------------------------


@pytest.fixture(scope="module")
def shipped_tokenizer():
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(loading.TOY_PIPELINE / "tokenizer"))


@pytest.fixture(scope="module")
def sky_tokenizer(tmp_path_factory):
    from transformers import CLIPTokenizer

    d = V.write_tokenizer(tmp_path_factory.mktemp("skytok"), V.model_words(sky=True))
    return CLIPTokenizer.from_pretrained(str(d))


def test_closest_words_come_from_the_models_own_vocabulary(shipped_tokenizer, sky_tokenizer):
    assert V.closest_words("whte", shipped_tokenizer) == ["white"]
    assert V.closest_words("grey", shipped_tokenizer) == ["gray"]
    assert V.closest_words("galaxy", shipped_tokenizer) == []  # the shipped model has no sky words to offer
    assert not {"galaxy", "stars", "space"} & set(V.closest_words("cosmos", shipped_tokenizer))
    assert V.closest_words("galaxies", sky_tokenizer) == ["galaxy"]
    assert V.closest_words("cosmos", sky_tokenizer) == ["galaxy", "stars", "space"]
    assert V.closest_words("saturn", sky_tokenizer) == ["ringed", "planet"]
    assert V.unknown_words("a beautiful blue spiral galaxy", sky_tokenizer) == []
    assert V.unknown_words("a ringed planet on a black background", sky_tokenizer) == []
    msg = V.unknown_message(["zzq", "nebulla"], tokenizer=sky_tokenizer, suggest=True)
    assert msg == "the toy model does not know: zzq, nebulla; closest known words: nebulla -> nebula"


def test_sky_vocabulary_keeps_the_shipped_words_and_tokenizer(shipped_tokenizer, tmp_path):
    """The shipped list is unchanged (and a prefix of the sky vocabulary); the default tokenizer is the shipped one."""
    assert V.model_words(sky=True)[: len(V.model_words())] == V.model_words()
    assert "moon" not in V.model_words(sky=True)  # still held out for textual inversion
    from transformers import CLIPTokenizer

    fresh = CLIPTokenizer.from_pretrained(str(V.write_tokenizer(tmp_path / "tok")))
    assert fresh.get_vocab() == shipped_tokenizer.get_vocab()
    text = " ".join(V.model_words(sky=True)) + " moon galaxies"
    assert fresh(text).input_ids == shipped_tokenizer(text).input_ids


def test_imagine_warns_with_the_closest_words_and_still_draws(cli, tmp_path):
    r = cli("imagine", "--model", "toy", "a red circel on a whte background", "--steps", "2", "--seed", "1",
            "-o", str(tmp_path))
    assert r.exit_code == 0, r
    warn = [line for line in r.stderr.splitlines() if "does not know" in line]
    assert len(warn) == 1
    assert "does not know: circel, whte; closest known words: circel -> circle; whte -> white" in warn[0]
    assert Path(r.stdout.strip()).is_file()


def test_a_prompt_with_no_known_word_warns_and_still_draws(cli, tmp_path):
    """Documented choice: as CLIP would, the model draws from the empty prompt (its unconditional image)."""
    r = cli("imagine", "--model", "toy", "zzyzx qwrtp", "--steps", "2", "--seed", "1", "-o", str(tmp_path))
    assert r.exit_code == 0, r
    assert "does not know: zzyzx, qwrtp" in r.stderr
    assert np.asarray(Image.open(r.stdout.strip())).shape == (32, 32, 3)


# --- part 2: the night sky --------------------------------------------------------------------------------

SHAPES_DIGEST = "844733ade81790024cd9a6003fca50df3909ff1e5a3305494c49c6294576a4c4"  # render.py as the shipped model saw it


def test_todays_shape_renders_are_pixel_identical():
    """Adding the sky changed no shape pixel: every 7th scene at 32 and 64 px, seed 5, hashed before the sky."""
    import hashlib

    from genai_cli.toyworld import render as R

    h = hashlib.sha256()
    for k, scene in enumerate(W.all_scenes()[::7]):
        for size in (32, 64):
            h.update(R.render(scene, size, R.image_rng(5, k)).tobytes())
    assert h.hexdigest() == SHAPES_DIGEST
    assert len(W.all_scenes()) == 161 and W.HELD_OUT == "moon"


def test_sky_renders_are_seeded_and_sized():
    from genai_cli.toyworld import render as R
    from genai_cli.toyworld import sky as S

    scenes = S.sky_scenes()
    assert len(scenes) == 30 and {s.family for s in scenes} == set(W.SKY_FAMILIES)
    for size in (32, 48, 64):
        for scene in scenes[::4]:
            a = S.render(scene, size, R.image_rng(1, 2))
            assert a.shape == (size, size, 3) and a.dtype == np.uint8
            assert np.array_equal(a, S.render(scene, size, R.image_rng(1, 2)))
            assert not np.array_equal(a, S.render(scene, size, R.image_rng(1, 3)))
    with pytest.raises(ValueError, match="unknown sky scene"):
        S.render(S.SkyScene("comet", "red"), 32)


@pytest.mark.parametrize("family", W.SKY_FAMILIES)
def test_sky_scenes_show_their_colour_on_a_dark_sky(family):
    """The light added to the sky has the scene's hue (channel order), and the image is mostly dark sky."""
    from genai_cli.toyworld import render as R
    from genai_cli.toyworld import sky as S

    order = {"red": ("r>g", "r>b"), "orange": ("r>g", "g>b"), "yellow": ("r>b", "g>b"),
             "blue": ("b>r", "b>g"), "purple": ("b>g", "r>g")}
    idx = {"r": 0, "g": 1, "b": 2}
    for colour in W.SKY_COLOURS:
        for i in range(5):
            img = S.render(S.SkyScene(family, colour), 32, R.image_rng(11, i)).astype(np.float64)
            sky = np.percentile(img.reshape(-1, 3), 5, axis=0)  # this image's (jittered) night sky
            light = np.clip(img - sky, 0, None).reshape(-1, 3).sum(0)
            for rule in order.get(colour, ()):
                assert light[idx[rule[0]]] > light[idx[rule[2]]], (family, colour, i, light)
            if colour == "white":
                assert light.max() < 1.35 * light.min(), (family, i, light)
            assert np.median(img.max(axis=2)) < 200, (family, colour)  # not a bright blank


def test_sky_captions_use_only_sky_vocabulary_words():
    from genai_cli.toyworld import render as R
    from genai_cli.toyworld import sky as S

    vocabulary = set(V.model_words(sky=True))
    for scene in S.sky_scenes():
        caps = S.captions(scene)
        assert len(caps) == len(set(caps)) >= 8
        assert scene.colour in caps[0].split()  # the evaluation caption names the colour
        for c in caps:
            assert set(W.words(c)) <= vocabulary and "moon" not in c, c
            family, colour = S.asked_for(c)
            assert S.matches(family, scene.family), (c, family)
            assert colour in (None, scene.colour), c
    assert "a beautiful galaxy" in S.captions(S.SkyScene("spiral", "blue"))
    assert "a blue spiral galaxy" == S.SkyScene("spiral", "blue").caption
    assert "a ringed planet on a black background" in S.captions(S.SkyScene("planet", "red"))
    assert "a purple nebula with stars" in S.captions(S.SkyScene("nebula", "purple"))
    assert "an orange elliptical galaxy" == S.SkyScene("elliptical", "orange").caption
    rng = R.image_rng(0, 0)
    drawn = {S.random_caption(S.SkyScene("spiral", "red"), rng) for _ in range(200)}
    assert "a red spiral galaxy" in drawn and "a beautiful galaxy" in drawn and len(drawn) > 6


def test_asked_for_reads_the_family_and_colour_of_a_prompt():
    from genai_cli.toyworld import sky as S

    assert S.asked_for("a beautiful galaxy") == ("galaxy", None)
    assert S.asked_for("A blue spiral galaxy.") == ("spiral", "blue")
    assert S.asked_for("a planet with rings") == ("planet", None)
    assert S.asked_for("a purple nebula with stars") == ("nebula", "purple")
    assert S.asked_for("bright stars in space") == ("stars", None)
    assert S.asked_for("a red star on a blue background") == (None, "red")  # a shape, not the sky
    assert S.matches("galaxy", "elliptical") and S.matches("galaxy", "spiral") and not S.matches("galaxy", "planet")
