"""The textual-inversion training loop: only the new token's vectors learn. (The settings and their checks are
settings.py's, the checkpoint files and the resume fingerprint checkpoint.py's.)

    images --VAE (once)--> latents                      (N, 2 flips, 4, R/8, R/8): mean and std, cached
    caption "a photo of a <tok>" --text encoder--> (L, dim), the <tok> rows read from `NewTokens.vectors`
    noise the latents at a random timestep; the frozen U-Net predicts the noise; MSE; backprop to the vectors

Differences from diffusers' examples/textual_inversion/textual_inversion.py, each for speed or safety:
* the VAE encodes each image (and its mirror image) once, not every step; the posterior is
  sampled per step from the cached mean and std, as `latent_dist.sample()` would;
* the token table is never resized or written during training: a small module (`NewTokens`) looks
  up the new ids in a separate (num_vectors, dim) parameter, so the optimiser holds 1-16 rows instead
  of the whole table, and the frozen rows are untouched by construction (not restored after each step);
* every random draw of a step is a function of (seed, step, micro-batch, process), so a resumed run
  draws exactly what an uninterrupted one would.

accelerate owns device, mixed precision (U-Net and VAE in fp16/bf16 on a GPU, the vectors and the
text encoder in fp32), gradient accumulation and data parallelism (DDP: the vectors' gradient is
averaged over processes, so every process holds the same vectors).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from genai_cli import __version__, config
from genai_cli.errors import GenaiError, UsageError
from genai_cli.invert import checkpoint as C
from genai_cli.invert import data as D
from genai_cli.invert import embeddings as E
from genai_cli.invert.checkpoint import CHECKPOINT
from genai_cli.invert.settings import InvertSettings, Words, check_model, check_settings, check_words

EXPLODE_FACTOR = 25.0  # a loss this many times the recent median (and above EXPLODE_FLOOR) stops the run
EXPLODE_FLOOR = 5.0  # an epsilon-prediction MSE above this is far off: pure noise scores about 1
RECENT = 50  # steps in the median the explode check compares with


@dataclass
class InvertResult:
    out: Path
    embedding: Path  # learned_embeds.safetensors
    a1111: Path | None
    token: str
    steps: int  # optimiser steps done in all (resumed runs included)
    first_step: int  # where this invocation started (0, or the checkpoint's step)
    seconds: float
    seconds_per_step: float
    final_loss: float | None  # mean loss of the last min(50, steps) steps of this invocation (None: no step ran)
    processes: int
    validation: list[Path] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)


class Diverged(GenaiError):
    """The loss became NaN/inf or exploded; the last good embedding was kept."""


class NewTokens(torch.nn.Module):
    """The text encoder's token table plus `n` trainable rows for the new token ids first_id .. first_id+n-1.

    The table itself is frozen and never written; ids past its end are served from `vectors`.
    """

    def __init__(self, table: torch.nn.Embedding, first_id: int, init: torch.Tensor):
        super().__init__()
        self.table = table
        self.first_id = first_id
        self.vectors = torch.nn.Parameter(init.detach().clone().float())  # (n, dim), fp32 in every precision

    def forward(self, ids: torch.Tensor) -> torch.Tensor:  # (B, L) -> (B, L, dim)
        n = self.vectors.shape[0]
        base = self.table(ids.clamp(max=self.table.num_embeddings - 1))
        offset = ids - self.first_id
        new = (offset >= 0) & (offset < n)
        picked = self.vectors[offset.clamp(0, n - 1)].to(base.dtype)
        return torch.where(new[..., None], picked, base)


def step_rng(seed: int, step: int, micro: int, rank: int) -> tuple[np.random.Generator, torch.Generator]:
    """The random streams of one micro-batch: a pure function of its place in the run."""
    ss = np.random.SeedSequence([seed, step, micro, rank])
    return np.random.default_rng(ss), torch.Generator().manual_seed(int(ss.generate_state(1)[0]))


def sample_items(seed: int, n_images: int, repeats: int, first: int, count: int) -> np.ndarray:
    """Items first .. first+count-1 of the run's stream: epochs of (images x repeats) in a shuffled order."""
    epoch_len = n_images * repeats
    out = np.empty(count, dtype=np.int64)
    for i in range(count):
        q = first + i
        epoch, pos = divmod(q, epoch_len)
        out[i] = _epoch_order(seed, epoch_len, epoch)[pos] % n_images
    return out


@lru_cache(maxsize=2)
def _epoch_order(seed: int, epoch_len: int, epoch: int) -> np.ndarray:
    """The shuffled order of one epoch (at most MAX_IMAGES x MAX_REPEATS = 1e6 items: 8 MB), kept for the next call."""
    order = np.random.default_rng([seed, 1_000_003, epoch]).permutation(epoch_len)
    order.setflags(write=False)  # shared between calls
    return order


def diffusion_loss(unet, noise_scheduler, latents, noise, timesteps, hidden) -> torch.Tensor:
    """MSE between the U-Net's prediction and its target (epsilon or v), in fp32."""
    noisy = noise_scheduler.add_noise(latents, noise, timesteps)
    pred = unet(noisy, timesteps, hidden).sample
    if noise_scheduler.config.prediction_type == "v_prediction":
        target = noise_scheduler.get_velocity(latents, noise, timesteps)
    else:
        target = noise
    return torch.nn.functional.mse_loss(pred.float(), target.float())


class Run:
    """One invocation: the loaded model with the new token, the cached latents, optimiser, accelerator."""

    def __init__(
        self,
        s: InvertSettings,
        folder: D.ImageFolder,
        pipe: Any,
        model_label: str,
        accelerator: Any,
        weight_dtype: torch.dtype,
    ):
        from diffusers import DDPMScheduler

        self.s, self.folder, self.pipe, self.acc = s, folder, pipe, accelerator
        self.model_label = model_label
        self.weight_dtype = weight_dtype
        tok, te = pipe.tokenizer, pipe.text_encoder
        self.placeholders = [s.token] + [f"{s.token}_{i}" for i in range(1, s.num_vectors)]
        # checked before the weights loaded where the model's tokenizer could be read alone (settings.check_model)
        init_id = check_words(Words.of(tok, te.config.max_position_embeddings), s.token, s.init_word, s.num_vectors)
        table = te.get_input_embeddings()
        tok.add_tokens(self.placeholders)
        ids = tok.convert_tokens_to_ids(self.placeholders)
        if ids != list(range(ids[0], ids[0] + len(ids))):
            raise GenaiError(f"the tokenizer gave the new tokens non-consecutive ids {ids}")
        init = table.weight[init_id].detach().float()[None].repeat(s.num_vectors, 1)  # (n, dim)
        te.requires_grad_(False)
        pipe.unet.requires_grad_(False)
        pipe.vae.requires_grad_(False)
        if (
            s.gradient_checkpointing
        ):  # as diffusers' example: activations recomputed in backward, the U-Net in train mode
            pipe.unet.train()
            pipe.unet.enable_gradient_checkpointing()
        if getattr(pipe, "safety_checker", None) is not None:
            # validation runs without it, as diffusers' example does: the checker would stay on the cpu while the
            # pipeline's execution device is the GPU (a device mismatch at the first validation)
            pipe.register_modules(safety_checker=None)
        self.new = NewTokens(table, ids[0], init)
        te.set_input_embeddings(self.new)  # the pipeline now knows the token too
        self.token_string = " ".join(self.placeholders)  # what {} becomes in a caption
        self.noise_scheduler = DDPMScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)  # validation grids: our own progress is on stderr
        device = accelerator.device
        pipe.unet.to(device, dtype=weight_dtype)
        pipe.vae.to(device, dtype=weight_dtype)
        te.to(device)  # fp32; autocast runs its matmuls in the mixed precision
        self.captions, self.caption_ids = self._captions()
        self.mean, self.std = self._encode_images()
        self.optimizer = torch.optim.AdamW([self.new.vectors], lr=s.lr, betas=(0.9, 0.999), weight_decay=1e-2, eps=1e-8)
        self.text_encoder, self.optimizer = accelerator.prepare(te, self.optimizer)

    # --- data ---------------------------------------------------------------------------------------

    def _captions(self) -> tuple[list[str], torch.Tensor]:
        """Every caption the run can use (templates, then each image's sidecar), tokenized once -> (C, L) ids."""
        templates = D.TEMPLATES[self.s.property]
        texts = [t.format(self.token_string) for t in templates]
        texts += [ex.caption.format(self.token_string) for ex in self.folder.examples if ex.caption]
        tok = self.pipe.tokenizer
        ids = tok(
            texts, padding="max_length", truncation=True, max_length=tok.model_max_length, return_tensors="pt"
        ).input_ids
        return texts, ids.to(self.acc.device)

    def caption_choices(self, image: int, rng: np.random.Generator) -> int:
        """Index into self.captions for one example of image `image`."""
        n_templates = len(D.TEMPLATES[self.s.property])
        ex = self.folder.examples[image]
        if ex.caption:
            return n_templates + [e for e in self.folder.examples if e.caption].index(ex)
        return int(rng.integers(n_templates))

    @torch.no_grad()
    def _encode_images(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The VAE posterior of every image and its mirror image -> mean, std: (N, 2, 4, r, r) fp32."""
        vae = self.pipe.vae
        pixels = torch.from_numpy(np.stack([ex.pixels for ex in self.folder.examples]))  # (N, 3, R, R)
        both = torch.stack([pixels, pixels.flip(-1)], 1).flatten(0, 1)  # (2N, 3, R, R): image, mirror, ...
        means, stds = [], []
        for chunk in both.split(8):
            post = vae.encode(chunk.to(self.acc.device, dtype=self.weight_dtype)).latent_dist
            means.append(post.mean.float())
            stds.append(post.std.float())
        mean, std = torch.cat(means), torch.cat(stds)
        return mean.unflatten(0, (-1, 2)), std.unflatten(0, (-1, 2))

    def micro_batch(self, step: int, micro: int) -> tuple[torch.Tensor, ...]:
        s, rank, procs = self.s, self.acc.process_index, self.acc.num_processes
        rng, gen = step_rng(s.seed, step, micro, rank)
        first = ((step * s.grad_accum + micro) * procs + rank) * s.batch_size
        items = sample_items(s.seed, len(self.folder.examples), s.repeats, first, s.batch_size)
        flips = (rng.random(s.batch_size) < s.flip).astype(np.int64)
        captions = [self.caption_choices(int(i), rng) for i in items]
        idx, fl = torch.from_numpy(items), torch.from_numpy(flips)
        mean, std = self.mean[idx, fl], self.std[idx, fl]  # (B, 4, r, r)
        eps = torch.randn(mean.shape, generator=gen).to(mean.device)
        latents = (mean + std * eps) * self.pipe.vae.config.scaling_factor
        noise = torch.randn(latents.shape, generator=gen).to(latents.device)
        T = self.noise_scheduler.config.num_train_timesteps
        timesteps = torch.randint(0, T, (s.batch_size,), generator=gen).to(latents.device)
        return latents.to(self.weight_dtype), noise.to(self.weight_dtype), timesteps, self.caption_ids[captions]

    # --- one optimiser step ----------------------------------------------------------------------------

    def train_step(self, step: int) -> float:
        """grad_accum micro-batches, one AdamW update of the vectors -> the mean loss. Diverged on NaN/explosion."""
        total = 0.0
        for micro in range(self.s.grad_accum):
            latents, noise, timesteps, ids = self.micro_batch(step, micro)
            with self.acc.accumulate(self.text_encoder):
                with self.acc.autocast():
                    hidden = self.text_encoder(ids)[0].to(self.weight_dtype)  # (B, L, dim)
                    loss = diffusion_loss(self.pipe.unet, self.noise_scheduler, latents, noise, timesteps, hidden)
                bad = torch.tensor([0.0 if torch.isfinite(loss) else 1.0], device=self.acc.device)
                if (
                    self.acc.num_processes > 1
                ):  # decided together: one rank raising alone would leave the others in backward's all-reduce
                    bad = self.acc.reduce(bad, reduction="sum")
                if bad.item() > 0:
                    shown = loss.item() if not torch.isfinite(loss) else "NaN/inf on another process"
                    raise Diverged(f"the loss became {shown} at step {step + 1}")
                self.acc.backward(loss)
                self.optimizer.step()
                self.optimizer.zero_grad()
            total += loss.item()
        if self.acc.num_processes > 1:  # the mean over processes: the explode check then stops every rank alike
            total = float(self.acc.reduce(torch.tensor([total], device=self.acc.device), reduction="mean").item())
        if not torch.isfinite(self.new.vectors).all():
            raise Diverged(f"the embedding became NaN/inf at step {step + 1}")
        return total / self.s.grad_accum

    def vectors(self) -> torch.Tensor:
        return self.new.vectors.detach().float().cpu().clone()  # (n, dim)

    # --- checkpoints -------------------------------------------------------------------------------------

    def fingerprint(self) -> dict[str, Any]:
        return C.fingerprint(self.s, self.model_label, self.acc.num_processes, C.images_fingerprint(self.folder))

    def save_checkpoint(self, step: int, vectors: torch.Tensor, optimizer_state: dict | None) -> None:
        """A new checkpoint in OUT (main process), swapped in crash-safely: see checkpoint.py."""
        if self.acc.is_main_process:
            C.save(self.s.out, step, vectors, optimizer_state, self.fingerprint(), __version__)

    def load_checkpoint(self) -> int:
        """Vectors and optimiser state from the newest complete checkpoint -> its step."""
        C.compare(self.s.out, self.fingerprint())
        folder, state = C.find(self.s.out)
        vectors, optimizer_state = C.load(folder, state, tuple(self.new.vectors.shape))
        with torch.no_grad():
            self.new.vectors.copy_(vectors)
        if optimizer_state is not None:
            try:
                self.optimizer.load_state_dict(optimizer_state)
            except (ValueError, KeyError, TypeError, IndexError, RuntimeError) as e:
                raise UsageError(
                    f"checkpoint file {folder / C.OPTIMIZER} does not fit this run ({str(e).splitlines()[0][:100]})"
                ) from None
        if state["step"] > config.limits("invert", "steps")[1]:
            raise UsageError(f"checkpoint file {folder / C.STATE}: step {state['step']} is past the limit")
        return int(state["step"])

    # --- outputs -------------------------------------------------------------------------------------------

    def metadata(self, step: int) -> dict[str, str]:
        s = self.s
        return {
            "genai.version": __version__,
            "genai.base_model": self.model_label,
            "genai.token": s.token,
            "genai.init_word": s.init_word,
            "genai.steps": str(step),
            "genai.num_vectors": str(s.num_vectors),
            "genai.resolution": str(s.resolution),
            "genai.property": s.property,
            "genai.lr": repr(s.lr),
            "genai.batch": f"{s.batch_size}x{s.grad_accum}x{self.acc.num_processes}",
            "genai.seed": str(s.seed),
        }

    def write_embedding(self, path: Path, step: int, vectors: torch.Tensor) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)  # the output folder appears with its first file
        return E.save_diffusers(path, self.s.token, vectors, self.metadata(step))

    @torch.no_grad()
    def validate(self, step: int) -> Path:
        """A grid of validation_n images of the validation prompt (seeds seed .. seed+n-1) -> its path."""
        from PIL import Image

        from genai_cli.files import publish, temp_path

        s = self.s
        prompt = s.validation_prompt.format(s.token)
        gens = [torch.Generator().manual_seed(s.seed + i) for i in range(s.validation_n)]
        with self.acc.autocast():  # U-Net in fp16/bf16, text encoder in fp32 on a GPU
            images = self.pipe(
                prompt,
                num_inference_steps=s.validation_steps,
                generator=gens,
                num_images_per_prompt=s.validation_n,
                output_type="pil",
            ).images
        w, h = images[0].size
        cols = min(len(images), 4)
        rows = math.ceil(len(images) / cols)
        grid = Image.new("RGB", (cols * w, rows * h))
        for i, im in enumerate(images):
            grid.paste(im, ((i % cols) * w, (i // cols) * h))
        folder = s.out / "validation"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"step-{step:06d}.png"
        tmp = temp_path(path)
        grid.save(tmp, format="PNG")
        return publish(tmp, path, force=True)


def invert(s: InvertSettings, runtime: Any, **kwargs: Any) -> InvertResult:
    """_invert, with a CUDA/MPS out-of-memory error turned into one line naming the settings that lower memory."""
    from genai_cli.runtime import OOM_HINT, oom_error, out_of_memory

    try:
        return _invert(s, runtime, **kwargs)
    except RuntimeError as e:  # torch.cuda.OutOfMemoryError is one; MPS raises a plain RuntimeError
        if not out_of_memory(e):
            raise
        raise oom_error(
            e, runtime.device, OOM_HINT + ", or set invert.gradient_checkpointing: true (a --config file)"
        ) from None


def _invert(
    s: InvertSettings,
    runtime: Any,
    *,
    folder: D.ImageFolder | None = None,
    source: Any = None,
    on_start: Callable[[int, int], None] | None = None,
    on_step: Callable[[int, float], None] | None = None,
    on_file: Callable[[str, Path], None] | None = None,
) -> InvertResult:
    """Learn `s.token` from the images in `s.images` (or the already read `folder`) -> InvertResult
    (files are written as it goes).

    `source` is the located model (image.loading.locate) of settings that check_settings and check_model have
    passed, as the command does before it reads the images; without it, both run here (a library caller).
    on_start(first_step, steps) once the model is loaded; on_step(step_done, loss) after each optimiser
    step; on_file(kind, path) for each snapshot, validation grid and checkpoint.
    """
    from accelerate import Accelerator

    from genai_cli.image import loading

    if source is None:
        s = check_settings(s)
        source = loading.locate(s.model)
        check_model(s, source)  # the words, --num-vectors and --resolution against the model's tokenizer and configs
    mixed = {"fp32": "no", "fp16": "fp16", "bf16": "bf16"}[runtime.precision]
    from genai_cli import distributed
    from genai_cli.runtime import reset_accelerate_state, same_device, use_device

    if not distributed.launched():
        # accelerate keeps its state (mixed precision included) for the life of the process; a second run in the
        # same process (a notebook, the tests) may ask for another precision. One process: nothing else shares it.
        reset_accelerate_state()
    use_device(runtime.device)  # --device cuda:1: accelerate's one-process "cuda" is then cuda:1
    acc = Accelerator(gradient_accumulation_steps=s.grad_accum, mixed_precision=mixed, cpu=runtime.device.type == "cpu")
    if not same_device(acc.device, runtime.device):
        raise GenaiError(
            f"accelerate chose {acc.device}, but {runtime.device} was asked for",
            hint="under torchrun / accelerate launch, let the launcher pick the devices (--device auto)",
        )
    if s.resume:  # what can be compared before the weights load (the images, and a resolution left to the model, later)
        C.compare(s.out, C.fingerprint(s, source.label, acc.num_processes))
    pipe = loading.load_pipeline(source, torch.float32, s.single_file_config)
    native, smallest, largest = loading.pipeline_size_limits(pipe)
    s.resolution = s.resolution or native
    if not smallest <= s.resolution <= largest:
        raise UsageError(f"--resolution {s.resolution}: this model works between {smallest} and {largest} pixels")
    folder = (folder or D.load_folder(s.images)).fit(s.resolution)
    run = Run(s, folder, pipe, source.label, acc, runtime.dtype if mixed != "no" else torch.float32)
    first = run.load_checkpoint() if s.resume else 0
    if first > s.steps:
        raise UsageError(
            f"--steps {s.steps}: the run in {s.out} is already at step {first}",
            hint=f"give --steps above {first} to train further",
        )
    if on_start:
        on_start(first, s.steps)
    result = InvertResult(
        out=s.out,
        embedding=s.out / E.DIFFUSERS_NAME,
        a1111=None,
        token=s.token,
        steps=first,
        first_step=first,
        seconds=0.0,
        seconds_per_step=0.0,
        final_loss=None,
        processes=acc.num_processes,
    )
    losses: list[float] = []
    good = run.vectors()  # the last embedding known to be good
    step = first
    t0 = time.perf_counter()
    try:
        while step < s.steps:
            loss = run.train_step(step)
            recent = losses[-RECENT:]
            if len(recent) >= 10 and loss > max(EXPLODE_FACTOR * float(np.median(recent)), EXPLODE_FLOOR):
                raise Diverged(
                    f"the loss exploded at step {step + 1} ({loss:.3g} against a recent median of "
                    f"{float(np.median(recent)):.3g})"
                )
            step += 1
            losses.append(loss)
            good = run.vectors()
            if on_step:
                on_step(step, loss)
            if acc.is_main_process:
                if s.save_every and step % s.save_every == 0 and step < s.steps:
                    p = run.write_embedding(s.out / f"learned_embeds-steps-{step}.safetensors", step, good)
                    result.snapshots.append(p)
                    on_file and on_file("snapshot", p)
                if s.checkpoint_every and step % s.checkpoint_every == 0 and step < s.steps:
                    run.save_checkpoint(step, good, run.optimizer.state_dict())
                    on_file and on_file("checkpoint", s.out / CHECKPOINT)
                if s.validation_prompt and s.validate_every and step % s.validate_every == 0 and step < s.steps:
                    p = run.validate(step)
                    result.validation.append(p)
                    on_file and on_file("validation", p)
    except Diverged as e:
        if acc.is_main_process:  # the optimiser's moments may hold NaN now: the checkpoint keeps the vectors only
            run.save_checkpoint(step, good, None)
            run.write_embedding(result.embedding, step, good)
        raise Diverged(
            f"{e.message}; stopped, and kept the embedding of step {step} in {result.embedding}",
            hint="lower --lr (or raise --grad-accum) and start again with another --out",
        ) from None
    except KeyboardInterrupt:  # the vectors and optimiser state of the last finished step; the command exits 130
        run.save_checkpoint(step, good, run.optimizer.state_dict())
        raise

    result.seconds = time.perf_counter() - t0
    result.steps = step
    result.seconds_per_step = result.seconds / max(1, step - first)
    result.final_loss = float(np.mean(losses[-50:])) if losses else None
    _check_processes_agree(acc, good)
    if acc.is_main_process:
        run.save_checkpoint(step, good, run.optimizer.state_dict())
        run.write_embedding(result.embedding, step, good)
        if s.format == "a1111":
            from genai_cli.files import slug

            s.out.mkdir(parents=True, exist_ok=True)
            result.a1111 = E.save_a1111(s.out / f"{slug(s.token) or 'embedding'}.pt", s.token, good, step, source.label)
        if s.validation_prompt:
            p = run.validate(step)
            result.validation.append(p)
            on_file and on_file("validation", p)
    acc.wait_for_everyone()
    acc.end_training()
    if not distributed.launched():  # leave the process as it was found (see the reset above)
        reset_accelerate_state()
    return result


def _check_processes_agree(acc: Any, vectors: torch.Tensor) -> None:
    """Data parallel training must leave every process with the same vectors; say so if it did not."""
    if acc.num_processes == 1:
        return
    gathered = acc.gather(vectors.to(acc.device)[None]).cpu()  # (P, n, dim)
    spread = float((gathered - gathered[0]).abs().max())
    if spread > 0:
        raise GenaiError(
            f"the {acc.num_processes} processes ended with different embeddings (max difference {spread:.3g})"
        )
