"""The GPU check (issue 17): one line per check, `ok`, `FAIL` or `skip`, then a count. Run by scripts/gpu_check.sh.

Offline; needs only the built-in toy model and tiny random models built on the spot. With CUDA every check runs
(under 8 minutes on one large GPU); without it (or GPU_CHECK_DEVICE=cpu) the same code runs on the CPU where it
can and the CUDA checks are skipped and counted: that CPU dry run is tests/test_gpu_path.py's, so the script
cannot rot. Exit 1 when any check failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("NO_COLOR", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

COUNTS = {"ok": 0, "FAIL": 0, "skip": 0}
WORK = Path(tempfile.mkdtemp(prefix="gpu-check-"))
CUDA = torch.cuda.is_available() and os.environ.get("GPU_CHECK_DEVICE", "cuda") != "cpu"
if not CUDA:
    torch.set_num_threads(1)  # tiny models on a (shared) CPU: threads only spin against each other
PROMPT = "a red star on a blue background"  # words of the toy model


def line(status: str, name: str, detail: str = "") -> None:
    COUNTS[status] += 1
    print(f"{status:<5} {name:<50} {detail}".rstrip(), flush=True)


def check(name: str, needs_cuda: bool = False, gpus: int = 1):
    """Run fn -> detail; ok, FAIL (with the exception's first line), or skip without enough CUDA devices."""

    def wrap(fn):
        if needs_cuda and (not CUDA or torch.cuda.device_count() < gpus):
            line("skip", name, f"needs {gpus} CUDA device(s)")
            return fn
        t0 = time.perf_counter()
        try:
            detail = fn() or ""
            line("ok", name, f"{detail} [{time.perf_counter() - t0:.1f} s]")
        except Exception as e:  # one check's failure must not hide the others
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            line("FAIL", name, f"{type(e).__name__}: {first}")
            if os.environ.get("GPU_CHECK_DEBUG"):
                traceback.print_exc()
        return fn

    return wrap


def genai(*args: str, input: str | None = None):
    """The CLI in this process (no import per call): (exit code, stdout, stderr)."""
    from typer.testing import CliRunner

    from genai_cli import console
    from genai_cli.app import app

    console.reset()
    r = CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)
    console.reset()
    return r.exit_code, r.stdout, r.stderr


def need(cond: bool, what: str) -> None:
    if not cond:
        raise AssertionError(what)


def imagine(device: str, precision: str, out: str, *extra: str) -> np.ndarray:
    """One toy image (seed 1, 10 steps) -> its pixels in [0, 1]; NaN and exit codes checked."""
    code, stdout, stderr = genai(
        "imagine",
        "--model",
        "toy",
        "--device",
        device,
        "--precision",
        precision,
        "--steps",
        "10",
        "--seed",
        "1",
        "-o",
        str(WORK / out),
        "--force",
        *extra,
        PROMPT,
    )
    need(code == 0, f"exit {code}: {stderr.strip().splitlines()[-1:]}")
    from PIL import Image

    pixels = np.asarray(Image.open(stdout.split()[0]).convert("RGB"), dtype=np.float32) / 255
    need(bool(np.isfinite(pixels).all()) and pixels.max() > 0, "NaN or black image")
    return pixels


# --- the device ----------------------------------------------------------------------------------------------

print(
    f"gpu_check: torch {torch.__version__}, {'CUDA ' + str(torch.version.cuda) if CUDA else 'CPU dry run'}", flush=True
)


@check("cuda: version, capability, bf16", needs_cuda=True)
def _():
    from genai_cli import runtime

    cap = torch.cuda.get_device_capability(0)
    return (
        f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, capability {cap[0]}.{cap[1]}, "
        f"native bf16 {runtime.native_bf16(torch.device('cuda', 0))}, {torch.cuda.device_count()} device(s)"
    )


# --- imagine ------------------------------------------------------------------------------------------------------

REF = {}


@check("imagine cpu fp32 (reference)")
def _():
    REF["cpu"] = imagine("cpu", "fp32", "cpu")
    return f"mean {REF['cpu'].mean():.3f}"


for _prec, _tol in (("fp32", 0.02), ("fp16", 0.06), ("bf16", 0.1)):

    @check(f"imagine cuda {_prec} vs cpu fp32", needs_cuda=True)
    def _(prec=_prec, tol=_tol):
        from genai_cli import runtime

        if prec == "bf16" and not runtime.native_bf16(torch.device("cuda", 0)):
            code, _o, err = genai("imagine", "--model", "toy", "--device", "cuda", "--precision", "bf16", "x")
            need(code == 2, "bf16 without native support must exit 2")
            return "no native bf16: refused with exit 2 (as it should)"
        diff = float(np.abs(imagine("cuda", prec, f"cuda-{prec}") - REF["cpu"]).mean())
        need(diff < tol, f"mean |difference| {diff:.4f} >= {tol}")
        return f"mean |difference| {diff:.4f} (< {tol})"


@check("device past the count exits 2")
def _():
    n = torch.cuda.device_count() if CUDA else 0
    code, stdout, stderr = genai("imagine", "--model", "toy", "--device", f"cuda:{n}", "--steps", "2", PROMPT)
    need(code == 2 and stdout == "", f"exit {code}")
    return f"cuda:{n}: {stderr.strip().splitlines()[0][:80]}"


DEV = "cuda" if CUDA else "cpu"
PREC = "fp16" if CUDA else "fp32"
for _name, _extra in (
    ("--low-memory", ["--low-memory"]),
    ("--show-steps", ["--show-steps"]),
    ("--low-memory --show-steps", ["--low-memory", "--show-steps", "--width", "64", "--height", "64"]),
):

    @check(f"imagine {DEV} {_name}")
    def _(extra=_extra, name=_name):
        pixels = imagine(DEV, PREC, "mem-" + name.replace(" ", "").replace("-", ""), *extra)
        if "--show-steps" in extra:
            strips = list((WORK / ("mem-" + name.replace(" ", "").replace("-", ""))).glob("*-steps.png"))
            need(len(strips) == 1, "no step strip written")
        return f"{pixels.shape[1]}x{pixels.shape[0]}, no NaN"


def torchrun(n_gpus_visible: str | None, out: str) -> tuple[int, str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if n_gpus_visible is not None:
        env["CUDA_VISIBLE_DEVICES"] = n_gpus_visible
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "-m",
        "genai_cli",
        "imagine",
        "--model",
        "toy",
        "--steps",
        "5",
        "--seed",
        "1",
        "-o",
        str(WORK / out),
        "--json",
        "a red star",
        "a blue circle",
        "a green square",
    ]
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, cwd=WORK)
    return p.returncode, p.stdout, p.stderr


@check("torchrun 2 processes on 1 GPU: gloo", needs_cuda=True)
def _():
    code, stdout, stderr = torchrun("0", "tr1")
    need(code == 0, f"exit {code}: {stderr.strip().splitlines()[-1:]}")
    need("gloo on the CPU" in stderr, "no warning about the fallback")
    need(len(list((WORK / "tr1").glob("*.png"))) == 3, "not 3 images")
    return "3 images, warned, no NCCL error"


@check("torchrun 2 processes on 2 GPUs: split", needs_cuda=True, gpus=2)
def _():
    code, stdout, stderr = torchrun(None, "tr2")
    need(code == 0, f"exit {code}: {stderr.strip().splitlines()[-1:]}")
    recs = [json.loads(x) for x in stdout.splitlines() if x.startswith("{")]
    need(len(recs) == 3, f"{len(recs)} records, not 3")
    devices = {
        json.loads(
            subprocess.run(
                [sys.executable, "-m", "genai_cli", "info", "--json", r["path"]], capture_output=True, text=True
            ).stdout
        )["genai"]["device"]
        for r in recs
    }
    need(devices == {"cuda:0", "cuda:1"}, f"devices {sorted(devices)}")
    return "3 images on cuda:0 and cuda:1"


# --- invert -------------------------------------------------------------------------------------------------------


def _images() -> Path:
    from PIL import Image

    folder = WORK / "concept"
    if not folder.is_dir():
        folder.mkdir()
        rng = np.random.default_rng(0)
        for i in range(3):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


def _with_safety_checker():
    """Hub SD 1.x pipelines keep their safety checker: register a tiny random one on every loaded pipeline."""
    from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
    from transformers import CLIPConfig, CLIPImageProcessor

    from genai_cli.image import loading

    small = {"hidden_size": 16, "intermediate_size": 32, "num_attention_heads": 2, "num_hidden_layers": 1}
    cfg = CLIPConfig(
        text_config={**small, "vocab_size": 64},
        vision_config={**small, "image_size": 32, "patch_size": 8},
        projection_dim=8,
    )
    real = loading.load_pipeline

    def load(*a, **k):
        pipe = real(*a, **k)
        pipe.register_modules(
            safety_checker=StableDiffusionSafetyChecker(cfg).eval(),
            feature_extractor=CLIPImageProcessor(crop_size=32, size=32),
        )
        return pipe

    loading.load_pipeline = load
    return lambda: setattr(loading, "load_pipeline", real)


for _prec in ("fp16", "bf16") if CUDA else ("fp32",):

    @check(f"invert toy {DEV} {_prec}: validation, checker, resume")
    def _(prec=_prec):
        from genai_cli import runtime

        if prec == "bf16" and not runtime.native_bf16(torch.device("cuda", 0)):
            return "no native bf16: skipped inside"
        out = WORK / f"invert-{prec}"
        base = [
            "invert",
            "--model",
            "toy",
            "--images",
            str(_images()),
            "--token",
            "<thing>",
            "--init-word",
            "star",
            "--out",
            str(out),
            "--batch-size",
            "2",
            "--grad-accum",
            "2",
            "--lr",
            "0.01",
            "--save-every",
            "0",
            "--checkpoint-every",
            "2",
            "--validate-every",
            "2",
            "--validation-prompt",
            "a {}",
            "--device",
            DEV,
            "--precision",
            prec,
        ]
        restore = _with_safety_checker()
        try:
            code, _o, err = genai(*base, "--steps", "2")
            need(code == 0, f"first run exit {code}: {err.strip().splitlines()[-1:]}")
            code, _o, err = genai(*base, "--steps", "4", "--resume")
            need(code == 0, f"resume exit {code}: {err.strip().splitlines()[-1:]}")
        finally:
            restore()
        need("resuming at step 2" in err, "did not resume")
        grids = sorted(p.name for p in (out / "validation").glob("*.png"))
        need(grids == ["step-000002.png", "step-000004.png"], f"validation grids {grids}")
        from safetensors.torch import load_file

        vec = load_file(str(out / "learned_embeds.safetensors"))["<thing>"]
        need(bool(torch.isfinite(vec).all()), "NaN embedding")
        return "2 + 2 steps, 2 validation grids, finite embedding"


# --- memory of one SD 1.5-shaped inversion step ---------------------------------------------------------------


def sd15_step_peak(batch: int, checkpointing: bool, device: str, real_shapes: bool) -> float:
    """Peak GiB of one textual-inversion step with SD 1.5's shapes (random weights; the U-Net in fp16 with
    cross-attention 768, a CLIP-L-shaped text encoder in fp32 under autocast, 64x64 latents). Tiny shapes on the CPU."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    if real_shapes:
        with torch.device(device):  # initialised on the GPU: 860M random parameters are slow to draw on a CPU
            unet = UNet2DConditionModel(cross_attention_dim=768, attention_head_dim=8, sample_size=64)
            te = CLIPTextModel(
                CLIPTextConfig(
                    hidden_size=768,
                    intermediate_size=3072,
                    num_hidden_layers=12,
                    num_attention_heads=12,
                    max_position_embeddings=77,
                    vocab_size=49408,
                    projection_dim=768,
                )
            )
        side, length, dtype = 64, 77, torch.float16
    else:
        unet = UNet2DConditionModel(
            block_out_channels=(8, 16),
            layers_per_block=1,
            sample_size=8,
            cross_attention_dim=16,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            norm_num_groups=4,
            attention_head_dim=2,
        )
        te = CLIPTextModel(
            CLIPTextConfig(
                hidden_size=16,
                intermediate_size=32,
                num_hidden_layers=1,
                num_attention_heads=2,
                max_position_embeddings=77,
                vocab_size=100,
            )
        )
        side, length, dtype = 8, 77, torch.float32
    unet.requires_grad_(False)
    te.requires_grad_(False)
    if checkpointing:
        unet.train()
        unet.enable_gradient_checkpointing()
    unet.to(device, dtype=dtype)
    te.to(device)
    from genai_cli.invert.train import NewTokens  # the token table plus the trainable row, as genai invert uses it

    vocab = te.config.vocab_size
    new = NewTokens(te.get_input_embeddings(), vocab, torch.zeros(1, te.config.hidden_size)).to(device)
    te.set_input_embeddings(new)
    vectors = new.vectors
    opt = torch.optim.AdamW([vectors], lr=1e-3)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    ids = torch.randint(0, vocab, (batch, length), device=device)
    ids[:, 5] = vocab  # the new token
    with torch.autocast(device.split(":")[0], dtype=dtype, enabled=device.startswith("cuda")):
        hidden = te(ids)[0].to(dtype)
        latents = torch.randn(batch, 4, side, side, device=device, dtype=dtype)
        pred = unet(latents, torch.randint(0, 1000, (batch,), device=device), hidden).sample
        loss = torch.nn.functional.mse_loss(pred.float(), latents.float())
    loss.backward()
    opt.step()
    need(
        vectors.grad is not None and bool(torch.isfinite(vectors.grad).all()), "no finite gradient reached the vectors"
    )
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else 0.0
    del unet, te, opt
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return peak


@check("sd15-shaped step (tiny, cpu): runs")
def _():
    for gc in (False, True):
        sd15_step_peak(2, gc, "cpu", real_shapes=False)
    return "batch 2, with and without checkpointing: gradient reaches the vectors"


@check("sd15 step peak memory -> preset", needs_cuda=True)
def _():
    import yaml

    preset = yaml.safe_load((ROOT / "configs" / "invert-sd15-gpu.yaml").read_text())["invert"]
    peaks = {(b, gc): sd15_step_peak(b, gc, "cuda", real_shapes=True) for b in (1, 4) for gc in (False, True)}
    shown = ", ".join(f"b{b}{' ckpt' if gc else ''} {p:.2f} GiB" for (b, gc), p in peaks.items())
    mine = peaks[(preset["batch_size"], bool(preset.get("gradient_checkpointing")))]
    need(mine < 7.0, f"the preset's setting peaks at {mine:.2f} GiB (> 7 GiB: no room on an 8 GB card): {shown}")
    return shown + f"; preset (b{preset['batch_size']}) fits 8 GB"


# --- text ---------------------------------------------------------------------------------------------------------

LM = {}


@check("text cpu: generate, next, attention")
def _():
    import importlib.util  # tests/tiny_lm.py: the tiny random causal LM of the text tests, under a name of its own

    spec = importlib.util.spec_from_file_location("genai_tests_tiny_lm", ROOT / "tests" / "tiny_lm.py")
    tiny_lm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny_lm)
    write_tiny_lm = tiny_lm.write_tiny_lm

    LM["path"] = str(write_tiny_lm(WORK / "tiny-lm" / "tiny-llama"))
    code, out, err = genai(
        "generate", "The cat", "-m", LM["path"], "-n", "8", "--greedy", "--raw", "--json", "--device", "cpu"
    )
    need(code == 0, f"generate exit {code}: {err.strip().splitlines()[-1:]}")
    LM["cpu"] = json.loads(out)["text"]
    code, out, err = genai("next", "The cat", "-m", LM["path"], "--json", "--device", "cpu")
    need(code == 0, f"next exit {code}")
    code, out, err = genai("attention", "The cat sat", "-m", LM["path"], "-o", str(WORK / "att.png"), "--device", "cpu")
    need(code == 0 and (WORK / "att.png").is_file(), f"attention exit {code}")
    return f"greedy {LM['cpu']!r}"


for _prec in ("fp32", "fp16", "bf16"):

    @check(f"text cuda {_prec}: greedy = cpu, next, attention", needs_cuda=True)
    def _(prec=_prec):
        from genai_cli import runtime

        if prec == "bf16" and not runtime.native_bf16(torch.device("cuda", 0)):
            return "no native bf16: skipped inside"
        code, out, err = genai(
            "generate",
            "The cat",
            "-m",
            LM["path"],
            "-n",
            "8",
            "--greedy",
            "--raw",
            "--json",
            "--device",
            "cuda",
            "--precision",
            prec,
        )
        need(code == 0, f"generate exit {code}: {err.strip().splitlines()[-1:]}")
        text = json.loads(out)["text"]
        n = 8 if prec == "fp32" else 3  # half precision may tip a near-tie later on
        need(text[:n] == LM["cpu"][:n], f"cuda {text!r} vs cpu {LM['cpu']!r}")
        code, _o, _e = genai("next", "The cat", "-m", LM["path"], "--device", "cuda", "--precision", prec)
        need(code == 0, f"next exit {code}")
        png = WORK / f"att-{prec}.png"
        code, _o, _e = genai(
            "attention", "The cat sat", "-m", LM["path"], "-o", str(png), "--device", "cuda", "--precision", prec
        )
        need(code == 0 and png.is_file(), f"attention exit {code}")
        return f"first {n} characters as on the cpu"


# --- speed --------------------------------------------------------------------------------------------------------


@check("imagine per image vs direct diffusers", needs_cuda=True)
def _():
    p = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench" / "imagine.py"),
            "--device",
            "cuda",
            "--precision",
            "fp16",
            "--steps",
            "25",
            "--rounds",
            "8",
            "--n",
            "8",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    need(p.returncode == 0, f"bench exit {p.returncode}: {p.stderr.strip().splitlines()[-1:]}")
    ratio = [x for x in p.stdout.splitlines() if "ratio genai/direct" in x]
    need(bool(ratio), "no ratio printed")
    value = float(ratio[0].split("ratio genai/direct")[1].split()[0])
    need(value <= 1.10, ratio[0].strip())
    return ratio[0].strip()


print(f"gpu_check: {COUNTS['ok']} ok, {COUNTS['FAIL']} FAIL, {COUNTS['skip']} skip", flush=True)
sys.exit(1 if COUNTS["FAIL"] else 0)
