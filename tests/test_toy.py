"""genai toy and genai_cli.toyworld: renderer, captions, CLIP vocabulary, analyzer, render command, train.py smoke."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from genai_cli.toyworld import render as R
from genai_cli.toyworld import vocab as V
from genai_cli.toyworld import world as W

ROOT = Path(__file__).resolve().parent.parent


def toyworld_script(name: str):
    """scripts/toyworld/NAME.py as a module of its own name (genai_scripts_toyworld_NAME), not as a bare `train`
    on sys.path that could shadow or be shadowed by another module of that name."""
    import importlib.util

    path = ROOT / "scripts" / "toyworld" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"genai_scripts_toyworld_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses and pickling look the module up by name
    spec.loader.exec_module(module)
    return module


# --- world and renderer -------------------------------------------------------------------------------------


def test_world_sizes_and_held_out():
    assert len(W.SHAPES) >= 6 and len(W.COLOURS) >= 6 and len(W.BACKGROUNDS) >= 4
    assert W.HELD_OUT not in W.SHAPES and W.HELD_OUT in W.ALL_SHAPES
    scenes = W.all_scenes()
    assert len(scenes) == len(W.ALL_SHAPES) * (len(W.COLOURS) * len(W.BACKGROUNDS) - 1)  # minus blue on blue
    assert all(s.colour != s.background for s in scenes)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a red star on a blue background", W.Scene("star", "red", "blue")),
        ("An orange heart on a white background.", W.Scene("heart", "orange", "white")),
        ("a green moon on a gray background", W.Scene("moon", "green", "gray")),
    ],
)
def test_parse_caption(text, expected):
    assert W.parse_caption(text) == expected
    assert W.parse_caption(expected.caption) == expected


@pytest.mark.parametrize(
    "text, unknown",
    [
        ("a shiny star in a cosmos", ["shiny", "cosmos"]),
        ("a beautiful star in a galaxy", []),  # the sky's words, but not a sky caption
        ("a purple galaxy", []),
        ("a red star on a blue", []),
        ("a red blue on a blue background", []),
        ("a blue star on a blue background", []),
    ],
)
def test_parse_caption_rejects(text, unknown):
    with pytest.raises(W.CaptionError) as e:
        W.parse_caption(text)
    assert e.value.unknown == unknown


def test_render_is_deterministic():
    scene = W.Scene("star", "red", "blue")
    a = R.render(scene, 64, R.image_rng(7, 3))
    b = R.render(scene, 64, R.image_rng(7, 3))
    c = R.render(scene, 64, R.image_rng(7, 4))
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert np.array_equal(R.render(scene, 32, R.image_rng(1, 0)), R.render(scene, 32, R.image_rng(1, 0)))


def test_render_is_antialiased():
    img = R.render(W.Scene("circle", "red", "white"), 64, R.image_rng(0, 0), jitter=False)
    colours = {tuple(p) for p in img.reshape(-1, 3)}
    assert W.COLOURS["red"] in colours and W.BACKGROUNDS["white"] in colours
    assert len(colours) > 5  # edge pixels blend the two


# a point well inside each shape, in unit-box coordinates (the moon's centre is cut out)
INSIDE = {
    "circle": (0, 0),
    "square": (0, 0),
    "triangle": (0, 0.2),
    "star": (0, 0),
    "cross": (0, 0),
    "heart": (0, 0),
    "moon": (-0.7, 0.1),
}


@pytest.mark.parametrize("shape", W.ALL_SHAPES)
def test_pixel_colours_match_the_caption(shape):
    for k, (colour, background) in enumerate(
        [("red", "white"), ("yellow", "black"), ("purple", "gray"), ("green", "blue")]
    ):
        scene = W.Scene(shape, colour, background)
        placement = R.place(scene, 64, R.image_rng(11, k), jitter=False)
        img = R.render(scene, 64, placement=placement)
        ux, uy = INSIDE[shape]
        x, y = int(placement.cx + ux * placement.radius), int(placement.cy + uy * placement.radius)
        assert tuple(img[y, x]) == W.COLOURS[colour], (shape, colour)
        # the farthest corner from the shape is background
        corner = (0 if placement.cy > 32 else 63, 0 if placement.cx > 32 else 63)
        assert tuple(img[corner]) == W.BACKGROUNDS[background]
        # with jitter the same scene stays within the jitter of its colour
        jittered = R.render(scene, 64, R.image_rng(11, k))
        assert np.abs(jittered[y, x].astype(int) - W.COLOURS[colour]).max() <= R.COLOUR_JITTER


def test_dataset_roundtrip(tmp_path):
    from genai_cli.toyworld import dataset as D

    ds = D.build(1, 32, seed=3)
    assert len(ds) == len(W.all_scenes()) and ds.images.shape == (len(ds), 32, 32, 3)
    assert np.array_equal(D.build(1, 32, seed=3).images, ds.images)
    path = D.save(ds, tmp_path / "d.safetensors")
    back = D.load(path)
    assert np.array_equal(back.images, ds.images) and np.array_equal(back.shape, ds.shape)
    caps = back.captions()
    assert caps[0] == back.scene(0).caption
    private = back.captions(held_out_token=V.PRIVATE_TOKEN)
    moon = [i for i in range(len(ds)) if back.scene(i).shape == W.HELD_OUT]
    assert moon and all(V.PRIVATE_TOKEN in private[i].split() and W.HELD_OUT not in private[i].split() for i in moon)


# --- analyzer -----------------------------------------------------------------------------------------------


def test_analyzer_reads_fresh_renders():
    from genai_cli.toyworld import analyzer as A

    an = A.load()
    assert an.accuracy["test"]["all"] >= 0.98  # recorded by train_analyzer.py on 3220 held-out renders
    scenes = W.all_scenes()
    images = np.stack([R.render(s, 64, R.image_rng(2024, k)) for k, s in enumerate(scenes)])  # a seed it never saw
    verdicts = an(images)
    for head in ("shape", "colour", "background"):
        right = np.mean([getattr(v, head) == getattr(s, head) for v, s in zip(verdicts, scenes)])
        assert right >= 0.97, (head, right)
    assert an(images[:1])[0].to_json()["colour"] == scenes[0].colour


def test_analyzer_is_a_genai_cnn_file():
    from genai_cli.conv import cnn
    from genai_cli.toyworld import analyzer as A

    net = cnn.load(str(A.PATH))  # genai conv's NumPy loader reads it
    x = net.samples[2]  # (3, 32, 32): the built-in sample of shape 2
    logits = cnn.forward(net, x).logits
    assert logits.shape == (17,)
    assert net.labels[int(np.argmax(logits[:7]))] == f"shape:{W.ALL_SHAPES[2]}"


# --- tokenizer ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import CLIPTokenizer

    d = V.write_tokenizer(tmp_path_factory.mktemp("tok"))
    assert {"vocab.json", "merges.txt"} <= {p.name for p in d.iterdir()}
    return CLIPTokenizer.from_pretrained(str(d))


def test_tokenizer_has_one_token_per_world_word(tokenizer):
    for w in V.model_words():
        assert tokenizer.tokenize(w) == [w + "</w>"], w
    ids = tokenizer("a red star on a blue background").input_ids
    assert len(ids) == 9 and ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.model_max_length == V.MODEL_MAX_LENGTH
    assert tokenizer.tokenize(W.HELD_OUT) != [W.HELD_OUT + "</w>"]  # the held-out word is not in the vocabulary


def test_unknown_words(tokenizer):
    assert V.unknown_words("a shiny red star in a cosmos", tokenizer) == ["shiny", "cosmos"]
    assert V.unknown_words("a beautiful red star in a galaxy", tokenizer) == []  # the night sky's words
    assert V.unknown_words("a red star on a blue background", tokenizer) == []
    assert V.unknown_words("a red moon on a blue background") == ["moon"]
    assert V.unknown_message(["shiny", "cosmos"]) == "the toy model does not know: shiny, cosmos"
    assert "ack" not in V.known_words(tokenizer)  # a BPE piece is not a word
    tokenizer.add_tokens([V.PRIVATE_TOKEN])  # as textual inversion does
    assert V.unknown_words(f"a red {V.PRIVATE_TOKEN} on a blue background", tokenizer) == []


# --- genai toy render / words -------------------------------------------------------------------------------


def _png_params(path: Path) -> str:
    from PIL import Image

    with Image.open(path) as im:
        return im.text["parameters"]


def test_render_command(cli, tmp_path):
    r = cli("toy", "render", "a red star on a blue background", "--n", "3", "--out", "imgs", "--seed", "5")
    assert r.exit_code == 0, r
    paths = [Path(p) for p in r.stdout.splitlines()]
    assert len(paths) == 3 and all(p.is_file() for p in paths)
    assert "seed" not in r.stdout and not list(Path("imgs").glob(".*tmp*"))
    from PIL import Image

    first = np.asarray(Image.open(paths[0]).convert("RGB"))
    assert first.shape == (32, 32, 3)  # the default: the built-in model's training size
    assert np.array_equal(first, R.render(W.Scene("star", "red", "blue"), 32, R.image_rng(5, 0)))
    assert _png_params(paths[0]).startswith("a red star on a blue background\nSeed: 5")

    before = {p: p.read_bytes() for p in paths}
    again = cli(
        "toy", "render", "a red star on a blue background", "--n", "3", "--out", "imgs", "--seed", "6", "--size", "64"
    )
    new = [Path(p) for p in again.stdout.splitlines()]
    assert again.exit_code == 0 and not set(new) & set(paths)
    same_seed = cli(
        "toy", "render", "a red star on a blue background", "--n", "3", "--out", "imgs", "--seed", "5", "--size", "64"
    )
    fresh = [Path(p) for p in same_seed.stdout.splitlines()]
    assert not set(fresh) & set(paths) and all(p.read_bytes() == b for p, b in before.items())  # nothing overwritten
    forced = cli(
        "toy",
        "render",
        "a red star on a blue background",
        "--n",
        "1",
        "--out",
        "imgs",
        "--seed",
        "5",
        "--size",
        "64",
        "--force",
    )
    assert forced.stdout.split() == [str(paths[0])]
    assert np.asarray(Image.open(paths[0])).shape == (64, 64, 3)


def test_render_json_and_random_seed(cli):
    r = cli("toy", "render", "an orange heart on a white background", "-n", "2", "-o", "out", "--json")
    assert r.exit_code == 0, r
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["index"] for o in objs] == [0, 1] and objs[0]["caption"] == "an orange heart on a white background"
    assert objs[0]["seed"] == objs[1]["seed"] and f"seed {objs[0]['seed']}" in r.stderr
    assert all(Path(o["path"]).is_file() for o in objs)


@pytest.mark.parametrize(
    "caption, says",
    [
        ("a shiny star in a cosmos", "does not know: shiny, cosmos"),
        ("a beautiful star in a galaxy", "is not a night sky caption"),
        ("a red star", "is not of the form"),
        ("a blue star on a blue background", "could not be seen"),
    ],
)
def test_render_rejects_what_the_world_cannot_draw(cli, caption, says):
    r = cli("toy", "render", caption, "--out", "never")
    assert r.exit_code == 2 and r.stdout == ""
    assert says in r.stderr and "circle" in r.stderr and "purple" in r.stderr and "gray" in r.stderr
    assert not Path("never").exists()


def test_render_reads_captions_from_stdin(cli):
    r = cli(
        "toy",
        "render",
        "-",
        "--n",
        "2",
        "--out",
        "many",
        "--seed",
        "3",
        input="a red star on a blue background\n\na purple unicorn\nan orange heart on a white background\n",
    )
    assert r.exit_code == 2  # one bad line: reported, the others drawn
    paths = r.stdout.splitlines()
    assert len(paths) == 4 and all(Path(p).is_file() for p in paths)
    assert "star" in paths[0] and "heart" in paths[2] and "unicorn" in r.stderr
    j = cli("toy", "render", "--n", "1", "--out", "many", "--seed", "3", "--json", input="a purple unicorn\n")
    err = json.loads(j.stdout)  # the error object of genai_cli.commands.queries
    assert j.exit_code == 2 and (err["error"], err["line"], err["query"]) == (
        "the toy world does not know: unicorn",
        1,
        "a purple unicorn",
    )


def test_words_command(cli):
    r = cli("toy", "words")
    assert r.exit_code == 0
    assert r.stdout.splitlines()[0] == "shapes: " + " ".join(W.SHAPES)
    assert "held out: moon" in r.stdout
    assert "sky: spiral elliptical planet stars nebula" in r.stdout.splitlines()
    j = json.loads(cli("toy", "words", "--json").stdout)
    assert j["colours"] == list(W.COLOURS) and j["backgrounds"] == list(W.BACKGROUNDS) and j["held_out"] == "moon"
    assert j["sky"]["families"] == list(W.SKY_FAMILIES) and "galaxy" in j["sky"]["words"]


def test_render_draws_the_night_sky(cli):
    """A sky scene's own caption is drawn by the sky's renderer, pixel for pixel, as training saw it."""
    from PIL import Image

    from genai_cli.toyworld import sky as S

    for scene in (S.SkyScene("spiral", "blue"), S.SkyScene("stars", "purple"), S.SkyScene("planet", "white")):
        r = cli("toy", "render", scene.caption, "--n", "1", "--seed", "4", "--out", "sky", "--json")
        assert r.exit_code == 0, r
        record = json.loads(r.stdout)
        assert record["caption"] == scene.caption
        with Image.open(record["path"]) as im:
            pixels = np.asarray(im.convert("RGB"))
        assert np.array_equal(pixels, S.render(scene, 32, R.image_rng(4, 0))), scene
    assert W.parse_caption("Purple stars in the night sky.") == S.SkyScene("stars", "purple")
    other = cli("toy", "render", "a ringed planet on a black background", "--out", "never")  # a training caption,
    assert other.exit_code == 2 and "is not a night sky caption" in other.stderr  # but not a scene's own one
    assert "a <colour> spiral galaxy" in other.stderr and not Path("never").exists()
    slot = cli("toy", "render", "a blue nebula", "--captions", "--out", "never")
    assert slot.exit_code == 2 and "--captions" in slot.stderr and not Path("never").exists()


def test_toy_help_imports_nothing_heavy():
    code = (
        "import sys\nsys.argv=['genai','toy','render','--help']\nfrom genai_cli.app import app\n"
        "try:\n    app(prog_name='genai')\nexcept SystemExit:\n    pass\n"
        "import json\nprint(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not [m for m in ("torch", "numpy", "PIL", "transformers", "diffusers", "accelerate") if m in mods]
    assert "--seed" in out.stdout


# --- train.py smoke -----------------------------------------------------------------------------------------


@pytest.mark.skipif(
    os.environ.get("GENAI_SLOW_TESTS", "") in ("", "0"), reason="20-50 s of CPU: set GENAI_SLOW_TESTS=1"
)
def test_train_smoke_produces_a_loadable_pipeline(tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline

    from genai_cli.toyworld import dataset as D

    data = D.save(D.build(1, 32, seed=0), tmp_path / "d.safetensors")
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
    assert len(pipe.tokenizer) == pipe.text_encoder.get_input_embeddings().weight.shape[0]  # private row removed
    assert V.PRIVATE_TOKEN not in pipe.tokenizer.get_vocab()
    img = pipe(
        "a red star on a blue background",
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).images
    assert img.shape == (1, 32, 32, 3)
    # resuming a finished run changes nothing and trains no step
    again = train.main(
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
    assert again == out


def test_train_resumes_exactly(tmp_path):
    """Stopped twice (inside the VAE, then inside the U-Net) and continued: the same weights as one unbroken run."""
    from safetensors.torch import load_file

    from genai_cli.toyworld import dataset as D

    data = D.save(D.build(1, 32, seed=0), tmp_path / "d.safetensors")
    train = toyworld_script("train")

    common = [
        "--data",
        str(data),
        "--preset",
        "tiny",
        "--vae-steps",
        "3",
        "--vae-batch",
        "4",
        "--unet-steps",
        "4",
        "--unet-batch",
        "4",
        "--threads",
        "1",
    ]
    a = train.main(common + ["--out", str(tmp_path / "a")])
    assert train.main(common + ["--out", str(tmp_path / "b"), "--stop-after", "2"]) is None  # in the VAE
    assert train.main(common + ["--out", str(tmp_path / "b"), "--stop-after", "3"]) is None  # at U-Net step 2
    assert json.loads((tmp_path / "b" / "checkpoints" / "unet" / "state.json").read_text()) == {"step": 2}
    b = train.main(common + ["--out", str(tmp_path / "b")])
    for sub in (
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
    ):
        ta, tb = load_file(str(a / sub)), load_file(str(b / sub))
        assert ta.keys() == tb.keys() and all(bool((ta[k] == tb[k]).all()) for k in ta), sub
