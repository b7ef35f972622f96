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
    r = cli(
        "imagine", "a red circle on a white background", "--steps", "2", "--seed", "3", "-o", str(tmp_path), "--json"
    )
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
    r = cli(
        "invert",
        "--images",
        str(tmp_path / "moon"),
        "--token",
        "<m>",
        "--init-word",
        "circle",
        "--out",
        str(tmp_path / "inv"),
    )
    assert r.exit_code == 1 and "stopped by the test" in r.stderr
    assert "model auto: toy" in r.stderr
    (s,) = seen
    assert (s.model, s.batch_size, s.steps, s.resolution) == ("toy", 8, 400, 32)


def test_invert_auto_with_a_gpu_is_sd15_without_the_toy_preset(cli, tmp_path, monkeypatch):
    _fake_gpu(monkeypatch, "cuda")
    asked = _sd15_not_cached(monkeypatch)
    (tmp_path / "imgs").mkdir()
    r = cli(
        "invert",
        "--images",
        str(tmp_path / "imgs"),
        "--token",
        "<m>",
        "--init-word",
        "cat",
        "--out",
        str(tmp_path / "inv"),
    )
    assert r.exit_code == 1 and r.stdout == "" and asked == [SD15_ID]
    assert "model auto: sd15 (a cuda device is here" in r.stderr and not (tmp_path / "inv").exists()


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


@pytest.fixture(scope="module")
def shapes_tokenizer(tmp_path_factory):
    from transformers import CLIPTokenizer

    d = V.write_tokenizer(tmp_path_factory.mktemp("shapestok"), V.model_words(sky=False))
    return CLIPTokenizer.from_pretrained(str(d))


def test_closest_words_come_from_the_models_own_vocabulary(shipped_tokenizer, sky_tokenizer, shapes_tokenizer):
    assert V.closest_words("whte", shipped_tokenizer) == ["white"]
    assert V.closest_words("grey", shipped_tokenizer) == ["gray"]
    assert V.closest_words("galaxies", shipped_tokenizer) == ["galaxy"]  # the shipped model knows the sky
    assert V.closest_words("galaxy", shapes_tokenizer) == []  # a shapes-only model has no sky words to offer
    assert not {"galaxy", "stars", "space"} & set(V.closest_words("cosmos", shapes_tokenizer))
    assert V.closest_words("galaxies", sky_tokenizer) == ["galaxy"]
    assert V.closest_words("cosmos", sky_tokenizer) == ["galaxy", "stars", "space"]
    assert V.closest_words("saturn", sky_tokenizer) == ["ringed", "planet"]
    assert V.unknown_words("a beautiful blue spiral galaxy", sky_tokenizer) == []
    assert V.unknown_words("a ringed planet on a black background", sky_tokenizer) == []
    msg = V.unknown_message(["zzq", "nebulla"], tokenizer=sky_tokenizer, suggest=True)
    assert msg == "the toy model does not know: zzq, nebulla; closest known words: nebulla -> nebula"


def test_sky_vocabulary_keeps_the_shipped_words_and_tokenizer(shipped_tokenizer, tmp_path):
    """The shapes-only list is a prefix of the sky vocabulary (same ids); the default tokenizer is the shipped one."""
    assert V.model_words() == V.model_words(sky=True)
    assert V.model_words()[: len(V.model_words(sky=False))] == V.model_words(sky=False)
    assert "moon" not in V.model_words(sky=True)  # still held out for textual inversion
    from transformers import CLIPTokenizer

    fresh = CLIPTokenizer.from_pretrained(str(V.write_tokenizer(tmp_path / "tok")))
    assert fresh.get_vocab() == shipped_tokenizer.get_vocab()
    text = " ".join(V.model_words(sky=True)) + " moon galaxies"
    assert fresh(text).input_ids == shipped_tokenizer(text).input_ids


def test_imagine_warns_with_the_closest_words_and_still_draws(cli, tmp_path):
    r = cli(
        "imagine",
        "--model",
        "toy",
        "a red circel on a whte background",
        "--steps",
        "2",
        "--seed",
        "1",
        "-o",
        str(tmp_path),
    )
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

SHAPES_DIGEST = (
    "844733ade81790024cd9a6003fca50df3909ff1e5a3305494c49c6294576a4c4"  # render.py as the shipped model saw it
)


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

    order = {
        "red": ("r>g", "r>b"),
        "orange": ("r>g", "g>b"),
        "yellow": ("r>b", "g>b"),
        "blue": ("b>r", "b>g"),
        "purple": ("b>g", "r>g"),
    }
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


def test_dataset_with_the_sky_keeps_the_shape_images_and_labels_the_sky(tmp_path):
    from genai_cli.toyworld import dataset as D
    from genai_cli.toyworld import sky as S

    shapes = D.build(1, 32, seed=3)
    both = D.build(1, 32, seed=3, sky_per_scene=2)
    assert shapes.family is None and not shapes.has_sky
    assert len(both) == 161 + 30 * 2 and both.has_sky
    rows = both.family == 0
    assert sorted(im.tobytes() for im in both.images[rows]) == sorted(im.tobytes() for im in shapes.images)
    assert (both.shape[~rows] == -1).all() and (both.sky_colour[rows] == -1).all()
    caps = both.captions(held_out_token=V.PRIVATE_TOKEN)
    for i in np.flatnonzero(~rows):
        scene = both.sky_scene(i)
        assert caps[i] in S.captions(scene) and D.FAMILIES[both.family[i]] == scene.family
    assert sum("galaxy" in c for c in caps) >= 20
    back = D.load(D.save(both, tmp_path / "d.safetensors"))
    for k in ("images", "shape", "family", "sky_colour", "sky_caption"):
        assert np.array_equal(getattr(back, k), getattr(both, k)), k
    assert back.captions() == both.captions()
    assert D.load(D.save(shapes, tmp_path / "s.safetensors")).family is None


def test_the_shipped_analyzer_has_no_sky_heads():
    from genai_cli.toyworld import analyzer as A
    from genai_cli.toyworld import render as R

    v = A.load()(R.render(W.Scene("star", "red", "blue"), 32, R.image_rng(0, 0)))[0]
    assert v.family is None and "family" not in v.to_json() and v.shape == "star"


@pytest.mark.skipif(
    not Path(__file__).resolve().parents[1].joinpath("genai_cli/toyworld/data/analyzer-sky.safetensors").is_file(),
    reason="the sky analyzer is not trained yet (scripts/toyworld/train_analyzer.py --sky)",
)
def test_the_sky_analyzer_reads_fresh_renders():
    """Renders of a seed its training and test sets never used: the sky's family and colour, and the shapes."""
    from genai_cli.toyworld import analyzer as A
    from genai_cli.toyworld import dataset as D

    an = A.load(A.SKY_PATH)
    assert an.accuracy["test"]["family"] >= 0.99 and an.accuracy["test"]["all"] >= 0.97
    ds = D.build(1, 64, seed=777, sky_per_scene=4)
    pred = an.predict(ds.images)
    sky, shapes = ds.family > 0, ds.family == 0
    assert (pred["family"] == ds.family).mean() >= 0.97
    assert (pred["sky_colour"][sky] == ds.sky_colour[sky]).mean() >= 0.95
    assert (pred["shape"][shapes] == ds.shape[shapes]).mean() >= 0.95
    assert (pred["colour"][shapes] == ds.colour[shapes]).mean() >= 0.98
    v = an(ds.images[:3])
    assert all(x.family is not None and "family" in x.to_json() for x in v)


ROOT = Path(__file__).resolve().parents[1]


def toyworld_script(name: str):
    """scripts/toyworld/NAME.py as a module of its own name (genai_scripts_toyworld_NAME), not as a bare `train`
    on sys.path that could shadow or be shadowed by another module of that name."""
    import importlib.util
    import sys

    path = ROOT / "scripts" / "toyworld" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"genai_scripts_toyworld_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module


def test_train_on_shapes_and_sky_gives_a_pipeline_that_knows_the_sky_words(tmp_path):
    """train.py on a dataset with the sky: the sky vocabulary, the private row removed, a galaxy drawn."""
    import torch
    from diffusers import StableDiffusionPipeline

    from genai_cli.toyworld import dataset as D

    data = D.save(D.build(1, 32, seed=0, sky_per_scene=1), tmp_path / "d.safetensors")
    train = toyworld_script("train")

    out = train.main(
        [
            "--data",
            str(data),
            "--out",
            str(tmp_path / "run"),
            "--preset",
            "tiny",
            "--vae-steps",
            "2",
            "--vae-batch",
            "4",
            "--unet-steps",
            "2",
            "--unet-batch",
            "4",
            "--threads",
            "1",
        ]
    )
    pipe = StableDiffusionPipeline.from_pretrained(str(out), local_files_only=True)
    assert V.unknown_words("a beautiful blue spiral galaxy with stars in the night sky", pipe.tokenizer) == []
    assert V.PRIVATE_TOKEN not in pipe.tokenizer.get_vocab() and "moon</w>" not in pipe.tokenizer.get_vocab()
    assert len(pipe.tokenizer) == pipe.text_encoder.get_input_embeddings().weight.shape[0]
    img = pipe(
        "a beautiful galaxy", num_inference_steps=2, generator=torch.Generator().manual_seed(0), output_type="np"
    ).images
    assert img.shape == (1, 32, 32, 3)


def test_analyzer_training_labels_leave_out_the_heads_that_do_not_apply():
    import torch

    from genai_cli.toyworld import analyzer as A
    from genai_cli.toyworld import dataset as D

    T = toyworld_script("train_analyzer")

    ds = D.build(0, 32, seed=1, sky_per_scene=1)  # 30 sky images, no shapes
    y = T.labels_of(ds, A.SKY_HEADS)
    assert y.shape == (30, 5) and (y[:, :3] == -1).all() and (y[:, 3] > 0).all() and (y[:, 4] >= 0).all()
    slices = A.head_slices(A.SKY_HEADS)

    class Perfect(torch.nn.Module):  # logits that pick the true family, and sky colour 0 for every image
        def forward(self, x):
            z = torch.zeros(len(x), 29)
            z[torch.arange(len(x)), slices["family"].start + torch.from_numpy(y[: len(x), 3])] = 1
            z[:, slices["sky_colour"].start] = 1
            return z

    acc = T.accuracy(Perfect(), torch.zeros(30, 3, 32, 32), y, A.SKY_HEADS)
    assert acc["family"] == 1.0 and acc["sky_colour"] == round(float((y[:, 4] == 0).mean()), 4)
    assert np.isnan(acc["shape"])  # no shape image: nothing measured, not counted as right or wrong
    assert acc["all"] == acc["sky_colour"]
    assert T.labels_of(D.build(1, 32, seed=1), A.HEADS).shape == (161, 3)
