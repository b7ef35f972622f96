"""genai anatomy: the three parts of Stable Diffusion, their real sizes and shapes, one real pass, the diagram."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.hostile.conftest import assert_refused

pytestmark = pytest.mark.usefixtures("one_torch_thread")

PROMPT = "a red circle on a white background"


def _header_params(path: Path) -> int:
    """Parameters stored in a safetensors file, from its header (the independent count)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        return sum(int(np.prod(f.get_slice(k).get_shape())) for k in f.keys())


def test_toy_parts_are_described_from_its_folder(cli):
    from genai_cli.image.loading import TOY_PIPELINE

    r = cli("anatomy", "--model", "toy", "--json")
    assert r.exit_code == 0, r
    a = json.loads(r.stdout)
    parts = {p["role"]: p for p in a["parts"]}
    assert list(parts) == ["text encoder", "U-Net", "VAE decoder"]
    te, unet, vae = parts["text encoder"], parts["U-Net"], parts["VAE decoder"]
    assert (te["cls"], unet["cls"], vae["cls"]) == ("CLIPTextModel", "UNet2DConditionModel", "AutoencoderKL")
    te_file = TOY_PIPELINE / "text_encoder" / "model.safetensors"
    unet_file = TOY_PIPELINE / "unet" / "diffusion_pytorch_model.safetensors"
    vae_file = TOY_PIPELINE / "vae" / "diffusion_pytorch_model.safetensors"
    # transformers' CLIP keeps position_ids as a buffer, not a parameter: the file may hold it too
    assert te["params"] in (_header_params(te_file), _header_params(te_file) - 16)
    assert unet["params"] == _header_params(unet_file)
    assert vae["params"] == _header_params(vae_file) and vae["part_params"] < vae["params"]
    assert (te["bytes_on_disk"], unet["bytes_on_disk"], vae["bytes_on_disk"]) == (
        te_file.stat().st_size,
        unet_file.stat().st_size,
        vae_file.stat().st_size,
    )
    assert (te["input"], te["output"]) == ("1x16 tokens", "1x16x64 text vectors")
    assert unet["input"] == "1x4x8x8 latents + timestep + 1x16x64 text vectors" and unet["output"] == "1x4x8x8 noise"
    assert (vae["input"], vae["output"]) == ("1x4x8x8 latents", "1x3x32x32 pixels")
    assert (a["scheduler"], a["train_timesteps"], a["native"], a["weights"]) == (
        "DPMSolverMultistepScheduler",
        1000,
        32,
        True,
    )
    assert a["run"] is None


@pytest.mark.parametrize(
    "alias, expected",
    [
        (
            "sd15",
            {
                "text encoder": (123_060_480, "1x77 tokens", "1x77x768 text vectors"),
                "U-Net": (859_520_964, "1x4x64x64 latents + timestep + 1x77x768 text vectors", "1x4x64x64 noise"),
                "VAE decoder": (83_653_863, "1x4x64x64 latents", "1x3x512x512 pixels"),
            },
        ),
        (
            "sdxl",
            {
                "text encoder": (123_060_480, "1x77 tokens", "1x77x768 text vectors"),
                "text encoder 2": (694_659_840, "1x77 tokens", "1x77x1280 text vectors"),
                "U-Net": (
                    2_567_463_684,
                    "1x4x128x128 latents + timestep + 1x77x2048 text vectors + 1x1280 pooled + 1x6 size ids",
                    "1x4x128x128 noise",
                ),
                "VAE decoder": (83_653_863, "1x4x128x128 latents", "1x3x1024x1024 pixels"),
            },
        ),
    ],
)
def test_uncached_hub_models_are_described_from_shipped_configs(cli, alias, expected):
    """Offline, with an empty cache: the published parameter counts (SD 1.5's U-Net 859.5 M, SDXL's 2.57 B)."""
    r = cli("anatomy", "--model", alias, "--json")
    assert r.exit_code == 0, r
    a = json.loads(r.stdout)
    assert a["weights"] is False and a["path"] is None
    got = {p["role"]: (p["params"], p["input"], p["output"]) for p in a["parts"]}
    assert got == expected
    assert all(p["bytes_on_disk"] is None for p in a["parts"])
    assert "configs shipped with genai" in r.stderr


def test_uncached_model_with_a_prompt_needs_its_weights(cli):
    r = cli("anatomy", "--model", "sd15", "a cat")
    assert r.exit_code == 1 and r.stdout == ""
    assert "hf download stable-diffusion-v1-5/stable-diffusion-v1-5" in r.stderr and "--model toy" in r.stderr


def test_uncached_model_without_shipped_configs_gives_the_download_hint(cli):
    r = cli("anatomy", "--model", "sd21")
    assert r.exit_code == 1 and r.stdout == ""
    assert "hf download stabilityai/stable-diffusion-2-1" in r.stderr


def test_a_prompt_runs_one_pass_through_each_part_and_plots_the_slide(cli):
    r = cli("anatomy", "--model", "toy", PROMPT, "--steps", "4", "--seed", "5", "--plot", "--json", "-o", "out")
    assert r.exit_code == 0, r
    a = json.loads(r.stdout)
    run = a["run"]
    assert [t["token"] for t in run["tokens"]] == [
        "<|startoftext|>",
        "a</w>",
        "red</w>",
        "circle</w>",
        "on</w>",
        "a</w>",
        "white</w>",
        "background</w>",
        "<|endoftext|>",
    ]
    assert run["token_length"] == 16 and run["text_vectors_shape"] == [1, 16, 64]
    assert all(t["norm"] > 0 for t in run["tokens"]) and not any(t["learned"] for t in run["tokens"])
    assert run["latent_shape"] == [1, 4, 8, 8] and run["image_shape"] == [1, 3, 32, 32]
    first, last = run["latent_first_step"], run["latent_last_step"]
    assert first != last and all(np.isfinite(list(first.values()))) and first["min"] < first["max"]
    image = Path(run["image_path"])
    assert image.parent.name == "out" and Image.open(image).size == (32, 32)
    pixels = np.asarray(Image.open(image).convert("RGB"), dtype=float)
    assert pixels[..., 0].mean() > pixels[..., 2].mean() + 20  # the toy model draws a red circle
    diagram = Path(a["diagram_path"])
    assert diagram.name == "anatomy-a-red-circle-on-a-white-background-diagram.png"
    assert Image.open(diagram).size == (1500, 560)
    # the same image as genai imagine with the same seed, steps and guidance: the parts are the pipeline's own
    r2 = cli("imagine", "--model", "toy", PROMPT, "--steps", "4", "--seed", "5", "--guidance", "7.5", "-o", "img")
    assert r2.exit_code == 0, r2
    same = np.asarray(Image.open(r2.stdout.strip()).convert("RGB"), dtype=float)
    assert np.abs(same - pixels).max() <= 1  # one grey level: the last rounding of the float image


def test_text_report_and_learned_words(cli, tmp_path):
    import torch
    from safetensors.torch import save_file

    save_file({"<blob>": torch.randn(1, 64) * 0.3}, str(tmp_path / "blob.safetensors"))
    r = cli(
        "anatomy",
        "--model",
        "toy",
        "a <blob> on a white background",
        "--steps",
        "2",
        "-e",
        str(tmp_path / "blob.safetensors"),
    )
    assert r.exit_code == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].startswith("model          toy (StableDiffusionPipeline")
    assert "1x16 tokens -> 1x16x64 text vectors" in r.stdout
    assert "1x4x8x8 latents -> 1x3x32x32 pixels" in r.stdout
    tokens = next(line for line in lines if line.startswith("tokens"))
    assert "[<blob>]" in tokens and "background</w>" in tokens
    assert any(line.startswith("latent step 2 ") for line in lines)
    assert "using cpu" in r.stderr and "using cpu" not in r.stdout


def test_plot_without_a_prompt_draws_the_boxes(cli):
    r = cli("anatomy", "--model", "sdxl", "--plot", "-o", "new/folder")  # made with the diagram (it once failed)
    assert r.exit_code == 0, r
    path = Path(r.stdout.strip().splitlines()[-1].split()[-1])
    assert path.name == "anatomy-sdxl-diagram.png" and Image.open(path).size == (1500, 560)
    assert path.parent == Path("new/folder")
    recipe = json.loads(cli("info", "--json", str(path)).stdout)["recipe"]
    assert recipe["generator"] == "genai" and recipe["extras"]["command"] == "anatomy" and recipe["model"] == "sdxl"


@pytest.mark.parametrize(
    "args, names",
    [
        (["--steps", "0", "x"], ["--steps", "0"]),
        (["--steps", "1001", "x"], ["--steps", "1001"]),
        (["--guidance", "nan", "x"], ["--guidance", "nan"]),
        (["--seed", "-1", "x"], ["--seed", "-1"]),
        (["--lora", "style.safetensors:nan", "x"], ["--lora", "nan"]),
        (["--lora", "style.safetensors:1e9", "x"], ["--lora", "1e9"]),
        ([""], ["empty"]),
    ],
)
def test_bad_input_is_refused_before_loading(cli, args, names):
    assert_refused(cli("anatomy", "--model", "toy", *args), *names)


def test_out_that_is_a_file_is_refused(cli, tmp_path):
    (tmp_path / "f").write_text("keep")
    assert_refused(cli("anatomy", "--model", "toy", "--plot", "-o", "f"), "--out", "f")
    assert (tmp_path / "f").read_text() == "keep"


def test_single_file_checkpoint_parts_and_their_bytes_in_the_file(cli, tiny, tmp_path):
    """An original-layout (A1111) checkpoint: the same parts as its folder; each part's bytes from the file's header."""
    import sys

    sys.path.insert(0, str(Path(__file__).parent))
    from ldm_checkpoint import write_ldm_checkpoint

    ckpt = write_ldm_checkpoint(tiny, tmp_path / "tiny-ldm.safetensors")
    folder = json.loads(cli("anatomy", "--model", str(tiny), "--json").stdout)
    r = cli("anatomy", "--model", str(ckpt), "--single-file-config", str(tiny), "--json")
    assert r.exit_code == 0, r
    single = json.loads(r.stdout)
    strip = lambda a: [(p["role"], p["cls"], p["params"], p["input"], p["output"]) for p in a["parts"]]  # noqa: E731
    assert strip(single) == strip(folder)
    # fp32 tensors: 4 bytes per parameter, each part's share of the one file
    assert {p["component"]: p["bytes_on_disk"] for p in single["parts"]} == {
        p["component"]: 4 * p["params"] for p in single["parts"]
    }
