"""genai imagine / diffuse / info on a tiny Stable Diffusion pipeline made from configs (no download)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genai_cli.image import pngmeta

sys.path.insert(0, str(Path(__file__).parent))
from ldm_checkpoint import unet_key, write_ldm_checkpoint  # noqa: E402

TINY_STEPS = "3"  # enough to exercise every scheduler, fast on a CPU


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def _imagine(cli, tiny, *args, input=None):
    return cli("imagine", "--model", str(tiny), "--steps", TINY_STEPS, *args, input=input)


# --- imagine: files, metadata, seeds --------------------------------------------------------


def test_imagine_writes_pngs_and_info_reads_the_recipe_back(cli, tiny, tmp_path):
    r = _imagine(
        cli,
        tiny,
        "a red fox, in the snow",
        "--negative",
        "blurry",
        "--seed",
        "5",
        "--n",
        "2",
        "--guidance",
        "6",
        "-o",
        "out",
    )
    assert r.exit_code == 0, r
    paths = r.stdout.splitlines()
    assert paths == ["out/00000-5-a-red-fox-in-the-snow.png", "out/00001-6-a-red-fox-in-the-snow.png"]
    assert "out/" not in r.stderr and "using cpu" in r.stderr  # messages on stderr, paths on stdout only
    for seed, p in zip((5, 6), paths):
        assert Image.open(p).size == (64, 64)  # the tiny model's native size
        info = cli("info", "--json", p)
        assert info.exit_code == 0, info
        got = json.loads(info.stdout)
        params = got["parameters"]
        assert params["prompt"] == "a red fox, in the snow"
        assert params["negative_prompt"] == "blurry"
        assert params["Steps"] == TINY_STEPS and params["Seed"] == str(seed) and params["Size"] == "64x64"
        assert params["CFG scale"] == "6.0" and params["Sampler"] == "DDIM" and params["Model"] == "tiny-sd"
        assert got["genai"]["seed"] == seed and got["genai"]["prompt"] == "a red fox, in the snow"
        assert got["genai"]["negative"] == "blurry" and got["genai"]["steps"] == 3
        text = cli("info", p)
        assert "prompt: a red fox, in the snow" in text.stdout and f"Seed: {seed}" in text.stdout


def test_same_seed_same_image_and_nothing_overwritten(cli, tiny):
    a = _imagine(cli, tiny, "a cat", "--seed", "11", "-o", "o")
    first = Path(a.stdout.strip())
    before = first.read_bytes()
    b = _imagine(cli, tiny, "a cat", "--seed", "11", "-o", "o")
    c = _imagine(cli, tiny, "a cat", "--seed", "12", "-o", "o")
    assert a.exit_code == b.exit_code == c.exit_code == 0
    second, third = Path(b.stdout.strip()), Path(c.stdout.strip())
    assert len({first, second, third}) == 3  # a fresh running number each time
    assert first.read_bytes() == before  # the first file was not touched
    assert np.array_equal(_pixels(first), _pixels(second))  # same seed, same image
    assert not np.array_equal(_pixels(first), _pixels(third))  # another seed, another image
    assert sorted(p.name for p in Path("o").iterdir()) == sorted(p.name for p in (first, second, third))


def test_seed_drawn_at_random_is_recorded_and_reproduces(cli, tiny):
    r = _imagine(cli, tiny, "a boat", "--json", "-o", "o")
    assert r.exit_code == 0, r
    rec = json.loads(r.stdout)
    assert 0 <= rec["seed"] < 2**32 and rec["prompt"] == "a boat" and rec["steps"] == 3
    again = _imagine(cli, tiny, "a boat", "--seed", str(rec["seed"]), "-o", "o")
    assert np.array_equal(_pixels(rec["path"]), _pixels(again.stdout.strip()))


def test_batched_generation_gives_the_same_images(cli, tiny):
    one = _imagine(cli, tiny, "a tree", "--seed", "3", "--n", "2", "-o", "one")
    two = _imagine(cli, tiny, "a tree", "--seed", "3", "--n", "2", "--batch-size", "2", "-o", "two")
    for p, q in zip(one.stdout.split(), two.stdout.split()):
        assert np.abs(_pixels(p) - _pixels(q)).max() <= 2  # batching changes float rounding only


def test_prompts_from_stdin_and_file(cli, tiny, tmp_path):
    r = _imagine(cli, tiny, "--seed", "1", "-o", "s", input="a cat\n\n  a dog  \n")
    assert r.exit_code == 0, r
    paths = r.stdout.splitlines()
    assert [json.loads(cli("info", "--json", p).stdout)["parameters"]["prompt"] for p in paths] == ["a cat", "a dog"]
    f = tmp_path / "prompts.txt"
    f.write_text("one house\ntwo houses\nthree houses\n")
    r = _imagine(cli, tiny, "--prompts-file", str(f), "--seed", "1", "-o", "f")
    assert [Path(p).name for p in r.stdout.splitlines()] == [
        "00000-1-one-house.png",
        "00001-2-two-houses.png",
        "00002-3-three-houses.png",
    ]


@pytest.mark.parametrize(
    "name,sampler",
    [
        ("ddim", "DDIM"),
        ("euler", "Euler"),
        ("euler-a", "Euler a"),
        ("dpm++2m", "DPM++ 2M"),
        ("lms", "LMS"),
        ("pndm", "PLMS"),
    ],
)
def test_every_scheduler(cli, tiny, name, sampler):
    r = _imagine(cli, tiny, "a hill", "--scheduler", name, "--seed", "2", "-o", "o", "--json")
    assert r.exit_code == 0, r
    rec = json.loads(r.stdout)
    assert rec["scheduler"] == name
    assert json.loads(cli("info", "--json", rec["path"]).stdout)["parameters"]["Sampler"] == sampler


@pytest.mark.parametrize("scheduler", ["ddim", "dpm++2m"])  # x0 from the scheduler / computed from eps
def test_show_steps_writes_a_strip(cli, tiny, scheduler):
    r = cli(
        "imagine",
        "--model",
        str(tiny),
        "--steps",
        "5",
        "--show-steps",
        "--scheduler",
        scheduler,
        "a road",
        "--seed",
        "4",
        "-o",
        "o",
    )
    assert r.exit_code == 0, r
    image, strip = r.stdout.splitlines()
    assert strip == image.replace(".png", "-steps.png")
    with Image.open(strip) as im:
        # 5 steps, 6 frames asked: steps 1..5 once each; 64-pixel frames are shown at 128 with 6-pixel gaps
        assert im.width == 6 + 5 * (128 + 6)
    # the last frame is the predicted clean image at the last step: the generated image itself
    last = _pixels(strip)[6:134, 6 + 4 * 134 : 6 + 4 * 134 + 128][::2, ::2]
    assert np.abs(last - _pixels(image)).mean() < 3


def test_size_flags_and_config_file(cli, tiny, tmp_path):
    cfg = tmp_path / "img.yaml"
    cfg.write_text("image:\n  steps: 2\n  scheduler: euler\n  width: 96\n")
    r = cli(
        "imagine",
        "--model",
        str(tiny),
        "-c",
        str(cfg),
        "--height",
        "48",
        "a kite",
        "-o",
        "o",
        "--seed",
        "9",
        "--low-memory",
    )
    assert r.exit_code == 0, r
    assert Image.open(r.stdout.strip()).size == (96, 48)
    params = json.loads(cli("info", "--json", r.stdout.strip()).stdout)["parameters"]
    assert params["Steps"] == "2" and params["Sampler"] == "Euler" and params["Size"] == "96x48"
    assert json.loads(cli("info", "--json", r.stdout.strip()).stdout)["genai"]["low_memory"] is True


def test_nan_images_are_detected(cli, tiny, tmp_path):
    """A VAE that produces NaN (as fp16 overflow does): the image is reported and the run fails."""
    import shutil

    from safetensors.numpy import load_file, save_file

    broken = tmp_path / "broken"
    shutil.copytree(tiny, broken)
    weights = broken / "vae" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    tensors["post_quant_conv.bias"] = np.full_like(tensors["post_quant_conv.bias"], np.nan)
    save_file(tensors, weights, metadata={"format": "pt"})
    r = cli("imagine", "--model", str(broken), "--steps", "2", "x", "-o", "o")
    assert r.exit_code == 1
    assert "NaN" in r.stderr and "--precision fp32" in r.stderr
    assert len(r.stdout.splitlines()) == 1  # the file is still written and named


def test_core_entry_point_yields_each_image_and_reports_through_callbacks(tiny, tmp_path):
    """genai_cli.image.run.imagine, as the command and scripts/bench/imagine.py call it: results come lazily, one
    per image; info, progress and warnings go to callbacks (core prints nothing); NaN images fail at the end."""
    import shutil

    from safetensors.numpy import load_file, save_file

    from genai_cli.errors import GenaiError, UsageError
    from genai_cli.image.run import imagine
    from genai_cli.image.settings import ImagineSettings

    info, progress = [], []
    s = ImagineSettings(prompts=["a", "b"], model=str(tiny), steps=2, n=2, seed=40, out=tmp_path / "o")
    results = imagine(
        s, seed_source="--seed", on_info=info.append, on_progress=lambda n=1, total=None: progress.append((n, total))
    )
    assert info == [] and not (tmp_path / "o").exists()  # nothing runs before the first next()
    first = next(results)
    assert first.path.is_file() and (first.job.seed, first.job.prompt) == (40, "a")
    rest = list(results)
    assert [r.job.seed for r in rest] == [41, 42, 43] and [r.job.prompt for r in rest] == ["a", "b", "b"]
    assert progress[0] == (0, 8) and sum(n for n, _ in progress) == 8  # 4 images x 2 steps, total given first
    assert "seed 40 (from --seed)" in info and any(line.startswith("loading ") for line in info)

    late = imagine(
        ImagineSettings(prompts=[], model=str(tiny), steps=1, out=tmp_path / "p"),
        read_prompts=lambda: ["from stdin"],
        seed_source="random",
    )
    assert [r.job.prompt for r in late] == ["from stdin"]
    with pytest.raises(UsageError, match="no prompt given"):
        next(imagine(ImagineSettings(prompts=[], model=str(tiny), out=tmp_path / "q")))

    broken = tmp_path / "broken"  # a VAE that decodes to NaN: every file written and yielded, then the error
    shutil.copytree(tiny, broken)
    weights = broken / "vae" / "diffusion_pytorch_model.safetensors"
    tensors = load_file(weights)
    tensors["post_quant_conv.bias"] = np.full_like(tensors["post_quant_conv.bias"], np.nan)
    save_file(tensors, weights, metadata={"format": "pt"})
    got = []
    with pytest.raises(GenaiError, match="2 image"):
        for r in imagine(ImagineSettings(prompts=["x"], model=str(broken), steps=1, n=2, out=tmp_path / "n")):
            got.append(r)
    assert [r.problems for r in got] == [["nan"], ["nan"]] and all(r.path.is_file() for r in got)


# --- imagine: bad input, each before any weight is loaded --------------------------------------


@pytest.fixture
def no_loading(monkeypatch):
    from genai_cli.image import loading

    def refuse(*a, **k):
        raise AssertionError("weights were loaded for a bad input")

    monkeypatch.setattr(loading, "load_pipeline", refuse)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["", "--model", "{tiny}"], "prompt 1 is empty"),
        (["x", "--model", "{tiny}", "--scheduler", "heun"], "ddim, euler, euler-a, dpm++2m, lms, pndm"),
        (["x", "--model", "sd99"], "aliases: sd-turbo, sd15, sd21"),
        (["x", "--model", "{tiny}", "--width", "65"], "--width 65: must be a multiple of 8 from 8 to 8192"),
        (["x", "--model", "{tiny}", "--height", "4096"], "outside this model's range"),
        (["x", "--model", "{tiny}", "--steps", "0"], "--steps 0: must be a whole number from 1 to 1000"),
        (["x", "--model", "{tiny}", "--n", "0"], "--n 0: must be a whole number from 1 to 10000"),
        (["x", "--model", "{tiny}", "-o", "afile"], "is a file"),
        (["x", "--model", "{tiny}", "-o", "/proc/genai-out"], "not writable"),
        (["x", "--model", "toy", "--width", "256"], "outside this model's range 16..128"),
        (["x", "--model", "model.ckpt"], "pickled checkpoints are refused"),
        (["x", "--model", "{tiny}/unet"], "no model_index.json"),
        (["--model", "{tiny}"], "no prompt given"),
    ],
)
def test_bad_input_is_a_clear_usage_error(cli, tiny, no_loading, args, needle):
    Path("afile").write_text("keep me")
    Path("model.ckpt").write_bytes(b"\x80\x04pickle")
    r = cli("imagine", *[a.replace("{tiny}", str(tiny)) for a in args], input="")
    assert r.exit_code == 2, r
    assert needle in r.stderr and r.stdout == ""
    assert Path("afile").read_text() == "keep me"
    assert not list(Path(".").glob("*.png"))


def test_default_model_offline_and_uncached_fails_fast_with_directions(genai_exe):
    start = time.monotonic()
    # sd15, the default on a GPU (`auto` picks the toy model on a CPU: tests/test_toy_sky.py)
    r = genai_exe("imagine", "--model", "sd15", "a red fox", env={"HF_HUB_OFFLINE": "1"})
    assert r.exit_code == 1, r
    assert time.monotonic() - start < 60  # never waits on a network (generous: a loaded CI machine)
    assert "sd15" in r.stderr and "stable-diffusion-v1-5/stable-diffusion-v1-5" in r.stderr
    assert "hf download" in r.stderr and "--model toy" in r.stderr and "local diffusers folder" in r.stderr
    assert r.stdout == ""


def _hub_cache(monkeypatch, folder: Path) -> None:
    """Point the Hugging Face cache at `folder` in this process (the library reads HF_HUB_CACHE once, at import)."""
    import huggingface_hub.constants as C

    monkeypatch.setenv("HF_HUB_CACHE", str(folder))
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(folder))


def test_hub_id_from_the_local_cache(cli, tiny, tmp_path, monkeypatch):
    """A hub id (org/name) resolves to its snapshot in the Hugging Face cache, offline."""
    import shutil

    repo = tmp_path / "hub" / "models--someone--tiny-sd"
    shutil.copytree(tiny, repo / "snapshots" / ("0" * 40))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    _hub_cache(monkeypatch, tmp_path / "hub")
    r = cli("imagine", "--model", "someone/tiny-sd", "--steps", "2", "--seed", "1", "x", "-o", str(tmp_path / "o"))
    assert r.exit_code == 0, r
    assert Path(r.stdout.strip()).name == "00000-1-x.png"
    r = cli("info", "--json", r.stdout.strip())
    assert json.loads(r.stdout)["parameters"]["Model"] == "someone/tiny-sd"


# --- imagine: single-file checkpoints (original LDM / AUTOMATIC1111 layout) --------------------


@pytest.fixture(scope="session")
def ldm_ckpt(tiny, tmp_path_factory) -> Path:
    """The tiny pipeline as ONE original-layout .safetensors checkpoint (tests/ldm_checkpoint.py)."""
    return write_ldm_checkpoint(tiny, tmp_path_factory.mktemp("ldm") / "tiny-ldm.safetensors")


def test_ldm_checkpoint_loads_back_to_the_same_weights(tiny, ldm_ckpt):
    """The test helper is the exact inverse of diffusers' single-file loading (every weight, every name)."""
    import torch
    from diffusers import StableDiffusionPipeline
    from safetensors import safe_open

    with safe_open(str(ldm_ckpt), framework="pt") as f:
        keys = set(f.keys())
    prefixes = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.text_model.")
    assert all(k.startswith(prefixes) for k in keys)
    assert {  # original names: a downsampler, an upsampler after attention, the VAE's conv attention, CLIP
        "model.diffusion_model.input_blocks.2.0.op.weight",
        "model.diffusion_model.output_blocks.1.2.conv.weight",
        "model.diffusion_model.middle_block.1.transformer_blocks.0.attn2.to_k.weight",
        "first_stage_model.decoder.up.1.upsample.conv.weight",
        "first_stage_model.encoder.mid.attn_1.q.weight",
        "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight",
    } <= keys
    kw = {"safety_checker": None, "requires_safety_checker": False, "local_files_only": True}
    folder = StableDiffusionPipeline.from_pretrained(str(tiny), **kw)
    single = StableDiffusionPipeline.from_single_file(str(ldm_ckpt), config=str(tiny), **kw)
    for part in ("unet", "vae", "text_encoder"):
        want, got = getattr(folder, part).state_dict(), getattr(single, part).state_dict()
        assert want.keys() == got.keys(), part
        assert all(torch.equal(want[k], got[k]) for k in want), part
    assert sum(v.numel() for v in want.values()) > 0 and len(keys) == 208 + 124 + 52  # tiny's unet, vae, clip


def test_ldm_names_of_an_sd15_unet_are_the_original_ones():
    """With SD 1.5's 4 blocks x 2 layers the helper gives the names real SD 1.5 checkpoints have, and
    diffusers' own loader maps every one of them back to where it came from."""
    from accelerate import init_empty_weights
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import convert_ldm_unet_checkpoint

    with init_empty_weights():  # SD 1.5's U-Net shape, no memory
        unet = UNet2DConditionModel(cross_attention_dim=768)
    config = dict(unet.config)
    names = {unet_key(k, config): k for k in unet.state_dict()}
    assert len(names) == len(unet.state_dict()) == 686
    assert {
        "output_blocks.11.0.skip_connection.weight",  # what diffusers looks for to recognise an SD 1.x checkpoint
        "input_blocks.3.0.op.weight",
        "input_blocks.11.0.in_layers.2.weight",
        "output_blocks.2.1.conv.weight",  # upsampler of the up block without attention
        "output_blocks.5.2.conv.weight",  # ... and after attention
        "middle_block.2.emb_layers.1.weight",
    } <= set(names)
    back = convert_ldm_unet_checkpoint({"model.diffusion_model." + ldm: hf for ldm, hf in names.items()}, config)
    assert back == {hf: hf for hf in names.values()}


def test_imagine_single_file_checkpoint_gives_the_same_image_as_its_folder(cli, tiny, ldm_ckpt):
    args = ["a red fox", "--seed", "3", "--steps", "2", "--guidance", "6"]
    r = cli("imagine", "--model", str(ldm_ckpt), "--single-file-config", str(tiny), *args, "-o", "single")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines() == ["single/00000-3-a-red-fox.png"]
    ref = cli("imagine", "--model", str(tiny), *args, "-o", "folder")
    assert ref.exit_code == 0, ref
    single, folder = _pixels("single/00000-3-a-red-fox.png"), _pixels(ref.stdout.strip())
    assert single.shape == (64, 64, 3) and single.std() > 0
    assert np.array_equal(single, folder)
    info = cli("info", "single/00000-3-a-red-fox.png")
    assert info.exit_code == 0 and "Model: tiny-ldm" in info.stdout.splitlines()
    got = json.loads(cli("info", "--json", "single/00000-3-a-red-fox.png").stdout)
    assert got["genai"]["single_file_config"] == str(tiny) and got["parameters"]["Seed"] == "3"


def test_single_file_checkpoint_offline_without_configs_says_what_to_do(cli, ldm_ckpt, tmp_path, monkeypatch):
    _hub_cache(monkeypatch, tmp_path / "empty-hub")
    r = cli("imagine", "--model", str(ldm_ckpt), "x", "--steps", "1", "-o", str(tmp_path / "o"))
    assert r.exit_code == 1, r
    assert "cannot load the single-file checkpoint tiny-ldm.safetensors offline" in r.stderr
    assert "(stable-diffusion-v1-5/stable-diffusion-v1-5)" in r.stderr  # the base diffusers recognised
    assert "--single-file-config" in r.stderr and "hf download stable-diffusion-v1-5/" in r.stderr
    assert r.stdout == "" and not list(tmp_path.glob("o/*.png"))


def test_safetensors_that_are_not_an_sd_checkpoint_are_refused_before_loading(cli, no_loading, tmp_path):
    from safetensors.numpy import save_file

    save_file({"w": np.zeros((2, 2), np.float32)}, "weird.safetensors")
    Path("broken.safetensors").write_bytes(b"xx")
    for name, needle in [
        ("weird.safetensors", "weird.safetensors is not a Stable Diffusion checkpoint in the original"),
        ("broken.safetensors", "broken.safetensors: not a valid safetensors file"),
    ]:
        r = cli("imagine", "--model", name, "x", "--steps", "1")
        assert r.exit_code == 2, r
        assert needle in r.stderr and r.stdout == ""


def test_ctrl_c_keeps_the_images_already_written(genai_exe, tiny, tmp_path):
    exe = Path(sys.executable).parent / "genai"
    out = tmp_path / "ci"
    # SIGINT back to its default in the child (a shell's background job ignores it, and children inherit that)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(
        [str(exe), "imagine", "--model", str(tiny), "--steps", "5", "--n", "200", "--seed", "1", "x", "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and len(list(out.glob("0*.png"))) < 2:
            time.sleep(0.2)
        p.send_signal(signal.SIGINT)
        stdout, stderr = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130
    assert "interrupted" in stderr
    written = sorted(out.glob("*.png"))
    assert len(written) >= 2 and not list(out.glob(".*"))  # no temp files left behind
    assert stdout.split() == [str(w) for w in written]  # every file written was reported
    for w in written:
        assert _pixels(w).shape == (64, 64, 3)  # complete, readable PNGs


def test_two_processes_share_the_work(tiny, tmp_path):
    """torchrun with 2 CPU processes (gloo): every image once, none missing, seeds as in one process."""
    out = tmp_path / "dist"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "genai_cli",
            "imagine",
            "--model",
            str(tiny),
            "--steps",
            "2",
            "--seed",
            "100",
            "-o",
            str(out),
        ],
        input="a\nb\nc\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=400,  # process 0 reads stdin
    )
    assert p.returncode == 0, p.stderr[-3000:]
    names = sorted(f.name for f in out.glob("*.png"))
    assert names == ["00000-100-a.png", "00001-101-b.png", "00002-102-c.png"]
    assert sorted(Path(x).name for x in p.stdout.split()) == names  # each process printed its own
    assert "process 0/2: 2 image(s)" in p.stderr and "process 1/2: 1 image(s)" in p.stderr


# --- diffuse --------------------------------------------------------------------------------


@pytest.fixture
def picture(tmp_path) -> Path:
    y, x = np.mgrid[0:128, 0:160]
    a = np.stack([x, y * 2, ((x // 16 + y // 16) % 2) * 255], axis=-1).astype(np.uint8)
    path = tmp_path / "pic.png"
    Image.fromarray(a).save(path)
    return path


def test_diffuse_frames_get_noisier(cli, picture):
    r = cli("diffuse", str(picture), "--steps", "0,100,250,500,999", "--size", "160", "--json")
    assert r.exit_code == 0, r
    rec = json.loads(r.stdout)
    frames = rec["frames"]
    assert [f["t"] for f in frames] == [0, 100, 250, 500, 999]
    snr = [f["snr"] for f in frames]
    assert all(a > b for a, b in zip(snr, snr[1:]))
    for f in frames:
        assert f["snr"] == pytest.approx(f["alpha_bar"] / (1 - f["alpha_bar"]))
        assert f["snr_db"] == pytest.approx(10 * np.log10(f["snr"]))
    assert frames[0]["alpha_bar"] == pytest.approx(1 - 0.00085)  # SD1.5: beta_0 = 0.00085
    assert frames[-1]["alpha_bar"] == pytest.approx(0.0047, abs=1e-4)
    # measured on the written strip: each frame is further from the clean picture than the last
    strip = _pixels(rec["path"])
    original = _pixels(picture)
    w, h = 160, 128  # frames keep their size (at least 128 pixels: no enlargement)
    dist = [np.abs(strip[6 : 6 + h, 6 + i * (w + 6) : 6 + i * (w + 6) + w] - original).mean() for i in range(5)]
    assert dist[0] < 5 and all(a < b for a, b in zip(dist, dist[1:]))
    assert "SNR" in r.stderr and "t= 999" in r.stderr


def test_diffuse_n_and_schedules(cli, picture, tiny, tmp_path):
    r = cli("diffuse", str(picture), "--n", "4", "--json", "--size", "32")
    assert [f["t"] for f in json.loads(r.stdout)["frames"]] == [0, 333, 666, 999]
    linear = tmp_path / "linear.json"
    linear.write_text(
        json.dumps({"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "num_train_timesteps": 500})
    )
    r = cli("diffuse", str(picture), "--schedule", str(linear), "--n", "3", "--json", "--size", "32")
    rec = json.loads(r.stdout)
    assert [f["t"] for f in rec["frames"]] == [0, 250, 499]
    assert rec["frames"][0]["alpha_bar"] == pytest.approx(0.9999)
    r = cli("diffuse", str(picture), "--schedule", str(tiny), "--n", "3", "--json", "--size", "32")  # a model folder
    assert r.exit_code == 0 and json.loads(r.stdout)["frames"][0]["alpha_bar"] == pytest.approx(1 - 0.00085)


def test_alphas_cumprod_matches_diffusers():
    from diffusers import DDPMScheduler

    from genai_cli.image import forward

    for cfg in (forward.builtin_config(), {"beta_schedule": "linear"}, {"beta_schedule": "squaredcos_cap_v2"}):
        ours = forward.alphas_cumprod(cfg)
        keys = {k: v for k, v in cfg.items() if k in ("beta_start", "beta_end", "beta_schedule", "num_train_timesteps")}
        theirs = DDPMScheduler(**keys).alphas_cumprod.double().numpy()
        assert np.abs(ours - theirs).max() < 1e-6


@pytest.mark.parametrize(
    "args,needle",
    [
        (["{pic}", "--steps", "0,1000"], "outside 0..999"),
        (["{pic}", "--steps", "a,b"], "whole numbers"),
        (["{pic}", "--steps", "1", "--n", "3"], "not both"),
        (["{pic}", "--n", "1"], "--n 1: must be a whole number from 2 to 64"),  # genai_cli/schema.py: DiffuseConfig
        (["{pic}", "--n", "0"], "--n 0: must be a whole number from 2 to 64"),
        (["{pic}", "--n", "1000000"], "--n 1000000: must be a whole number from 2 to 64"),
        (["{pic}", "--n", "64", "--size", "4096"], "over 16 megapixels"),
        (["{pic}", "--seed", "-1"], "'--seed': -1 is not in the range 0<=x<=4294967295"),
        (["nope.png"], "image not found"),
        (["{notimage}"], "not an image"),
        (["{pic}", "--schedule", "{notimage}"], "a bad scheduler JSON"),
    ],
)
def test_diffuse_bad_input(cli, picture, tmp_path, args, needle):
    bad = tmp_path / "bad.txt"
    bad.write_text("hello")
    r = cli("diffuse", *[a.replace("{pic}", str(picture)).replace("{notimage}", str(bad)) for a in args])
    assert r.exit_code == 2, r
    assert needle in r.stderr and r.stdout == ""


# --- info ----------------------------------------------------------------------------------


def test_info_reads_other_tools_pngs(cli, tmp_path):
    from PIL.PngImagePlugin import PngInfo

    text = (
        "masterpiece, a castle on a hill,\nsunset\nNegative prompt: lowres, bad anatomy\n"
        "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 1234, Size: 512x768, Model hash: 6ce0161689, "
        'Model: v1-5-pruned-emaonly, Lora hashes: "foo: abc, bar: def", Version: v1.7.0'
    )
    info = PngInfo()
    info.add_text("parameters", text)
    Image.new("RGB", (8, 12)).save("a1111.png", pnginfo=info)
    r = cli("info", "a1111.png", "--json")
    assert r.exit_code == 0, r
    got = json.loads(r.stdout)
    p = got["parameters"]
    assert p["prompt"] == "masterpiece, a castle on a hill,\nsunset" and p["negative_prompt"] == "lowres, bad anatomy"
    assert p["Sampler"] == "DPM++ 2M Karras" and p["Seed"] == "1234" and p["Size"] == "512x768"
    assert p["Lora hashes"] == "foo: abc, bar: def" and p["Version"] == "v1.7.0"
    assert got["width"] == 8 and got["height"] == 12 and got["genai"] is None


def test_parameters_round_trip_with_awkward_values():
    fields = {"Steps": 4, "Sampler": "Euler a", "CFG scale": 7.5, "Seed": 9, "Size": "64x64", "Model": "my, model: v2"}
    text = pngmeta.format_parameters('a "quoted" prompt,\nover two lines', "no: commas, please", fields)
    back = pngmeta.parse_parameters(text)
    assert back["prompt"] == 'a "quoted" prompt,\nover two lines' and back["negative_prompt"] == "no: commas, please"
    assert back["Model"] == "my, model: v2" and back["Sampler"] == "Euler a" and back["CFG scale"] == "7.5"


def test_write_png_never_overwrites_without_force(tmp_path):
    img = Image.new("RGB", (4, 4), "red")
    (tmp_path / "w").mkdir()
    target = tmp_path / "w" / "x.png"
    target.write_bytes(b"precious")
    p1 = pngmeta.write_png(img, target, {"k": "v"})
    p2 = pngmeta.write_png(img, target, {"k": "v"})
    assert (p1.name, p2.name) == ("x-1.png", "x-2.png") and target.read_bytes() == b"precious"
    assert pngmeta.read_png_text(p1) == {"k": "v"}
    assert pngmeta.write_png(img, target, force=True) == target and target.read_bytes().startswith(b"\x89PNG")
    assert sorted(f.name for f in target.parent.iterdir()) == ["x-1.png", "x-2.png", "x.png"]


def test_info_safetensors(cli, tmp_path):
    from safetensors.numpy import save_file

    save_file(
        {"emb": np.zeros((3, 32), np.float32), "scale": np.ones((1,), np.float16)},
        "learned.safetensors",
        metadata={"token": "<cat-toy>", "base_model": "tiny"},
    )
    r = cli("info", "learned.safetensors", "--json")
    assert r.exit_code == 0, r
    got = json.loads(r.stdout)
    assert got["metadata"] == {"token": "<cat-toy>", "base_model": "tiny"}
    assert {t["name"]: (t["dtype"], t["shape"]) for t in got["tensors"]} == {
        "emb": ("F32", [3, 32]),
        "scale": ("F16", [1]),
    }
    assert got["parameters"] == 97
    text = cli("info", "learned.safetensors").stdout
    assert "metadata token: <cat-toy>" in text and "emb" in text and "(3, 32)" in text


def test_info_bad_files(cli, tmp_path):
    Path("notes.txt").write_text("hello")
    Path("model.ckpt").write_bytes(b"\x80\x04")
    Path("broken.safetensors").write_bytes((1000).to_bytes(8, "little") + b"{not json")
    for name, needle in [
        ("notes.txt", "neither a PNG nor a safetensors"),
        ("model.ckpt", "pickled"),
        ("missing.png", "not found"),
        ("broken.safetensors", "not a valid safetensors"),
    ]:
        r = cli("info", name)
        assert r.exit_code == 2 and needle in r.stderr and r.stdout == "", (name, r)


# --- imports stay lazy ---------------------------------------------------------------------


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        f"import sys\nsys.argv={argv!r}\nfrom genai_cli.app import app\n"
        "try:\n    app(prog_name='genai')\nexcept SystemExit:\n    pass\n"
        "import json; print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("command", ["imagine", "diffuse", "info"])
def test_help_imports_nothing_heavy(command):
    mods = _modules_after(["genai", command, "--help"])
    assert not [m for m in ("torch", "diffusers", "transformers", "accelerate", "numpy", "safetensors") if m in mods]


def test_info_on_safetensors_needs_no_torch(tmp_path):
    from safetensors.numpy import save_file

    f = tmp_path / "t.safetensors"
    save_file({"a": np.zeros(2, np.float32)}, str(f))
    mods = _modules_after(["genai", "info", str(f)])
    assert "torch" not in mods and "diffusers" not in mods
