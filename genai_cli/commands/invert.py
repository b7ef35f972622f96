"""`genai invert`: textual inversion — teach an image model a new word from a few images."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from genai_cli.commands.common import (
    ConfigOpt,
    DeviceOpt,
    JsonOpt,
    PrecisionOpt,
    force_option,
    model_option,
    out_option,
    seed_option,
)

PRESETS = ("toy-cpu", "sd15-gpu")  # configs/invert-<name>.yaml


def _opt(flag: str, help: str, **kw):
    return typer.Option(flag, help=help, show_default=False, **kw)


def invert(
    images: Annotated[
        Optional[Path], _opt("--images", "Folder of 3-5 images of the concept. (config: invert.images)")
    ] = None,
    token: Annotated[Optional[str], _opt("--token", "The new word, e.g. '<my-cat>'. (config: invert.token)")] = None,
    init_word: Annotated[
        Optional[str],
        _opt("--init-word", "An existing one-token word to start from, e.g. cat. (config: invert.init_word)"),
    ] = None,
    model: Annotated[
        Optional[str],
        model_option(
            "auto (sd15 on a CUDA or MPS device, else toy), toy, sd15, sd21, a hub id, a diffusers folder "
            "or a .safetensors file.",
            "invert.model",
        ),
    ] = None,
    preset: Annotated[
        Optional[str],
        _opt(
            "--preset",
            "Settings for a model and machine: toy-cpu or sd15-gpu (configs/invert-*.yaml). "
            "Default: toy-cpu when the model is toy.",
        ),
    ] = None,
    out: Annotated[Optional[Path], out_option("Output folder (default ./invert-<token>).", "invert.out")] = None,
    property_: Annotated[
        Optional[str], _opt("--property", "object or style: which prompt templates. (config: invert.property)")
    ] = None,
    num_vectors: Annotated[
        Optional[int], _opt("--num-vectors", "Vectors the new word spans. (config: invert.num_vectors)")
    ] = None,
    steps: Annotated[Optional[int], _opt("--steps", "Optimiser steps in all. (config: invert.steps)")] = None,
    lr: Annotated[Optional[float], _opt("--lr", "Learning rate (AdamW, constant). (config: invert.lr)")] = None,
    batch_size: Annotated[
        Optional[int], _opt("--batch-size", "Images per micro-batch, per process. (config: invert.batch_size)")
    ] = None,
    grad_accum: Annotated[
        Optional[int], _opt("--grad-accum", "Micro-batches per optimiser step. (config: invert.grad_accum)")
    ] = None,
    resolution: Annotated[
        Optional[int],
        _opt("--resolution", "Training image side in pixels (default: the model's). (config: invert.resolution)"),
    ] = None,
    flip: Annotated[
        Optional[float],
        _opt("--flip", "Probability of a horizontal flip of a training image. (config: invert.flip)", min=0.0, max=1.0),
    ] = None,
    repeats: Annotated[
        Optional[int], _opt("--repeats", "Times each image appears per epoch. (config: invert.repeats)")
    ] = None,
    seed: Annotated[
        Optional[int],
        seed_option(
            "Seed of every random draw; unset: a fresh random seed, printed on stderr (--resume keeps the run's).",
            "invert.seed, runtime.seed",
        ),
    ] = None,
    format_: Annotated[
        Optional[str],
        _opt("--format", "diffusers, or a1111 to also write AUTOMATIC1111's .pt. (config: invert.format)"),
    ] = None,
    save_every: Annotated[
        Optional[int],
        _opt("--save-every", "Snapshot the embedding every N steps (0: off). (config: invert.save_every)"),
    ] = None,
    checkpoint_every: Annotated[
        Optional[int],
        _opt(
            "--checkpoint-every",
            "Checkpoint every N steps (0: only at the end and on Ctrl-C). (config: invert.checkpoint_every)",
        ),
    ] = None,
    validate_every: Annotated[
        Optional[int],
        _opt("--validate-every", "Validation grid every N steps (0: at the end only). (config: invert.validate_every)"),
    ] = None,
    validation_prompt: Annotated[
        Optional[str],
        _opt(
            "--validation-prompt",
            "Prompt of the validation grid, with {} or the token. (config: invert.validation_prompt)",
        ),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from its checkpoint.")] = False,
    force: Annotated[
        bool, force_option("Start again in an --out that holds a run (its checkpoint and embedding are replaced).")
    ] = False,
    config_file: ConfigOpt = None,
    json_out: JsonOpt = False,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Learn a new word (textual inversion) from a few images; print the embedding file's path.

    Only the new token's vectors train; the model is unchanged. Use the result with
    `genai imagine --embedding OUT/learned_embeds.safetensors "a photo of <my-cat>"`.
    Ctrl-C keeps a checkpoint: run again with --resume. Several processes (torchrun,
    accelerate launch) train data-parallel.
    """
    from genai_cli import config, console, distributed, runtime, seeds
    from genai_cli.errors import UsageError
    from genai_cli.image import loading, sdxl
    from genai_cli.invert import checkpoint as C
    from genai_cli.invert import data as D
    from genai_cli.invert.settings import InvertSettings, check_model, check_settings, example_words

    flags = dict(
        images=images,
        token=token,
        init_word=init_word,
        model=model,
        out=out,
        property=property_,
        num_vectors=num_vectors,
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        grad_accum=grad_accum,
        resolution=resolution,
        flip=flip,
        repeats=repeats,
        seed=seed,
        format=format_,
        save_every=save_every,
        checkpoint_every=checkpoint_every,
        validate_every=validate_every,
        validation_prompt=validation_prompt,
    )
    # 1. the configuration, loaded once: the files (and --preset) say which model (auto: sd15 on a GPU, else toy);
    #    without a --preset the toy model brings its own (toy-cpu, under --config), and only then is it loaded again
    merged = config.load(_layers(preset, config_file))
    wanted, on = model or merged["invert"]["model"], device or merged["runtime"]["device"]
    chosen = loading.resolve_auto(wanted, on, console.info)
    if preset is None and chosen == "toy":
        merged = config.load(_layers("toy-cpu", config_file))
    cfg = config.section_of(merged, "invert", **{**flags, "model": chosen})  # the flags, validated by the schema

    # 2. the model, located (an unknown one fails here, before the images are read or weights loaded)
    source = loading.locate(cfg["model"])
    sdxl.refuse_for_invert(source)  # exit 2: genai invert learns SD 1.x/2.x words only
    for key, flag in (("images", "--images"), ("token", "--token"), ("init_word", "--init-word")):
        if not cfg[key]:
            word = next(iter(example_words(source)), "cat")  # a word this model reads as one token
            raise UsageError(
                f"missing {flag}",
                hint=f"e.g. genai invert --model {shlex.quote(str(cfg['model']))} "
                f"--images ./photos --token '<my-thing>' --init-word {word}",
            )

    # 3. the settings, built from the validated section and checked once, with the seed policy's seed
    used_seed, where = seeds.choose(seed, merged["invert"]["seed"], merged["runtime"]["seed"])
    s = InvertSettings.from_section(
        cfg, seed=used_seed, resume=resume, force=force, single_file_config=merged["image"]["single_file_config"]
    )
    s = check_settings(s, examples=lambda: example_words(source))
    if resume and where == "random":  # no seed chosen: the run continues with its own
        recorded = C.find(s.out)[1]["settings"].get("seed")
        if isinstance(recorded, int) and not isinstance(recorded, bool):
            s.seed, where = recorded, "checkpoint"
    check_model(s, source)  # the words and sizes against its tokenizer and configs (no weights)

    # 4. the images, read (and their problems reported) before any weight is loaded
    st = distributed.state()  # several processes: build accelerate's state first (gloo on a cpu)
    main = st is None or st.is_main_process
    if where == "random":  # data parallel: every process draws with process 0's seed
        s.seed = distributed.from_main(st, s.seed)
    folder = D.load_folder(s.images)  # fitted to the model's resolution once that is known
    if main:
        for path, why in folder.skipped:
            console.warn(f"skipped {path.name}: {why}")
        captioned = sum(1 for ex in folder.examples if ex.caption)
        console.info(
            f"{len(folder.examples)} image(s) from {s.images}"
            + (f", {captioned} with caption files" if captioned else "")
        )

    from genai_cli.invert.train import invert as run_invert

    rtc = config.section_of(merged, "runtime", device=device, precision=precision)
    rt = runtime.setup(rtc["device"], rtc["precision"], None)  # invert seeds every draw itself (s.seed)
    if main:
        console.info(rt.describe())
        console.info(seeds.describe(s.seed, where))
    if main:
        console.info(
            f"learning {s.token} (from {s.init_word!r}) on {s.model}: {s.steps} steps of "
            f"{s.batch_size}x{s.grad_accum} image(s), lr {s.lr:g}"
        )

    from contextlib import ExitStack

    bars = ExitStack()  # the bar appears once the model is loaded and the first step is known
    advance = None
    try:
        with bars:

            def on_start(first: int, total: int) -> None:
                nonlocal advance
                if main:
                    if first:
                        console.info(f"resuming at step {first}")
                    advance = bars.enter_context(console.progress("inverting", total=total))
                    advance(first)

            def on_step(step: int, loss: float) -> None:
                if advance:
                    advance(1, description=f"inverting  loss {loss:.4f}")

            def on_file(kind: str, path: Path) -> None:
                if kind == "validation":
                    console.info(f"validation grid: {path}")

            result = run_invert(
                s, rt, folder=folder, source=source, on_start=on_start, on_step=on_step, on_file=on_file
            )
    except KeyboardInterrupt:
        if main:
            console.warn(f"interrupted: checkpoint kept in {s.out}; continue with the same command and --resume")
        raise
    if not main:
        return
    if result.processes > 1:
        console.info(f"the {result.processes} processes ended with the same embedding (checked)")
    loss = f", final loss {result.final_loss:.4f}" if result.final_loss is not None else ""
    console.info(f"{result.steps} steps, {result.seconds:.1f} s ({result.seconds_per_step:.3f} s/step){loss}")
    record = {
        "path": str(result.embedding),
        "a1111": str(result.a1111) if result.a1111 else None,
        "token": result.token,
        "steps": result.steps,
        "resumed_from": result.first_step,
        "seconds": round(result.seconds, 2),
        "seconds_per_step": round(result.seconds_per_step, 4),
        "final_loss": result.final_loss,
        "processes": result.processes,
        "seed": s.seed,
        "validation": [str(p) for p in result.validation],
        "out": str(result.out),
    }
    text = str(result.embedding) + (f"\n{result.a1111}" if result.a1111 else "")
    console.emit(record, text, json_out)


def _layers(preset: Optional[str], config_file: Optional[Path]) -> list:
    """Config files in force above the defaults and the user's: the preset's, then --config."""
    from importlib import resources

    from genai_cli.errors import UsageError

    layers: list = []
    if preset is not None:
        if preset not in PRESETS:
            raise UsageError(f"unknown --preset {preset!r}", hint="presets: " + ", ".join(PRESETS))
        layers.append(Path(str(resources.files("genai_cli.configs").joinpath(f"invert-{preset}.yaml"))))
    if config_file is not None:
        layers.append(config_file)
    return layers
