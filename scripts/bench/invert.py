"""Textual inversion on the built-in toy model: does it learn the held-out shape, how fast, how big.

    nice -n 19 .venv/bin/python scripts/bench/invert.py            # everything (~10 min on 2 cores)
    .venv/bin/python scripts/bench/invert.py --skip-quality        # only the step-time comparison

1. Five images of the held-out shape (moon), each another colour on another background, rendered by
   the toy renderer with caption files (`genai toy render --captions`).
2. Before: the placeholder <moon> as its init word (circle) -> how often the analyzer sees a moon in
   "a <colour> <moon> on a <background> background" (every colour x background, --seeds seeds each).
3. `genai invert --preset toy-cpu` on the five images, timed (issue 6: at most 10 minutes).
4. After: the same prompts with the learned embedding; colour and background accuracy compared with
   the trained shapes' on the same colour x background grid.
5. Step time and peak memory, side by side in fresh processes on the same model, batch and
   resolution: genai's training step against diffusers' examples/textual_inversion/textual_inversion.py
   loop (re-implemented below as it is written there: a PIL dataset + DataLoader, the VAE encoding every
   batch, AdamW over the whole token table, the other rows restored after each step).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

TOKEN, INIT = "<moon>", "circle"
SCENES = [("red", "white"), ("blue", "black"), ("green", "gray"), ("yellow", "blue"), ("purple", "white")]


def render_images(folder: Path) -> Path:
    from genai_cli.toyworld.files import write_renders
    from genai_cli.toyworld.world import HELD_OUT, Scene

    folder.mkdir(parents=True, exist_ok=True)
    for i, (colour, background) in enumerate(SCENES):
        write_renders(Scene(HELD_OUT, colour, background), 1, folder, 32, seed=100 + i, force=True, caption_files=True)
    return folder


def grid_prompts(word: str) -> list[tuple[str, str, str]]:
    from genai_cli.toyworld.world import BACKGROUNDS, COLOURS, HELD_OUT, caption, drawable

    return [(caption(word, c, b), c, b) for c in COLOURS for b in BACKGROUNDS if drawable(HELD_OUT, c, b)]


def judge(pipe, analyzer, prompts, seeds: int, steps: int = 25) -> dict:
    """Generate every prompt with seeds 0..seeds-1 -> how often each head reads what the prompt says."""
    import torch

    texts = [p for p, _, _ in prompts for _ in range(seeds)]
    gens_seeds = [k for _ in prompts for k in range(seeds)]
    images = []
    for i in range(0, len(texts), 64):
        gens = [torch.Generator().manual_seed(s) for s in gens_seeds[i : i + 64]]
        out = pipe(texts[i : i + 64], num_inference_steps=steps, generator=gens, output_type="np").images
        images.append(np.clip(np.rint(out * 255), 0, 255).astype(np.uint8))
    verdicts = analyzer(np.concatenate(images))
    colours = [c for _, c, _ in prompts for _ in range(seeds)]
    backgrounds = [b for _, _, b in prompts for _ in range(seeds)]
    return {
        "shapes": [v.shape for v in verdicts],
        "colour": float(np.mean([v.colour == c for v, c in zip(verdicts, colours)])),
        "background": float(np.mean([v.background == b for v, b in zip(verdicts, backgrounds)])),
        "images": len(verdicts),
        "grid": np.concatenate(images),
    }


def toy_pipeline():
    import torch
    from diffusers import StableDiffusionPipeline

    from genai_cli.image.loading import TOY_PIPELINE, _dtype_kwarg, quiet_libraries

    quiet_libraries()
    pipe = StableDiffusionPipeline.from_pretrained(
        str(TOY_PIPELINE), local_files_only=True, **_dtype_kwarg(torch.float32)
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def quality(args, images: Path) -> dict:

    from genai_cli.toyworld import analyzer as A
    from genai_cli.toyworld.world import HELD_OUT, SHAPES

    analyzer = A.load()
    res: dict = {}
    # before: the new word is still its init word's vector
    pipe = toy_pipeline()
    row = pipe.text_encoder.get_input_embeddings().weight[pipe.tokenizer.convert_tokens_to_ids(INIT + "</w>")].detach()
    pipe.load_textual_inversion({TOKEN: row[None].clone()}, token=TOKEN)
    before = judge(pipe, analyzer, grid_prompts(TOKEN), args.seeds)
    res["before"] = {
        "moon": before["shapes"].count(HELD_OUT) / before["images"],
        "colour": before["colour"],
        "background": before["background"],
        "images": before["images"],
    }
    print(
        f"before: {TOKEN} read as {HELD_OUT} in {100 * res['before']['moon']:.1f}% of {before['images']} images",
        flush=True,
    )

    # invert, as a user would
    out = Path(args.out) / "run"
    t0 = time.time()
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "genai_cli",
            "invert",
            "--preset",
            "toy-cpu",
            "--images",
            str(images),
            "--token",
            TOKEN,
            "--init-word",
            INIT,
            "--out",
            str(out),
            "--json",
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(args.threads)},
    )
    wall = time.time() - t0
    if p.returncode:
        sys.exit(f"genai invert failed:\n{p.stderr[-3000:]}")
    run = json.loads(p.stdout)
    res["invert"] = {
        "wall_seconds": round(wall, 1),
        "steps": run["steps"],
        "seconds_per_step": run["seconds_per_step"],
        "final_loss": run["final_loss"],
    }
    print(
        f"genai invert --preset toy-cpu: {wall:.0f} s wall "
        f"({run['steps']} steps, {run['seconds_per_step']:.3f} s/step)",
        flush=True,
    )

    # after: the learned word; and the trained shapes on the same colour x background grid
    pipe = toy_pipeline()
    pipe.load_textual_inversion(run["path"])
    after = judge(pipe, analyzer, grid_prompts(TOKEN), args.seeds)
    res["after"] = {
        "moon": after["shapes"].count(HELD_OUT) / after["images"],
        "colour": after["colour"],
        "background": after["background"],
        "images": after["images"],
    }
    trained = [judge(pipe, analyzer, grid_prompts(shape), 1) for shape in SHAPES]
    res["trained_shapes"] = {h: float(np.mean([t[h] for t in trained])) for h in ("colour", "background")}
    print(
        f"after:  {TOKEN} read as {HELD_OUT} in {100 * res['after']['moon']:.1f}%; colour right "
        f"{100 * res['after']['colour']:.1f}%, background right {100 * res['after']['background']:.1f}% "
        f"(trained shapes on the same grid: colour {100 * res['trained_shapes']['colour']:.1f}%, "
        f"background {100 * res['trained_shapes']['background']:.1f}%)",
        flush=True,
    )
    shapes = {s: after["shapes"].count(s) for s in dict.fromkeys(after["shapes"])}
    print("after, shapes seen: " + ", ".join(f"{k} {v}" for k, v in sorted(shapes.items(), key=lambda kv: -kv[1])))
    _grid(after["grid"][:: args.seeds], Path(args.out) / "after.png")
    _grid(before["grid"][:: args.seeds], Path(args.out) / "before.png")
    return res


def _grid(images: np.ndarray, path: Path, cols: int = 8) -> None:
    from PIL import Image

    n, h = len(images), images.shape[1]
    rows = -(-n // cols)
    canvas = np.full((rows * (h + 2), cols * (h + 2), 3), 255, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, cols)
        canvas[r * (h + 2) + 1 : r * (h + 2) + 1 + h, c * (h + 2) + 1 : c * (h + 2) + 1 + h] = im
    Image.fromarray(canvas).save(path)


# --- step time: one fresh process per side ------------------------------------------------------------------


def child_genai(images: Path, batch: int, steps: int) -> dict:
    import torch
    from accelerate import Accelerator

    from genai_cli import runtime
    from genai_cli.image import loading
    from genai_cli.invert import data as D
    from genai_cli.invert.train import InvertSettings, Run

    s = InvertSettings(
        images=images,
        token=TOKEN,
        init_word=INIT,
        model="toy",
        out=Path("/nonexistent"),
        batch_size=batch,
        grad_accum=1,
        resolution=32,
        lr=5e-3,
    )
    runtime.setup("cpu", "fp32", None)
    pipe = loading.load_pipeline(loading.locate("toy"), torch.float32)
    run = Run(s, D.load_folder(images, 32), pipe, "toy", Accelerator(cpu=True), torch.float32)
    for k in range(3):  # warm-up
        run.train_step(k)
    t0 = time.perf_counter()
    for k in range(3, 3 + steps):
        run.train_step(k)
    return {"seconds_per_step": (time.perf_counter() - t0) / steps}


def child_reference(images: Path, batch: int, steps: int) -> dict:
    """diffusers' textual_inversion.py training loop as written there (fp32, 1 process). Its dataset uses
    torchvision's RandomHorizontalFlip; torchvision is not a dependency here, so the flip is PIL's
    (the same operation)."""
    import random

    import torch
    import torch.nn.functional as F
    from accelerate import Accelerator
    from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from transformers import CLIPTextModel, CLIPTokenizer

    from genai_cli.image.loading import TOY_PIPELINE
    from genai_cli.invert.data import OBJECT_TEMPLATES

    path = str(TOY_PIPELINE)
    accelerator = Accelerator(cpu=True)
    tokenizer = CLIPTokenizer.from_pretrained(path, subfolder="tokenizer")
    noise_scheduler = DDPMScheduler.from_pretrained(path, subfolder="scheduler")
    text_encoder = CLIPTextModel.from_pretrained(path, subfolder="text_encoder")
    vae = AutoencoderKL.from_pretrained(path, subfolder="vae")
    unet = UNet2DConditionModel.from_pretrained(path, subfolder="unet")
    tokenizer.add_tokens([TOKEN])
    init_id = tokenizer.encode(INIT, add_special_tokens=False)[0]
    placeholder_ids = tokenizer.convert_tokens_to_ids([TOKEN])
    text_encoder.resize_token_embeddings(len(tokenizer))
    token_embeds = text_encoder.get_input_embeddings().weight.data
    with torch.no_grad():
        for tid in placeholder_ids:
            token_embeds[tid] = token_embeds[init_id].clone()
    vae.requires_grad_(False)
    unet.requires_grad_(False)
    for (
        name,
        p,
    ) in text_encoder.named_parameters():  # the script freezes encoder, final norm, positions: all but the table
        p.requires_grad_("token_embedding" in name)
    optimizer = torch.optim.AdamW(
        text_encoder.get_input_embeddings().parameters(), lr=5e-3, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8
    )

    files = sorted(p for p in images.iterdir() if p.suffix == ".png")

    class TIDataset(Dataset):
        def __len__(self):
            return len(files) * 100

        def __getitem__(self, i):
            image = Image.open(files[i % len(files)])
            if image.mode != "RGB":
                image = image.convert("RGB")
            text = random.choice(OBJECT_TEMPLATES).format(TOKEN)
            ids = tokenizer(
                text, padding="max_length", truncation=True, max_length=tokenizer.model_max_length, return_tensors="pt"
            ).input_ids[0]
            img = np.array(image).astype(np.uint8)
            image = Image.fromarray(img).resize((32, 32), resample=Image.Resampling.BICUBIC)
            if random.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            image = (np.array(image).astype(np.uint8) / 127.5 - 1.0).astype(np.float32)
            return {"input_ids": ids, "pixel_values": torch.from_numpy(image).permute(2, 0, 1)}

    loader = DataLoader(TIDataset(), batch_size=batch, shuffle=True, num_workers=0)
    text_encoder, optimizer, loader = accelerator.prepare(text_encoder, optimizer, loader)
    orig = accelerator.unwrap_model(text_encoder).get_input_embeddings().weight.data.clone()
    text_encoder.train()
    times = []
    it = iter(loader)
    for k in range(3 + steps):
        t0 = time.perf_counter()
        b = next(it)
        with accelerator.accumulate(text_encoder):
            latents = vae.encode(b["pixel_values"]).latent_dist.sample().detach() * vae.config.scaling_factor
            noise = torch.randn_like(latents)
            timesteps = torch.randint(0, noise_scheduler.config.num_train_timesteps, (latents.shape[0],)).long()
            noisy = noise_scheduler.add_noise(latents, noise, timesteps)
            hidden = text_encoder(b["input_ids"])[0]
            pred = unet(noisy, timesteps, hidden).sample
            loss = F.mse_loss(pred.float(), noise.float(), reduction="mean")
            accelerator.backward(loss)
            optimizer.step()
            optimizer.zero_grad()
            keep = torch.ones((len(tokenizer),), dtype=torch.bool)
            keep[min(placeholder_ids) : max(placeholder_ids) + 1] = False
            with torch.no_grad():
                accelerator.unwrap_model(text_encoder).get_input_embeddings().weight[keep] = orig[keep]
        if k >= 3:
            times.append(time.perf_counter() - t0)
    return {"seconds_per_step": float(np.sum(times) / steps)}


def peak_rss_mb() -> float:
    """This process's peak resident memory (Linux /proc; elsewhere getrusage)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(kind: str, images: Path, batch: int, steps: int, threads: int) -> dict:
    # peak memory: VmHWM of the child's own address space (ru_maxrss would include the forked parent's pages)
    code = (
        f"import sys, json, torch; torch.set_num_threads({threads});"
        f"from pathlib import Path; import importlib.util as u;"
        f"s = u.spec_from_file_location('genai_bench_invert', {str(Path(__file__).resolve())!r});"
        f"b = u.module_from_spec(s); s.loader.exec_module(b);"
        f"r = b.child_{kind}(Path({str(images)!r}), {batch}, {steps});"
        f"r['peak_rss_mb'] = b.peak_rss_mb(); print(json.dumps(r))"
    )
    p = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"},
    )
    if p.returncode:
        sys.exit(f"{kind} failed:\n{p.stderr[-3000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description="textual inversion on the toy model: quality, time, step speed, memory")
    p.add_argument("--out", default="runs/bench-invert", help="work folder (images, run, grids, results.json)")
    p.add_argument("--seeds", type=int, default=4, help="images per prompt in the before/after grids")
    p.add_argument("--batch", type=int, default=8, help="batch of the step-time comparison (the toy-cpu preset's)")
    p.add_argument("--timing-steps", type=int, default=40, help="timed steps per side (after 3 warm-up steps)")
    p.add_argument("--rounds", type=int, default=2, help="alternating rounds of the step-time comparison")
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--skip-quality", action="store_true", help="only the step-time comparison")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    if (out / "run").exists():
        import shutil

        shutil.rmtree(out / "run")
    images = render_images(out / "images")
    results: dict = {"load_average": os.getloadavg()[0]}
    if not args.skip_quality:
        results.update(quality(args, images))
    rows = {"genai": [], "reference": []}
    for _ in range(args.rounds):  # alternate, so both sides see the same machine load
        for kind in ("reference", "genai"):
            rows[kind].append(run_child(kind, images, args.batch, args.timing_steps, args.threads))
    step = {k: min(r["seconds_per_step"] for r in v) for k, v in rows.items()}
    rss = {k: max(r["peak_rss_mb"] for r in v) for k, v in rows.items()}
    results["step_seconds"] = step
    results["peak_rss_mb"] = rss
    results["step_speedup"] = step["reference"] / step["genai"]
    print(
        f"step time, batch {args.batch} at 32x32, {args.threads} thread(s), best of {args.rounds}: genai "
        f"{1000 * step['genai']:.1f} ms, diffusers' example loop {1000 * step['reference']:.1f} ms -> "
        f"{results['step_speedup']:.2f}x"
    )
    print(f"peak RSS: genai {rss['genai']:.0f} MB, diffusers' example loop {rss['reference']:.0f} MB")
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out / 'results.json'}")
    return results


if __name__ == "__main__":
    main()
