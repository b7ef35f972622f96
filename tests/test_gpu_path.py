"""The CUDA/MPS code paths (issue 17), reached on the CPU: faked device queries, tiny random models, and
the same code paths the GPU takes. scripts/gpu_check.sh runs the real thing on a GPU."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parents[1]
INIT = "the"  # one token in the tiny pipeline's tokenizer


@pytest.fixture
def images(tmp_path) -> Path:
    folder = tmp_path / "concept"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


from tests.test_invert import _invert, _vectors  # noqa: E402  (the same tiny invert run as test_invert.py)


def _fake_cuda(monkeypatch, count=1, capability=(8, 0), current=0):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: current)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # as on a T4: emulated bf16 counts


# --- devices and precision (points 4, 5, 7) ------------------------------------------------------------------


def test_cuda_index_past_the_device_count_exits_2(cli, tiny, monkeypatch):
    _fake_cuda(monkeypatch, count=2)
    r = cli("imagine", "--model", str(tiny), "--device", "cuda:2", "--steps", "2", "a cat")
    assert r.exit_code == 2 and r.stdout == ""
    assert "'cuda:2' does not exist: 2 CUDA device(s) found" in r.stderr and "Traceback" not in r.stderr


def test_cuda_without_index_is_the_current_device(monkeypatch):
    import torch

    from genai_cli import runtime

    _fake_cuda(monkeypatch, count=2, current=1)
    assert runtime.choose_device("cuda") == torch.device("cuda", 1)
    assert runtime.same_device("cuda", "cuda:1") and not runtime.same_device("cuda:0", "cuda:1")
    assert not runtime.same_device("cpu", "cuda:1")


def test_bf16_needs_compute_capability_8_not_emulation(monkeypatch):
    import torch

    from genai_cli import runtime
    from genai_cli.errors import UsageError

    _fake_cuda(monkeypatch, capability=(7, 5))  # a T4: is_bf16_supported() says True (emulated)
    cuda = torch.device("cuda", 0)
    with pytest.raises(UsageError, match=r"compute capability 7\.5; bf16 needs 8\.0"):
        runtime.choose_precision(cuda, "bf16")
    assert runtime.choose_precision(cuda, "auto") == "fp16"
    _fake_cuda(monkeypatch, capability=(8, 6))
    assert runtime.choose_precision(cuda, "bf16") == "bf16"
    assert runtime.choose_precision(cuda, "auto") == "bf16"  # bf16-trained models do not overflow
    assert runtime.choose_precision(torch.device("cpu"), "auto") == "fp32"


def test_more_processes_than_gpus_use_gloo_on_the_cpu_with_a_warning(monkeypatch, capsys):
    from genai_cli import distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    _fake_cuda(monkeypatch, count=1)
    assert distributed.cpu_only() is True
    err = capsys.readouterr().err
    assert "2 processes but 1 GPU(s)" in err and "gloo on the CPU" in err
    monkeypatch.setenv("RANK", "1")  # only process 0 says it
    assert distributed.cpu_only() is True and capsys.readouterr().err == ""
    _fake_cuda(monkeypatch, count=2)
    assert distributed.cpu_only() is False  # one GPU per process: NCCL
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "1")  # 2 nodes x 1 process, 1 GPU each
    assert distributed.cpu_only() is False


def test_mps_fallback_is_set_before_torch_loads():
    code = (
        "import os, sys; os.environ.pop('PYTORCH_ENABLE_MPS_FALLBACK', None)\n"
        "import genai_cli.runtime\n"
        "print('torch' in sys.modules, os.environ.get('PYTORCH_ENABLE_MPS_FALLBACK'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == ["False", "1"]


def test_accelerate_reset_is_guarded(monkeypatch):
    from accelerate.state import AcceleratorState

    from genai_cli import runtime

    AcceleratorState._shared_state["probe"] = 1
    runtime.reset_accelerate_state()
    assert "probe" not in AcceleratorState._shared_state
    monkeypatch.delattr(AcceleratorState, "_reset_state")
    runtime.reset_accelerate_state()  # gone in some future accelerate: no AttributeError


# --- imagine: low memory and step frames (points 3, 9) -----------------------------------------------------


def test_decode_uses_the_execution_device_not_the_offloaded_vae_device():
    """With model CPU offload the VAE sits on the cpu between calls (vae.device) while the hook runs it on the GPU:
    the step frames' latents must go to the pipeline's execution device. A VAE claiming another device shows which."""
    import torch

    from genai_cli.image.generate import _decode

    seen = {}

    class Vae:
        device = torch.device("meta")  # where an offloaded VAE's weights say they are
        dtype = torch.float32
        config = SimpleNamespace(scaling_factor=0.5)

        def decode(self, x):
            seen["device"], seen["dtype"] = x.device, x.dtype
            return SimpleNamespace(sample=x[:, :3] * 0)

    pipe = SimpleNamespace(vae=Vae(), _execution_device=torch.device("cpu"))
    out = _decode(pipe, torch.ones(1, 4, 2, 2, dtype=torch.float64))
    assert seen == {"device": torch.device("cpu"), "dtype": torch.float32}
    assert out.shape == (1, 2, 2, 3) and np.allclose(out, 0.5)


def test_low_memory_keeps_sdpa_tiles_the_vae_and_offloads_to_this_process_gpu(tiny, monkeypatch):
    import torch

    from genai_cli.image import generate, loading
    from genai_cli.image.settings import ImagineSettings

    pipe = loading.load_pipeline(loading.locate(str(tiny)), torch.float32)
    s = ImagineSettings(prompts=["a"], low_memory=True)
    generate.prepare(pipe, s, torch.device("cpu"))
    assert pipe.vae.use_slicing and not pipe.vae.use_tiling  # 32-px tiles would show as squares
    pipe.vae.tile_sample_min_size = 512  # SD 1.x's VAE: tiles above 512 px
    generate.prepare(pipe, s, torch.device("cpu"))
    assert pipe.vae.use_tiling
    assert {type(p).__name__ for p in pipe.unet.attn_processors.values()} == {"AttnProcessor2_0"}
    # CUDA: offload to this process's own GPU (cuda:1 under torchrun's rank 1), never a bare "cuda" = cuda:0
    _fake_cuda(monkeypatch, count=2, current=1)
    offloaded = {}
    monkeypatch.setattr(pipe, "enable_model_cpu_offload", lambda device=None, **k: offloaded.setdefault("d", device))
    assert generate.prepare(pipe, s, torch.device("cuda")) is pipe
    assert offloaded["d"] == torch.device("cuda", 1)


def test_low_memory_with_show_steps_writes_frames(cli, tiny, tmp_path):
    r = cli(
        "imagine",
        "--model",
        str(tiny),
        "--steps",
        "3",
        "--seed",
        "1",
        "--low-memory",
        "--show-steps",
        "--width",
        "128",
        "--height",
        "128",
        "-o",
        str(tmp_path / "o"),
        "a cat",
    )
    assert r.exit_code == 0, r.stderr
    png, strip = map(Path, r.stdout.split())
    assert strip == png.with_name(png.stem + "-steps.png")
    assert Image.open(png).size == (128, 128) and strip.is_file()
    assert np.asarray(Image.open(strip)).std() > 0  # frames, not a blank strip


# --- invert (points 1, 2, 8) -------------------------------------------------------------------------------


def _tiny_safety_checker():
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig

    torch.manual_seed(0)
    cfg = CLIPConfig(
        text_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "vocab_size": 64,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_attention_heads": 2,
            "num_hidden_layers": 1,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=8,
    )
    return StableDiffusionSafetyChecker(cfg).eval()


def test_validation_runs_without_the_hub_safety_checker(cli, tiny, images, tmp_path, monkeypatch):
    """Hub SD 1.x pipelines keep their safety checker; on a GPU it would stay on the cpu while the pipeline runs on
    cuda (a device mismatch at the first validation). Validation runs without it, as diffusers' example does."""
    from transformers import CLIPImageProcessor

    from genai_cli.image import loading

    checker = _tiny_safety_checker()
    calls = []
    checker.forward = lambda *a, **k: calls.append(1) or (_ for _ in ()).throw(RuntimeError("device mismatch"))
    real = loading.load_pipeline

    def with_checker(*a, **k):
        pipe = real(*a, **k)
        pipe.register_modules(safety_checker=checker, feature_extractor=CLIPImageProcessor(crop_size=32, size=32))
        return pipe

    monkeypatch.setattr(loading, "load_pipeline", with_checker)
    out = tmp_path / "v"
    r = _invert(cli, tiny, images, out, "--steps", "2", "--validate-every", "1", "--validation-prompt", "a {}")
    assert r.exit_code == 0, r.stderr
    assert calls == []
    grids = sorted(p.name for p in (out / "validation").iterdir())
    assert grids == ["step-000001.png", "step-000002.png"]
    assert np.asarray(Image.open(out / "validation" / grids[-1])).std() > 0


def test_gradient_checkpointing_gives_the_same_embedding(cli, tiny, images, tmp_path, monkeypatch):
    import torch

    from genai_cli.image import loading

    plain = tmp_path / "plain"
    assert _invert(cli, tiny, images, plain, "--steps", "2").exit_code == 0
    seen = {}
    real = loading.load_pipeline
    monkeypatch.setattr(loading, "load_pipeline", lambda *a, **k: seen.setdefault("pipe", real(*a, **k)))
    cfg = tmp_path / "gc.yaml"
    cfg.write_text("invert:\n  gradient_checkpointing: true\n")
    ckpt = tmp_path / "ckpt"
    r = _invert(cli, tiny, images, ckpt, "--steps", "2", "--config", str(cfg))
    assert r.exit_code == 0, r.stderr
    assert seen["pipe"].unet.is_gradient_checkpointing
    a, b = _vectors(plain / "learned_embeds.safetensors"), _vectors(ckpt / "learned_embeds.safetensors")
    assert torch.allclose(a, b, atol=1e-6)
    init = (
        seen["pipe"]
        .text_encoder.get_input_embeddings()
        .table.weight[seen["pipe"].tokenizer.convert_tokens_to_ids(INIT + "</w>")]
    )
    assert not torch.allclose(b[0], init)  # it learned: the gradient went through the checkpointed U-Net


@pytest.mark.parametrize("value", ["lots", "[1, 2]", "3"])
def test_gradient_checkpointing_refuses_non_booleans(cli, tiny, images, tmp_path, value):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(f"invert:\n  gradient_checkpointing: {value}\n")
    r = _invert(cli, tiny, images, tmp_path / "o", "--steps", "2", "--config", str(cfg))
    assert r.exit_code == 2 and r.stdout == ""
    assert "gradient_checkpointing" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o").exists()


def test_out_of_memory_is_one_line_naming_what_lowers_memory(cli, tiny, images, tmp_path, monkeypatch):
    import torch

    from genai_cli.invert import train

    def oom(self, step):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 7.79 GiB total)")

    monkeypatch.setattr(train.Run, "train_step", oom)
    r = _invert(cli, tiny, images, tmp_path / "o", "--steps", "2")
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert "out of memory on cpu: CUDA out of memory. Tried to allocate 2.00 GiB" in r.stderr
    for name in ("--batch-size", "--grad-accum", "--resolution", "gradient_checkpointing"):
        assert name in r.stderr
    from genai_cli import runtime

    assert runtime.out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 8 GB)"))
    assert not runtime.out_of_memory(RuntimeError("Expected all tensors to be on the same device"))


def test_a_non_finite_loss_on_another_process_stops_this_one_before_backward(cli, tiny, images, tmp_path, monkeypatch):
    """Data-parallel: rank 1's NaN must stop rank 0 too, before backward's all-reduce (where rank 0 would wait for
    ever). Here this process is rank 0 of a faked pair, and the reduced flag says another rank went NaN at step 3."""
    import accelerate
    import torch

    good = tmp_path / "good"
    assert _invert(cli, tiny, images, good, "--steps", "2").exit_code == 0
    reduced, backwards = [], []
    real_backward = accelerate.Accelerator.backward

    def reduce(self, tensor, reduction="sum", scale=1.0):
        reduced.append(reduction)
        if reduction == "sum" and sum(1 for r in reduced if r == "sum") > 4:  # 2 micro-batches per step: step 3
            return torch.ones_like(tensor)
        return tensor.clone()

    monkeypatch.setattr(accelerate.Accelerator, "num_processes", property(lambda self: 2))
    monkeypatch.setattr(accelerate.Accelerator, "reduce", reduce)
    monkeypatch.setattr(accelerate.Accelerator, "gather", lambda self, t: t)
    monkeypatch.setattr(
        accelerate.Accelerator,
        "backward",
        lambda self, loss, **k: backwards.append(1) or real_backward(self, loss, **k),
    )
    bad = tmp_path / "bad"
    r = _invert(cli, tiny, images, bad, "--steps", "5")
    assert r.exit_code == 1
    assert "the loss became NaN/inf on another process at step 3" in r.stderr
    assert len(backwards) == 4  # steps 1 and 2; none at step 3
    assert "mean" in reduced  # the loss the explode check sees is the mean over processes
    assert torch.isfinite(_vectors(bad / "learned_embeds.safetensors")).all()


# --- the GPU check script ---------------------------------------------------------------------------------


def test_gpu_check_dry_run_on_the_cpu(tmp_path):
    env = {**os.environ, "GPU_CHECK_DEVICE": "cpu", "PY": sys.executable}
    out = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_check.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tmp_path,
    )
    lines = out.stdout.splitlines()
    assert out.returncode == 0, out.stdout + out.stderr
    results = [line.split()[0] for line in lines if line.split() and line.split()[0] in ("ok", "FAIL", "skip")]
    assert "FAIL" not in results and results.count("ok") >= 5
    assert results.count("skip") >= 5  # the CUDA checks, counted
    assert lines[-1].startswith("gpu_check:") and "0 FAIL" in lines[-1]


NAN_ON_RANK_1 = """
import os, sys
from genai_cli.invert import train
real = train.diffusion_loss
calls = [0]
def loss(*a, **k):
    calls[0] += 1
    value = real(*a, **k)
    return value * float("nan") if os.environ["RANK"] == "1" and calls[0] >= 3 else value  # rank 1, step 3
train.diffusion_loss = loss
from genai_cli.app import app
sys.argv = ["genai"] + sys.argv[1:]
app(prog_name="genai")
"""


def test_nan_on_one_rank_stops_both_with_the_same_message(tiny, images, tmp_path):
    """torchrun, 2 CPU processes (gloo): rank 1's loss goes NaN at step 3. Before, rank 1 raised alone and rank 0
    waited in backward's all-reduce for ever; now both stop at step 3 (the timeout is the hang detector)."""
    driver = tmp_path / "driver.py"
    driver.write_text(NAN_ON_RANK_1)
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
            str(driver),
            "invert",
            "--model",
            str(tiny),
            "--images",
            str(images),
            "--token",
            "<thing>",
            "--init-word",
            INIT,
            "--out",
            str(out),
            "--steps",
            "6",
            "--batch-size",
            "1",
            "--grad-accum",
            "1",
            "--lr",
            "0.05",
            "--save-every",
            "0",
            "--checkpoint-every",
            "0",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        cwd=tmp_path,
    )
    assert p.returncode != 0
    assert "the loss became NaN/inf on another process at step 3" in p.stderr  # rank 0, told by the reduction
    assert "the loss became nan at step 3" in p.stderr  # rank 1, its own
    assert torch_finite(_vectors(out / "learned_embeds.safetensors"))


def torch_finite(t) -> bool:
    import torch

    return bool(torch.isfinite(t).all())


def test_a_nan_image_from_a_half_precision_vae_is_decoded_again_in_fp32(cli, tiny, tmp_path, monkeypatch):
    """fp16 VAEs overflow to NaN on some images; the same latents decode fine in fp32 (no rerun of the steps).
    Here the half-precision decode is made to give NaN (bf16, the half precision a CPU has)."""
    import torch
    from diffusers import AutoencoderKL

    real = AutoencoderKL.decode
    halves = []

    def decode(self, z, *a, **k):
        out = real(self, z, *a, **k)
        if self.dtype != torch.float32:
            halves.append(1)
            if isinstance(out, tuple):  # the pipeline asks for return_dict=False
                return (out[0] * float("nan"),)
            out.sample = out.sample * float("nan")
        return out

    monkeypatch.setattr(AutoencoderKL, "decode", decode)
    r = cli(
        "imagine",
        "--model",
        str(tiny),
        "--precision",
        "bf16",
        "--steps",
        "3",
        "--seed",
        "2",
        "-o",
        str(tmp_path / "o"),
        "a cat",
    )
    assert r.exit_code == 0, r.stderr
    assert halves  # the bf16 VAE did give NaN
    pixels = np.asarray(Image.open(r.stdout.strip()))
    assert pixels.std() > 0 and "NaN" not in r.stderr
    ref = cli(
        "imagine",
        "--model",
        str(tiny),
        "--precision",
        "fp32",
        "--steps",
        "3",
        "--seed",
        "2",
        "-o",
        str(tmp_path / "ref"),
        "a cat",
    )
    close = np.abs(pixels.astype(float) - np.asarray(Image.open(ref.stdout.strip())).astype(float)).mean()
    assert close < 8  # the bf16 run's latents, decoded in fp32: near the fp32 run's image (0-255 scale)


# --- text on CUDA (points 5, 6) ---------------------------------------------------------------------------------


@pytest.fixture
def tiny_lm(tmp_path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from tiny_lm import write_tiny_lm

    return write_tiny_lm(tmp_path / "tiny-lm" / "tiny-llama")


def _break_norm(folder: Path) -> None:
    """Final norm weights at 1e38 and inf: the logits are no longer finite in any precision (what fp16 overflow
    does to a bf16-trained model on a GPU)."""
    from safetensors.torch import load_file, save_file

    f = next(folder.glob("*.safetensors"))
    w = load_file(str(f))
    w["model.norm.weight"] = w["model.norm.weight"] * 0 + 1e38
    w["model.norm.weight"][0] = float("inf")
    save_file(w, str(f), metadata={"format": "pt"})


def test_non_finite_logits_stop_generate_with_a_hint(cli, tiny_lm):
    _break_norm(tiny_lm)
    r = cli("generate", "hello", "-m", str(tiny_lm), "-n", "3", "--device", "cpu", "--engine", "transformers")
    assert r.exit_code == 1 and r.stdout.strip() == ""
    assert "the model's logits are NaN/inf in float32" in r.stderr and "--precision fp32" in r.stderr
    assert "Traceback" not in r.stderr


def test_fp16_logit_overflow_hints_bf16(tiny_lm):
    import torch

    from genai_cli.errors import GenaiError
    from genai_cli.text.model import load_model

    _break_norm(tiny_lm)
    lm = load_model(str(tiny_lm), torch.device("cpu"), torch.float16, path=tiny_lm)
    with pytest.raises(GenaiError, match="NaN/inf in float16") as e:
        lm.model(torch.tensor([[5, 6, 7]]))
    assert "--precision bf16" in e.value.hint and "8.0" in e.value.hint


def test_text_models_load_straight_onto_the_gpu(tiny_lm, monkeypatch):
    """On CUDA the weights load with device_map (no host-RAM copy); "auto" shards only for one process with several
    GPUs whose chosen one is too small."""
    import torch
    import transformers

    from genai_cli.text import model as M

    assert M._device_map(torch.device("cpu"), tiny_lm) is None
    _fake_cuda(monkeypatch, count=1)
    assert M._device_map(torch.device("cuda", 0), tiny_lm) == {"": "cuda:0"}
    _fake_cuda(monkeypatch, count=2)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (1000, 10**10))  # 1000 bytes free
    assert M._device_map(torch.device("cuda", 1), tiny_lm) == "auto"
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun: this process's GPU only
    assert M._device_map(torch.device("cuda", 1), tiny_lm) == {"": "cuda:1"}
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (10**10, 10**10))
    seen = {}
    real = transformers.AutoModelForCausalLM.from_pretrained

    def spy(path, **kwargs):
        seen.update(kwargs)
        return real(path, dtype=kwargs["dtype"])  # the cpu stands in for the GPU here

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", spy)
    monkeypatch.setattr(torch.nn.Module, "to", lambda self, *a, **k: pytest.fail("moved after loading"))
    lm = M.load_model(str(tiny_lm), torch.device("cuda", 0), torch.float16, path=tiny_lm)
    assert seen["device_map"] == {"": "cuda:0"} and seen["low_cpu_mem_usage"] is True
    assert lm.dtype == torch.float16
