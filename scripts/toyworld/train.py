r"""Train genai's built-in toy-world Stable Diffusion: VAE first, then U-Net + text encoder in latent space.

    .venv/bin/accelerate launch scripts/toyworld/train.py \
        --data runs/toyworld/data-32.safetensors --out runs/toyworld/model
    nice -n 19 .venv/bin/python scripts/toyworld/train.py ...   # the same, without accelerate launch

Phases (each resumable: rerun the same command and it continues from the last checkpoint in --out):
  1. vae     AutoencoderKL, images (B, 3, 32, 32) -> latents (B, 4, 8, 8) -> images; MSE + tiny KL.
  2. latents the whole dataset encoded once (posterior mean and std) + the latent scaling factor.
  3. unet    UNet2DConditionModel + CLIPTextModel trained together on the noise-prediction loss, captions
             dropped PUNCONDITIONAL of the time (classifier-free guidance). The held-out shape's captions
             use the private token <moon>, an added token whose embedding row is the last one.
  4. export  a StableDiffusionPipeline folder (out/pipeline): the private row removed from the text
             encoder and <moon> from the tokenizer; the removed row kept aside in
             out/heldout-embedding.safetensors (textual-inversion format) for checking `genai invert`.

Every random draw is a function of (seed, phase, step), so a resumed run draws what an unbroken one
would. Runs on CPU or GPU unchanged (accelerate picks the device). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from genai_cli.toyworld import dataset as D  # the installed package (pip install -e .)
from genai_cli.toyworld import vocab as V

# --- model sizes (presets are short diffs of "base", nanoGPT style) ------------------------------------------
BASE = dict(
    vae_channels=(32, 64, 64),  # AutoencoderKL block widths; 3 blocks = 2 downsamplings: 32x32 -> 8x8 latents
    vae_layers=1,  # resnets per VAE block
    latent_channels=4,  # as Stable Diffusion
    unet_channels=(64, 128, 128),  # UNet2DConditionModel block widths: 8x8 -> 4x4 -> 2x2 latents
    unet_layers=1,  # resnets per U-Net block
    unet_heads=4,  # attention heads in the cross-attention blocks
    text_width=64,  # CLIPTextModel hidden size = U-Net cross_attention_dim
    text_layers=2,  # transformer layers of the text encoder
    text_heads=4,  # its attention heads
)
PRESETS = {
    "base": {},
    "small": dict(
        vae_channels=(32, 48, 48), unet_channels=(48, 96, 96), text_width=48, text_heads=4
    ),  # ~2x cheaper U-Net
    "tiny": dict(
        vae_channels=(8, 16, 16), unet_channels=(16, 32, 32), unet_heads=2, text_width=16, text_layers=1, text_heads=2
    ),  # tests
}
# --- training ------------------------------------------------------------------------------------------------
SEED = 0  # every random draw follows from it
VAE_STEPS = 800  # VAE optimiser steps (the 2-hour CPU plan in README.md: ~0.8 epoch of 32k images)
VAE_BATCH = 32  # images per VAE step
VAE_LR = 1e-3  # AdamW learning rate (cosine decay after warmup)
KL_WEIGHT = 1e-6  # weight of the KL term (SD's VAE uses ~1e-6: latents stay informative)
UNET_STEPS = 2000  # U-Net + text encoder optimiser steps (the 2-hour CPU plan: size it from measured s/step)
UNET_BATCH = 128  # latents per U-Net step
UNET_LR = 5e-4  # AdamW learning rate
WARMUP = 200  # linear warmup steps (both phases; at most a tenth of the phase)
PUNCONDITIONAL = 0.1  # fraction of captions replaced by "" (classifier-free guidance)
EMA_DECAY = 0.999  # exponential moving average of U-Net + text encoder weights (what is exported)
CHECKPOINT_EVERY = 500  # steps between checkpoints (and on Ctrl-C)
SCHEDULER = dict(
    num_train_timesteps=1000,
    beta_start=0.00085,
    beta_end=0.012,
    beta_schedule="scaled_linear",
    prediction_type="epsilon",
    steps_offset=1,
)  # Stable Diffusion 1.x's noise schedule


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    p.add_argument("--data", type=Path, required=True, help="dataset from make_dataset.py")
    p.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, latents, pipeline/")
    p.add_argument("--preset", choices=sorted(PRESETS), default="base")
    p.add_argument("--vae-steps", type=int, default=VAE_STEPS)
    p.add_argument("--vae-batch", type=int, default=VAE_BATCH)
    p.add_argument("--unet-steps", type=int, default=UNET_STEPS)
    p.add_argument("--unet-batch", type=int, default=UNET_BATCH)
    p.add_argument("--checkpoint-every", type=int, default=CHECKPOINT_EVERY)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads; 1 on a shared machine (2 threads on 2 busy cores ran ~30x slower), "
        "2 on an idle 2-core one, 0 = torch's default",
    )
    p.add_argument(
        "--stop-after",
        type=int,
        default=0,
        help="stop after this many optimiser steps in this invocation, checkpointed (rerun to continue; 0 = no limit)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=0,
        help="stop at the first checkpoint-able step after this many minutes (rerun to continue; 0 = no limit)",
    )
    p.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default="no")
    p.add_argument("--timing", action="store_true", help="print seconds per step of each phase at its end")
    return p.parse_args(argv)


def config_of(preset: str) -> dict:
    return {**BASE, **PRESETS[preset]}


# --- models --------------------------------------------------------------------------------------------------


def make_vae(cfg: dict, size: int):
    from diffusers import AutoencoderKL

    n = len(cfg["vae_channels"])
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg["vae_channels"]),
        layers_per_block=cfg["vae_layers"],
        latent_channels=cfg["latent_channels"],
        norm_num_groups=math.gcd(16, *cfg["vae_channels"]),
        sample_size=size,
    )


def make_unet(cfg: dict, latent_size: int):
    from diffusers import UNet2DConditionModel

    n = len(cfg["unet_channels"])
    return UNet2DConditionModel(
        sample_size=latent_size,
        in_channels=cfg["latent_channels"],
        out_channels=cfg["latent_channels"],
        block_out_channels=tuple(cfg["unet_channels"]),
        layers_per_block=cfg["unet_layers"],
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (n - 1),
        up_block_types=("CrossAttnUpBlock2D",) * (n - 1) + ("UpBlock2D",),
        cross_attention_dim=cfg["text_width"],
        attention_head_dim=cfg["unet_heads"],
        norm_num_groups=math.gcd(32, *cfg["unet_channels"]),
    )  # GroupNorm groups must divide every width


def make_text_encoder(cfg: dict, tokenizer):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=cfg["text_width"],
            intermediate_size=2 * cfg["text_width"],
            num_hidden_layers=cfg["text_layers"],
            num_attention_heads=cfg["text_heads"],
            max_position_embeddings=V.MODEL_MAX_LENGTH,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            projection_dim=cfg["text_width"],
        )
    )


def training_tokenizer(out: Path, sky: bool = False):
    """The shipped vocabulary (with the night sky's words when the data has the sky) + the private token of
    the held-out shape (an added token: the last id)."""
    from transformers import CLIPTokenizer

    V.write_tokenizer(out / "tokenizer-base", V.model_words(sky=sky))
    tok = CLIPTokenizer.from_pretrained(str(out / "tokenizer-base"))
    tok.add_tokens([V.PRIVATE_TOKEN])
    assert tok.convert_tokens_to_ids(V.PRIVATE_TOKEN) == len(tok) - 1
    return tok


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


# --- checkpoints (safetensors for weights; optimiser state loaded with weights_only=True) ---------------------


def save_checkpoint(folder: Path, step: int, models: dict, optimizer, ema=None) -> None:
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name, m in models.items():
        save_file(
            {k: v.detach().cpu().contiguous() for k, v in m.state_dict().items()}, str(tmp / f"{name}.safetensors")
        )
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    if ema is not None:
        torch.save(ema.state_dict(), tmp / "ema.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step}))
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def load_checkpoint(folder: Path, models: dict, optimizer, ema=None) -> int:
    from safetensors.torch import load_file

    if not (folder / "state.json").exists():
        return 0
    for name, m in models.items():
        m.load_state_dict(load_file(str(folder / f"{name}.safetensors")))
    optimizer.load_state_dict(torch.load(folder / "optimizer.pt", weights_only=True))
    if ema is not None:
        ema.load_state_dict(torch.load(folder / "ema.pt", weights_only=True))
    return json.loads((folder / "state.json").read_text())["step"]


def lr_lambda(total: int):
    warmup = max(1, min(WARMUP, total // 10))  # short runs warm up for a tenth of their steps
    return lambda step: min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(step, total) / max(total, 1)))


def step_rng(seed: int, phase: int, step: int) -> tuple[np.random.Generator, torch.Generator]:
    """The random streams of one step: a pure function of (seed, phase, step), so resuming is exact."""
    ss = np.random.SeedSequence([seed, phase, step])
    return np.random.default_rng(ss), torch.Generator().manual_seed(int(ss.generate_state(1)[0]))


class Budget:
    """--stop-after / --max-minutes: when to stop this invocation (a checkpoint is written first)."""

    def __init__(self, steps: int, minutes: float):
        self.steps, self.seconds, self.start, self.done = steps, minutes * 60, time.time(), 0

    def spent(self) -> bool:
        self.done += 1
        return bool(
            (self.steps and self.done >= self.steps) or (self.seconds and time.time() - self.start >= self.seconds)
        )


class Stopped(Exception):
    """The budget of this invocation is spent; the run continues when the command is run again."""


def progress(total: int, start: int, desc: str, accelerator):
    from tqdm.auto import tqdm

    return tqdm(
        total=total, initial=start, desc=desc, disable=not accelerator.is_local_main_process, dynamic_ncols=True
    )


# --- phase 1: VAE --------------------------------------------------------------------------------------------


class VAELoss(torch.nn.Module):
    """The VAE and its loss in one forward(), so accelerate/DDP see one module call per step."""

    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, x: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        post = self.vae.encode(x).latent_dist  # mean, std: (B, 4, H/4, W/4)
        recon = self.vae.decode(post.mean + post.std * eps).sample  # (B, 3, H, W)
        return torch.nn.functional.mse_loss(recon, x) + KL_WEIGHT * post.kl().mean()


def train_vae(args, cfg, ds: D.Dataset, accelerator, timings: dict):
    vae = make_vae(cfg, ds.images.shape[1])
    opt = torch.optim.AdamW(vae.parameters(), lr=VAE_LR, weight_decay=0.0)
    ckpt = args.out / "checkpoints" / "vae"
    step = load_checkpoint(ckpt, {"vae": vae}, opt)
    if 0 < step < args.vae_steps:
        accelerator.print(f"vae: resuming at step {step}")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(args.vae_steps))
    for _ in range(step):
        sched.step()
    if step >= args.vae_steps:
        return vae
    model, opt = accelerator.prepare(VAELoss(vae), opt)
    accelerator.print(f"vae: {n_params(vae) / 1e6:.2f}M parameters, {args.vae_steps} steps of {args.vae_batch}")
    lc, h = cfg["latent_channels"], ds.images.shape[1] // 2 ** (len(cfg["vae_channels"]) - 1)  # latent channels, side
    bar = progress(args.vae_steps, step, "vae", accelerator)
    t0, s0 = time.time(), step
    try:
        while step < args.vae_steps:
            rng, gen = step_rng(args.seed, 1, step)
            idx = rng.integers(0, len(ds), args.vae_batch)
            x = torch.from_numpy(ds.images[idx]).permute(0, 3, 1, 2).float().div(127.5).sub(1)  # (B, 3, H, W) in -1..1
            eps = torch.randn((len(idx), lc, h, h), generator=gen)  # (B, 4, H/4, W/4)
            loss = model(x.to(accelerator.device), eps.to(accelerator.device))
            accelerator.backward(loss)
            opt.step()
            sched.step()
            opt.zero_grad()
            step += 1
            if step == s0 + 1:
                t0 = time.time()  # time from the 2nd step on: the first one pays for lazy initialisation
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if step % args.checkpoint_every == 0 or step == args.vae_steps:
                save_checkpoint(ckpt, step, {"vae": vae}, opt)
            if args.budget.spent() and step < args.vae_steps:
                save_checkpoint(ckpt, step, {"vae": vae}, opt)
                bar.close()
                if step > s0 + 1:
                    timings["vae_s_per_step"] = (time.time() - t0) / (step - s0 - 1)
                raise Stopped(f"vae: stopped at step {step} of {args.vae_steps}")
    except KeyboardInterrupt:
        save_checkpoint(ckpt, step, {"vae": vae}, opt)
        raise
    bar.close()
    if step > s0 + 1:
        timings["vae_s_per_step"] = (time.time() - t0) / (step - s0 - 1)
    return vae


# --- phase 2: latents ----------------------------------------------------------------------------------------


def vae_check(vae, size: int, per_scene: int = 2, sky: bool = False) -> dict:
    """The analyzer's accuracy on fresh renders after a VAE round trip: the ceiling for generation.
    sky=True (and the sky analyzer trained): also the sky family and colour on fresh sky renders."""
    from genai_cli.toyworld import analyzer as A

    sky = sky and A.SKY_PATH.is_file()
    fresh = D.build(
        per_scene, size, seed=12345, sky_per_scene=5 * per_scene if sky else 0
    )  # a seed the dataset does not use
    dev = next(vae.parameters()).device
    out = []
    vae.eval()
    with torch.no_grad():
        for i in range(0, len(fresh), 128):
            x = torch.from_numpy(fresh.images[i : i + 128]).permute(0, 3, 1, 2).float().div(127.5).sub(1).to(dev)
            y = vae.decode(vae.encode(x).latent_dist.mean).sample  # (B, 3, H, W)
            out.append(((y.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy())
    pred = A.load(A.SKY_PATH if sky else None).predict(np.concatenate(out))
    shapes = fresh.shape >= 0
    check = {
        h: round(float((pred[h] == getattr(fresh, h))[shapes].mean()), 4) for h in ("shape", "colour", "background")
    }
    if sky:
        rows = fresh.family > 0
        check.update(
            {h: round(float((pred[h] == getattr(fresh, h))[rows].mean()), 4) for h in ("family", "sky_colour")}
        )
    return check


def encode_dataset(args, vae, ds: D.Dataset, accelerator) -> dict:
    from safetensors.torch import load_file, save_file

    path = args.out / "latents.safetensors"
    if path.exists():
        return load_file(str(path))
    check = vae_check(vae, ds.images.shape[1], sky=ds.has_sky)
    accelerator.print(f"vae check (analyzer on VAE round trips of fresh renders): {check}")
    (args.out / "vae-check.json").write_text(json.dumps(check) + "\n")
    vae.eval()
    means, stds = [], []
    with torch.no_grad():
        for i in range(0, len(ds), 256):
            x = (
                torch.from_numpy(ds.images[i : i + 256])
                .permute(0, 3, 1, 2)
                .float()
                .div(127.5)
                .sub(1)
                .to(accelerator.device)
            )
            post = vae.encode(x).latent_dist
            means.append(post.mean.cpu())
            stds.append(post.std.cpu())
    mean, std = torch.cat(means), torch.cat(stds)  # (N, 4, h, w) each
    scaling = torch.tensor(1.0 / mean.std().item())  # latents * scaling have unit variance (SD: 0.18215)
    t = {"mean": mean.contiguous(), "std": std.contiguous(), "scaling_factor": scaling}
    tmp = path.with_name(path.name + ".tmp")
    save_file(t, str(tmp))
    os.replace(tmp, path)
    accelerator.print(f"latents: {tuple(mean.shape)}, scaling factor {scaling.item():.4f}")
    return t


# --- phase 3: U-Net + text encoder ---------------------------------------------------------------------------


def train_unet(args, cfg, ds: D.Dataset, lat: dict, tokenizer, accelerator, timings: dict):
    from diffusers import DDPMScheduler
    from diffusers.training_utils import EMAModel

    latent_size = lat["mean"].shape[-1]
    unet = make_unet(cfg, latent_size)
    text = make_text_encoder(cfg, tokenizer)
    params = list(unet.parameters()) + list(text.parameters())
    opt = torch.optim.AdamW(params, lr=UNET_LR, weight_decay=1e-2)
    ema = EMAModel(params, decay=EMA_DECAY, use_ema_warmup=True, power=2 / 3)  # decay ramps up: short runs stay fresh
    ckpt = args.out / "checkpoints" / "unet"
    step = load_checkpoint(ckpt, {"unet": unet, "text_encoder": text}, opt, ema)
    if 0 < step < args.unet_steps:
        accelerator.print(f"unet: resuming at step {step}")
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(args.unet_steps))
    for _ in range(step):
        sched.step()
    noise_sched = DDPMScheduler(**SCHEDULER)
    captions = ds.captions(held_out_token=V.PRIVATE_TOKEN)
    ids = torch.tensor(
        tokenizer(captions, padding="max_length", max_length=V.MODEL_MAX_LENGTH, truncation=True).input_ids
    )  # (N, 16)
    empty = torch.tensor(tokenizer([""], padding="max_length", max_length=V.MODEL_MAX_LENGTH).input_ids)  # (1, 16)
    scaling = float(lat["scaling_factor"])
    unet, text, opt = accelerator.prepare(unet, text, opt)
    ema.to(accelerator.device)
    accelerator.print(
        f"unet: {n_params(unet) / 1e6:.2f}M + text encoder {n_params(text) / 1e6:.2f}M parameters, "
        f"latents {cfg['latent_channels']}x{latent_size}x{latent_size}, {args.unet_steps} steps of {args.unet_batch}"
    )
    bar = progress(args.unet_steps, step, "unet", accelerator)
    t0, s0 = time.time(), step
    try:
        while step < args.unet_steps:
            rng, gen = step_rng(args.seed, 3, step)
            idx = torch.from_numpy(rng.integers(0, len(ds), args.unet_batch))
            drop = torch.from_numpy(rng.random(args.unet_batch) < PUNCONDITIONAL)
            tok = torch.where(drop[:, None], empty, ids[idx]).to(accelerator.device)  # (B, 16)
            z0 = (
                lat["mean"][idx] + lat["std"][idx] * torch.randn(lat["mean"][idx].shape, generator=gen)
            ) * scaling  # (B, 4, h, w)
            noise = torch.randn(z0.shape, generator=gen)
            t = torch.randint(0, noise_sched.config.num_train_timesteps, (len(idx),), generator=gen)
            zt = noise_sched.add_noise(z0, noise, t)
            with accelerator.autocast():
                cond = text(tok)[0]  # (B, 16, text_width)
                pred = unet(zt.to(accelerator.device), t.to(accelerator.device), encoder_hidden_states=cond).sample
                loss = torch.nn.functional.mse_loss(pred.float(), noise.to(accelerator.device))
            accelerator.backward(loss)
            opt.step()
            sched.step()
            opt.zero_grad()
            ema.step(params)
            step += 1
            if step == s0 + 1:
                t0 = time.time()  # time from the 2nd step on: the first one pays for lazy initialisation
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.4f}")
            if step % args.checkpoint_every == 0 or step == args.unet_steps:
                save_checkpoint(
                    ckpt,
                    step,
                    {"unet": accelerator.unwrap_model(unet), "text_encoder": accelerator.unwrap_model(text)},
                    opt,
                    ema,
                )
            if args.budget.spent() and step < args.unet_steps:
                save_checkpoint(
                    ckpt,
                    step,
                    {"unet": accelerator.unwrap_model(unet), "text_encoder": accelerator.unwrap_model(text)},
                    opt,
                    ema,
                )
                bar.close()
                if step > s0 + 1:
                    timings["unet_s_per_step"] = (time.time() - t0) / (step - s0 - 1)
                raise Stopped(f"unet: stopped at step {step} of {args.unet_steps}")
    except KeyboardInterrupt:
        save_checkpoint(
            ckpt,
            step,
            {"unet": accelerator.unwrap_model(unet), "text_encoder": accelerator.unwrap_model(text)},
            opt,
            ema,
        )
        raise
    bar.close()
    if step > s0 + 1:
        timings["unet_s_per_step"] = (time.time() - t0) / (step - s0 - 1)
    unet, text = accelerator.unwrap_model(unet), accelerator.unwrap_model(text)
    ema.copy_to(params)  # export the averaged weights
    return unet, text


# --- phase 4: export -----------------------------------------------------------------------------------------


def export(args, cfg, vae, unet, text, tokenizer, lat: dict, recipe: dict) -> Path:
    from diffusers import DPMSolverMultistepScheduler, StableDiffusionPipeline
    from safetensors.torch import save_file
    from transformers import CLIPTokenizer

    private_id = tokenizer.convert_tokens_to_ids(V.PRIVATE_TOKEN)
    row = text.get_input_embeddings().weight[private_id].detach().clone()
    save_file(
        {V.PRIVATE_TOKEN: row[None].contiguous()},
        str(args.out / "heldout-embedding.safetensors"),
        metadata={"genai.note": "the held-out shape's embedding row, removed from the shipped text encoder"},
    )
    base = CLIPTokenizer.from_pretrained(str(args.out / "tokenizer-base"))
    assert private_id == len(base)  # the last row: removing it shifts no other id
    text.resize_token_embeddings(len(base))
    vae.register_to_config(scaling_factor=float(lat["scaling_factor"]))
    scheduler = DPMSolverMultistepScheduler(**SCHEDULER)
    pipe = StableDiffusionPipeline(
        vae=vae.eval(),
        text_encoder=text.eval(),
        tokenizer=base,
        unet=unet.eval(),
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    out = args.out / "pipeline"
    tmp = args.out / "pipeline.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(str(tmp), safe_serialization=True)
    (tmp / "genai_recipe.json").write_text(json.dumps(recipe, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def main(argv=None) -> Path | None:
    """Train (or continue) and export -> the pipeline folder; None when --stop-after/--max-minutes stopped it."""
    args = parse_args(argv)
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    if args.threads:
        torch.set_num_threads(args.threads)
    accelerator = Accelerator(mixed_precision=args.mixed_precision)
    set_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = config_of(args.preset)
    ds = D.load(args.data)
    accelerator.print(f"data: {len(ds)} images {ds.images.shape[1]}x{ds.images.shape[2]} on {accelerator.device}")
    tokenizer = training_tokenizer(args.out, sky=ds.has_sky)
    timings: dict = {}
    args.budget = Budget(args.stop_after, args.max_minutes)
    try:
        vae = train_vae(args, cfg, ds, accelerator, timings)
        lat = encode_dataset(args, vae, ds, accelerator)
        unet, text = train_unet(args, cfg, ds, lat, tokenizer, accelerator, timings)
    except Stopped as e:
        accelerator.print(f"{e}; checkpoint saved: run the same command again to continue")
        if args.timing:
            accelerator.print("timing " + json.dumps({k: round(v, 4) for k, v in timings.items()}))
        return None
    recipe = {
        "script": "scripts/toyworld/train.py",
        "argv": sys.argv[1:] if argv is None else list(argv),
        "config": cfg,
        "seed": args.seed,
        "vae_steps": args.vae_steps,
        "unet_steps": args.unet_steps,
        "vae_batch": args.vae_batch,
        "unet_batch": args.unet_batch,
        "data": json.loads(ds.meta["genai.recipe"]),
        "held_out": V.PRIVATE_TOKEN,
        "torch": torch.__version__,
    }
    path = (
        export(args, cfg, vae, unet, text, tokenizer, lat, recipe)
        if accelerator.is_main_process
        else args.out / "pipeline"
    )
    if args.timing:
        accelerator.print("timing " + json.dumps({k: round(v, 4) for k, v in timings.items()}))
    accelerator.print(f"wrote {path}")
    return path


if __name__ == "__main__":
    main()
