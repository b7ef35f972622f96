"""--lora FILE[:WEIGHT] on genai imagine and genai anatomy: diffusers- and kohya-format LoRA files for the toy
model, made here through peft and saved with diffusers' own saver; weights, metadata, and bad files."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import tests.hostile.conftest as _hostile

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPT = "a red circle on a white background"
STEPS = "3"

assert_refused, pickle_payload, canary = _hostile.assert_refused, _hostile.pickle_payload, _hostile.canary


def assert_refused_after_loading(result, *names: str) -> str:
    """Whether a LoRA fits is known only once the model is loaded: the contract of assert_refused, with
    the "using cpu" / "seed N" / "loading" progress lines allowed before the one error line."""
    assert result.exit_code == 2 and result.stdout == "" and "Traceback" not in result.stderr, result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1].startswith("hint:") and lines[-2] == errors[0], result
    assert all(line.startswith(("using ", "seed ", "loading ")) for line in lines[:-2]), result
    for name in names:
        assert name in errors[0], f"{name!r} not named in {errors[0]!r}"
    return errors[0]


def make_toy_lora(folder: Path) -> Path:
    """A rank-4 LoRA on the toy U-Net's attention projections: 5 AdamW steps through peft, then diffusers'
    save_lora_weights (the diffusers layout: unet.<module>.lora.down/up.weight)."""
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    from genai_cli.image import loading

    pipe = loading.load_pipeline(loading.toy(), torch.float32)
    unet = pipe.unet
    unet.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian", target_modules=["to_k", "to_q", "to_v", "to_out.0"])
    )
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2)
    g = torch.Generator().manual_seed(0)
    x, cond, target = (
        torch.randn(2, 4, 8, 8, generator=g),
        torch.randn(2, 16, 64, generator=g),
        torch.randn(2, 4, 8, 8, generator=g),
    )
    for _ in range(5):
        loss = torch.nn.functional.mse_loss(unet(x, torch.tensor([500, 500]), cond).sample, target)
        loss.backward()
        opt.step()
        opt.zero_grad()
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
    return folder / "pytorch_lora_weights.safetensors"


def kohya_copy(diffusers_file: Path, path: Path) -> Path:
    """The same tensors under kohya-ss / AUTOMATIC1111 names: lora_unet_<module_with_underscores>.lora_down.weight,
    .lora_up.weight and .alpha (alpha = rank: the scale 1 that diffusers' file has)."""
    import torch
    from safetensors.torch import load_file, save_file

    kohya = {}
    for key, tensor in load_file(str(diffusers_file)).items():
        module, kind = key.removeprefix("unet.").split(".lora.")
        base = "lora_unet_" + module.replace(".", "_")
        kohya[base + (".lora_down.weight" if kind.startswith("down") else ".lora_up.weight")] = tensor
        if kind.startswith("down"):
            kohya[base + ".alpha"] = torch.tensor(float(tensor.shape[0]))
    save_file(kohya, str(path))
    return path


@pytest.fixture(scope="module")
def loras(tmp_path_factory):
    folder = tmp_path_factory.mktemp("loras")
    style = make_toy_lora(folder).rename(folder / "style.safetensors")
    return style, kohya_copy(style, folder / "style_kohya.safetensors")


def _imagine(cli, *args):
    r = cli("imagine", "--model", "toy", PROMPT, "--steps", STEPS, "--seed", "7", "-o", "out", *args)
    assert r.exit_code == 0, r
    path = Path(r.stdout.strip())
    return path, np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def test_lora_changes_the_image_and_weight_zero_is_the_image_without_it(cli, loras):
    style, _ = loras
    _, plain = _imagine(cli)
    _, styled = _imagine(cli, "--lora", str(style))
    _, zero = _imagine(cli, "--lora", f"{style}:0")
    assert np.abs(styled - plain).max() > 20  # the LoRA moved the picture
    assert np.array_equal(zero, plain)  # weight 0: exactly the image without it


def test_kohya_layout_loads_and_matches_the_diffusers_file(cli, loras):
    style, kohya = loras
    _, a = _imagine(cli, "--lora", str(style))
    _, b = _imagine(cli, "--lora", str(kohya))
    assert np.array_equal(a, b)
    # two files at half weight each add up to one at full weight (float rounding aside)
    _, halves = _imagine(cli, "--lora", f"{style}:0.5", "--lora", f"{kohya}:0.5")
    assert np.abs(halves - a).max() <= 2 and not np.array_equal(halves, np.asarray(_imagine(cli)[1]))


def test_metadata_records_name_hash_and_weight(cli, loras):
    from genai_cli.image import pngmeta

    style, kohya = loras
    path, _ = _imagine(cli, "--lora", f"{style}:0.8", "--lora", f"{kohya}:-0.25")
    text = pngmeta.read_png_text(path)
    params = pngmeta.parse_parameters(text["parameters"])
    sha = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (style, kohya)}
    assert params["prompt"] == f"{PROMPT} <lora:style:0.8> <lora:style_kohya:-0.25>"
    assert params["Lora hashes"] == f"style: {sha[style][:12]}, style_kohya: {sha[kohya][:12]}"
    recorded = json.loads(text["genai"])["loras"]
    assert recorded == [
        {"name": "style", "path": str(style), "sha256": sha[style], "weight": 0.8},
        {"name": "style_kohya", "path": str(kohya), "sha256": sha[kohya], "weight": -0.25},
    ]


def test_anatomy_shows_and_uses_the_lora(cli, loras):
    style, _ = loras
    base = cli("anatomy", "--model", "toy", PROMPT, "--steps", STEPS, "--json", "-o", "a")
    styled = cli("anatomy", "--model", "toy", PROMPT, "--steps", STEPS, "--json", "-o", "b", "--lora", f"{style}:0.7")
    assert base.exit_code == 0 and styled.exit_code == 0, styled
    run = json.loads(styled.stdout)["run"]
    assert [(x["name"], x["weight"]) for x in run["loras"]] == [("style", 0.7)]
    assert run["latent_last_step"] != json.loads(base.stdout)["run"]["latent_last_step"]
    text = cli("anatomy", "--model", "toy", PROMPT, "--steps", "1", "-o", "c", "--lora", f"{style}:0.7")
    assert "LoRA           style (weight 0.7)" in text.stdout


# --- bad input: exit 2 naming the file or value, nothing loaded, nothing written -----------------------------


@pytest.mark.parametrize("command", ["imagine", "anatomy"])
def test_pickled_lora_is_refused_and_runs_nothing(cli, tmp_path, canary, command):
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle_payload(canary))
    assert_refused(cli(command, "--model", "toy", "x", "--lora", str(evil), "-o", "out"), "evil.pt", "pickled")
    assert not (tmp_path / "out").exists()


def test_lora_for_another_architecture_is_refused(cli, tmp_path):
    import torch
    from safetensors.torch import save_file

    prefix = "unet.down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.lora"
    save_file(
        {f"{prefix}.down.weight": torch.randn(4, 320), f"{prefix}.up.weight": torch.randn(320, 4)},
        str(tmp_path / "sd15_style.safetensors"),
    )
    line = assert_refused_after_loading(
        cli("imagine", "--model", "toy", "x", "--lora", str(tmp_path / "sd15_style.safetensors"), "-o", "out"),
        "sd15_style.safetensors",
        "not a LoRA for this model",
    )
    assert "[4, 320]" in line
    # an SDXL text-encoder LoRA: no layer of the toy model has its names
    te2 = "lora_te2_text_model_encoder_layers_0_self_attn_q_proj"
    save_file(
        {f"{te2}.lora_down.weight": torch.randn(4, 1280), f"{te2}.lora_up.weight": torch.randn(1280, 4)},
        str(tmp_path / "xl.safetensors"),
    )
    assert_refused_after_loading(
        cli("imagine", "--model", "toy", "x", "--lora", str(tmp_path / "xl.safetensors"), "-o", "out"),
        "xl.safetensors",
        "not a LoRA for this model",
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "spec, names",
    [
        ("{style}:nan", ["nan", "finite"]),
        ("{style}:inf", ["inf"]),
        ("{style}:11", ["11", "-10..10"]),
        ("{style}:heavy", ["heavy", "not a number"]),
        ("missing.safetensors", ["missing.safetensors", "not found"]),
        ("{dir}", ["is a folder"]),
        ("{fifo}", ["not a regular file"]),
        ("{text}", ["notes.txt", ".safetensors"]),
        ("{plain}", ["plain.safetensors", "not a LoRA file"]),
        ("{broken}", ["broken.safetensors", "not a valid safetensors"]),
    ],
)
def test_bad_lora_specs_are_refused(cli, tmp_path, loras, spec, names):
    import torch
    from safetensors.torch import save_file

    (tmp_path / "d").mkdir()
    os.mkfifo(tmp_path / "pipe.safetensors")
    (tmp_path / "notes.txt").write_text("hi")
    save_file({"weight": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    (tmp_path / "broken.safetensors").write_bytes(b"\xff" * 64)
    spec = spec.format(
        style=loras[0],
        dir=tmp_path / "d",
        fifo=tmp_path / "pipe.safetensors",
        text=tmp_path / "notes.txt",
        plain=tmp_path / "plain.safetensors",
        broken=tmp_path / "broken.safetensors",
    )
    assert_refused(cli("imagine", "--model", "toy", "x", "--lora", spec, "-o", "out"), "--lora", *names)
    assert not (tmp_path / "out").exists()


def test_too_many_loras_are_refused(cli, loras):
    args = [a for _ in range(17) for a in ("--lora", str(loras[0]))]
    assert_refused(cli("imagine", "--model", "toy", "x", *args), "--lora", "17", "at most 16")


def test_lora_with_img2img(cli, loras, tmp_path):
    """The img2img pipeline shares the U-Net that carries the LoRA: it changes the result, and both are recorded."""
    from genai_cli.image import pngmeta

    Image.fromarray(np.full((32, 32, 3), 230, dtype=np.uint8)).save(tmp_path / "grey.png")
    init = ("--init-image", str(tmp_path / "grey.png"), "--strength", "0.8")
    path, styled = _imagine(cli, *init, "--lora", str(loras[0]))
    _, plain = _imagine(cli, *init)
    assert np.abs(styled - plain).max() > 20
    params = pngmeta.parse_parameters(pngmeta.read_png_text(path)["parameters"])
    assert params["Denoising strength"] == "0.8" and params["prompt"].endswith("<lora:style:1>")
