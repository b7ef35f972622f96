"""SDXL on a tiny random SDXL pipeline built from configs: generation (the same pixels as diffusers' own call),
options, metadata and genai info, img2img, LoRA, learned words (clip_l + clip_g), anatomy, and invert's refusal."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.hostile.conftest import assert_refused

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STEPS = "3"


@pytest.fixture(scope="module")
def tiny_xl(tmp_path_factory) -> Path:
    from genai_cli.image.loading import quiet_libraries
    from genai_cli.image.sdxl import save_tiny_sdxl_pipeline

    quiet_libraries()
    return save_tiny_sdxl_pipeline(tmp_path_factory.mktemp("tinyxl") / "tiny-xl", seed=0)


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.int16)


def _imagine(cli, model, *args):
    r = cli("imagine", "--model", str(model), "a cat", "--steps", STEPS, "--seed", "3", "-o", "out", *args)
    assert r.exit_code == 0, r
    return r


def test_generation_matches_diffusers_sdxl_pipeline(cli, tiny_xl):
    import torch
    from diffusers import StableDiffusionXLPipeline

    r = _imagine(cli, tiny_xl, "--negative", "blurry", "--guidance", "5")
    ours = _pixels(r.stdout.strip())
    assert ours.shape == (64, 64, 3)
    pipe = StableDiffusionXLPipeline.from_pretrained(str(tiny_xl), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(
        "a cat",
        negative_prompt="blurry",
        guidance_scale=5,
        num_inference_steps=3,
        generator=torch.Generator("cpu").manual_seed(3),
        output_type="np",
    ).images[0]
    assert np.abs(ours - np.round(ref * 255)).max() <= 1


def test_options_schedulers_batch_low_memory_show_steps(cli, tiny_xl):
    r = _imagine(
        cli,
        tiny_xl,
        "--scheduler",
        "dpm++2m",
        "--n",
        "2",
        "--batch-size",
        "2",
        "--low-memory",
        "--show-steps",
        "--json",
    )
    records = [json.loads(line) for line in r.stdout.splitlines()]
    assert [rec["seed"] for rec in records] == [3, 4]
    assert all(Path(rec["steps_path"]).is_file() for rec in records)
    a, b = (_pixels(rec["path"]) for rec in records)
    assert not np.array_equal(a, b)  # two seeds, two images
    again = _imagine(cli, tiny_xl, "--scheduler", "dpm++2m", "-o", "again")
    assert np.array_equal(_pixels(again.stdout.strip()), a)  # batching does not change an image


def test_metadata_and_genai_info(cli, tiny_xl):
    from genai_cli.image import pngmeta

    r = _imagine(cli, tiny_xl)
    path = r.stdout.strip()
    params = pngmeta.parse_parameters(pngmeta.read_png_text(Path(path))["parameters"])
    assert (params["prompt"], params["Steps"], params["Seed"], params["Size"], params["Model"]) == (
        "a cat",
        "3",
        "3",
        "64x64",
        "tiny-xl",
    )
    info = cli("info", path, "--json")
    assert info.exit_code == 0, info
    assert "a cat" in info.stdout and "tiny-xl" in info.stdout


def test_img2img_on_sdxl(cli, tiny_xl, tmp_path):
    import torch
    from diffusers import StableDiffusionXLImg2ImgPipeline

    from genai_cli.image import pngmeta

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "init.png")
    r = _imagine(
        cli, tiny_xl, "--init-image", str(tmp_path / "init.png"), "--strength", "0.7", "--steps", "4", "--guidance", "6"
    )
    ours = _pixels(r.stdout.strip())
    params = pngmeta.parse_parameters(pngmeta.read_png_text(Path(r.stdout.strip()))["parameters"])
    assert params["Denoising strength"] == "0.7"
    pipe = StableDiffusionXLImg2ImgPipeline.from_pretrained(str(tiny_xl), local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    ref = pipe(
        "a cat",
        image=Image.open(tmp_path / "init.png").convert("RGB"),
        strength=0.7,
        num_inference_steps=4,
        guidance_scale=6,
        generator=torch.Generator("cpu").manual_seed(3),
        output_type="np",
    ).images[0]
    assert np.abs(ours - np.round(ref * 255)).max() <= 1


def _xl_lora(tiny_xl: Path, folder: Path) -> Path:
    """A LoRA for the tiny SDXL U-Net: peft, a few optimiser steps, diffusers' SDXL saver."""
    import torch
    from diffusers import StableDiffusionXLPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = StableDiffusionXLPipeline.from_pretrained(str(tiny_xl), local_files_only=True)
    unet = pipe.unet
    unet.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(r=2, lora_alpha=2, init_lora_weights="gaussian", target_modules=["to_k", "to_q", "to_v", "to_out.0"])
    )
    opt = torch.optim.AdamW([p for p in unet.parameters() if p.requires_grad], lr=5e-2)
    g = torch.Generator().manual_seed(0)
    x, cond = torch.randn(1, 4, 32, 32, generator=g), torch.randn(1, 77, 64, generator=g)
    added = {"text_embeds": torch.randn(1, 32, generator=g), "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]])}
    for _ in range(3):
        loss = unet(x, torch.tensor([500]), cond, added_cond_kwargs=added).sample.square().mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionXLPipeline.save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
    return (folder / "pytorch_lora_weights.safetensors").rename(folder / "xl_style.safetensors")


def test_lora_on_sdxl(cli, tiny_xl, tmp_path):
    from genai_cli.image import pngmeta

    lora = _xl_lora(tiny_xl, tmp_path)
    plain = _pixels(_imagine(cli, tiny_xl).stdout.strip())
    r = _imagine(cli, tiny_xl, "--lora", f"{lora}:1.5", "-o", "styled")
    styled = _pixels(r.stdout.strip())
    zero = _pixels(_imagine(cli, tiny_xl, "--lora", f"{lora}:0", "-o", "zero").stdout.strip())
    assert not np.array_equal(styled, plain) and np.array_equal(zero, plain)
    params = pngmeta.parse_parameters(pngmeta.read_png_text(Path(r.stdout.strip()))["parameters"])
    assert params["prompt"] == "a cat <lora:xl_style:1.5>" and params["Lora hashes"].startswith("xl_style: ")


def test_learned_words_load_into_both_text_encoders(cli, tiny_xl, tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"clip_l": torch.randn(2, 32), "clip_g": torch.randn(2, 32)}, str(tmp_path / "xlthing.safetensors"))
    r = cli(
        "imagine",
        "--model",
        str(tiny_xl),
        "a xlthing cat",
        "--steps",
        "2",
        "--seed",
        "1",
        "-o",
        "o",
        "-e",
        str(tmp_path / "xlthing.safetensors"),
    )
    assert r.exit_code == 0, r
    assert "learned word xlthing (2 vector(s))" in r.stderr
    base = cli("imagine", "--model", str(tiny_xl), "a xlthing cat", "--steps", "2", "--seed", "1", "-o", "b")
    assert not np.array_equal(_pixels(r.stdout.strip()), _pixels(base.stdout.strip()))
    # the wrong widths, and a one-tensor (SD 1.x) file, are refused naming the file
    save_file({"clip_l": torch.randn(1, 768), "clip_g": torch.randn(1, 1280)}, str(tmp_path / "realxl.safetensors"))
    bad = cli("imagine", "--model", str(tiny_xl), "x", "--steps", "2", "-e", str(tmp_path / "realxl.safetensors"))
    assert bad.exit_code == 2 and "realxl.safetensors" in bad.stderr and "768 wide" in bad.stderr and bad.stdout == ""
    save_file({"<one>": torch.randn(1, 32)}, str(tmp_path / "one.safetensors"))
    bad = cli("imagine", "--model", str(tiny_xl), "x", "--steps", "2", "-e", str(tmp_path / "one.safetensors"))
    assert bad.exit_code == 2 and "one.safetensors" in bad.stderr and "clip_g" in bad.stderr
    nan = tmp_path / "nanxl.safetensors"
    save_file({"clip_l": torch.full((1, 32), float("nan")), "clip_g": torch.randn(1, 32)}, str(nan))
    assert_refused(cli("imagine", "--model", str(tiny_xl), "x", "-e", str(nan)), "nanxl.safetensors", "clip_l")


def test_anatomy_of_sdxl(cli, tiny_xl):
    r = cli("anatomy", "--model", str(tiny_xl), "a cat", "--steps", "2", "--json", "-o", "a")
    assert r.exit_code == 0, r
    a = json.loads(r.stdout)
    parts = {p["role"]: p for p in a["parts"]}
    assert list(parts) == ["text encoder", "text encoder 2", "U-Net", "VAE decoder"]
    assert parts["text encoder 2"]["cls"] == "CLIPTextModelWithProjection"
    assert parts["U-Net"]["input"] == "1x4x32x32 latents + timestep + 1x77x64 text vectors + 1x32 pooled + 1x6 size ids"
    assert a["pipeline"] == "StableDiffusionXLPipeline" and a["scheduler"] == "EulerDiscreteScheduler"
    assert a["run"]["image_shape"] == [1, 3, 64, 64]


def test_invert_refuses_sdxl(cli, tiny_xl, tmp_path):
    images = tmp_path / "imgs"
    images.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 40, 3), 40 * i, dtype=np.uint8)).save(images / f"{i}.png")
    r = cli(
        "invert",
        "--model",
        str(tiny_xl),
        "--images",
        str(images),
        "--token",
        "<thing>",
        "--init-word",
        "cat",
        "--out",
        str(tmp_path / "inv"),
    )
    assert_refused(r, "does not train SDXL")
    assert "clip_g" in r.stderr and not (tmp_path / "inv").exists()


def test_pipeline_class_from_configs_or_tensor_names(tiny, tiny_xl, tmp_path):
    """Folders by model_index.json; single files by the bigG encoder's tensors (LDM / A1111 layout), header only."""
    import torch
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline
    from safetensors.torch import save_file

    from genai_cli.image import loading, sdxl

    assert sdxl.pipeline_class(loading.locate(str(tiny_xl))) is StableDiffusionXLPipeline
    assert sdxl.pipeline_class(loading.locate(str(tiny))) is StableDiffusionPipeline
    unet = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1)}
    save_file(
        {**unet, "conditioner.embedders.1.model.ln_final.weight": torch.zeros(1)}, str(tmp_path / "xl.safetensors")
    )
    save_file(
        {**unet, "cond_stage_model.transformer.text_model.final_layer_norm.weight": torch.zeros(1)},
        str(tmp_path / "v15.safetensors"),
    )
    assert sdxl.pipeline_class(loading.locate(str(tmp_path / "xl.safetensors"))) is StableDiffusionXLPipeline
    assert sdxl.pipeline_class(loading.locate(str(tmp_path / "v15.safetensors"))) is StableDiffusionPipeline
