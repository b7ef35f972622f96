"""`genai imagine`: text to image with a Stable Diffusion pipeline."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Optional

import typer

from genai_cli.commands.common import (
    ConfigOpt,
    DeviceOpt,
    ForceFolderOpt,
    JsonOpt,
    PrecisionOpt,
    model_option,
    n_option,
    out_option,
    seed_option,
)


def _prompts_from_stdin(prompts: list[str], prompts_file: Optional[Path]) -> bool:
    """Whether the prompts come from stdin: '-', or no prompt and no --prompts-file with a piped stdin."""
    from genai_cli.commands.common import stdin_has_input
    from genai_cli.errors import UsageError

    if prompts and prompts != ["-"] and prompts_file is not None:
        raise UsageError("give prompts as arguments or with --prompts-file, not both")
    if prompts == ["-"]:
        return prompts_file is None
    return not prompts and prompts_file is None and stdin_has_input()


def _read_lines(stream, what: str) -> list[str]:
    """Every prompt of a stream (stdin, or a --prompts-file opened in binary mode), read by
    genai_cli.commands.queries.read_all: imagine plans its jobs first, so a bad line refuses the whole input."""
    from genai_cli.commands import queries
    from genai_cli.image.settings import MAX_PROMPT_CHARS, MAX_PROMPTS

    return queries.read_all(
        "prompt",
        stream=stream,
        source=what,
        max_chars=MAX_PROMPT_CHARS,
        max_queries=MAX_PROMPTS,
        hint="pipe one prompt per line, or give them as arguments",
    )


def _read_prompts(prompts: list[str], prompts_file: Optional[Path]) -> list[str]:
    """Prompts from the arguments, else --prompts-file, else stdin (one per line; blank lines skipped)."""
    import sys

    from genai_cli.errors import UsageError

    if _prompts_from_stdin(prompts, prompts_file):
        if sys.stdin is None:
            raise UsageError("no prompt given: stdin is closed", hint='genai imagine "a red fox in the snow"')
        return _read_lines(sys.stdin, "stdin")
    if prompts and prompts != ["-"]:
        return list(prompts)
    if prompts_file is not None:
        from genai_cli.files import require_regular_file

        require_regular_file(prompts_file, "--prompts-file")
        try:
            with open(prompts_file, "rb") as f:
                return _read_lines(f, f"--prompts-file {prompts_file}")
        except OSError as e:
            raise UsageError(f"cannot read --prompts-file {prompts_file}: {e.strerror or e}") from None
    return []


def imagine(
    prompts: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Prompts (one image set each). '-' or none: read them from stdin, one per line.", show_default=False
        ),
    ] = None,
    model: Annotated[
        Optional[str],
        model_option(
            "auto (sd15 on a CUDA or MPS device, else toy), toy (built in, offline), sd15, sd21, sd-turbo, a hub id, "
            "a diffusers folder or a .safetensors file.",
            "image.model",
        ),
    ] = None,
    negative: Annotated[
        Optional[str],
        typer.Option(
            "--negative",
            help="Negative prompt: what the image should not show. (config: image.negative)",
            show_default=False,
        ),
    ] = None,
    steps: Annotated[
        Optional[int],
        typer.Option("--steps", help="Denoising steps, 1 to 1000. (config: image.steps)", show_default=False),
    ] = None,
    guidance: Annotated[
        Optional[float],
        typer.Option("--guidance", help="Classifier-free guidance scale. (config: image.guidance)", show_default=False),
    ] = None,
    width: Annotated[
        Optional[int],
        typer.Option(
            "--width",
            help="Width in pixels, a multiple of 8 (default: the model's). (config: image.width)",
            show_default=False,
        ),
    ] = None,
    height: Annotated[
        Optional[int],
        typer.Option(
            "--height",
            help="Height in pixels, a multiple of 8 (default: the model's). (config: image.height)",
            show_default=False,
        ),
    ] = None,
    n: Annotated[Optional[int], n_option("Images per prompt, 1 to 10000.", "image.n")] = None,
    seed: Annotated[
        Optional[int],
        seed_option(
            "Seed of the first image; image k gets seed+k; unset: a fresh random seed, printed on stderr.",
            "image.seed, runtime.seed",
        ),
    ] = None,
    scheduler: Annotated[
        Optional[str],
        typer.Option(
            "--scheduler",
            help="default (the model's), ddim, euler, euler-a, dpm++2m, lms, pndm. (config: image.scheduler)",
            show_default=False,
        ),
    ] = None,
    out: Annotated[Optional[Path], out_option("Folder for the PNG files (created if missing).", "image.out")] = None,
    prompts_file: Annotated[
        Optional[Path], typer.Option("--prompts-file", help="A text file with one prompt per line.", show_default=False)
    ] = None,
    show_steps: Annotated[
        Optional[bool],
        typer.Option(
            "--show-steps/--no-show-steps",
            help="Also write a strip of the predicted clean image during denoising. (config: image.show_steps)",
            show_default=False,
        ),
    ] = None,
    low_memory: Annotated[
        Optional[bool],
        typer.Option(
            "--low-memory/--no-low-memory",
            help="Attention/VAE slicing, and model CPU offload on CUDA. (config: image.low_memory)",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        Optional[int],
        typer.Option(
            "--batch-size",
            help="Images of one prompt per pipeline call. (config: image.batch_size)",
            show_default=False,
        ),
    ] = None,
    single_file_config: Annotated[
        Optional[str],
        typer.Option(
            "--single-file-config",
            help=(
                "Configs for a .safetensors checkpoint: a diffusers folder, alias or cached hub id. "
                "(config: image.single_file_config)"
            ),
            show_default=False,
        ),
    ] = None,
    embedding: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--embedding",
            "-e",
            help=(
                "A learned word (textual inversion: genai invert, diffusers or AUTOMATIC1111 file); repeatable. "
                "(config: image.embeddings)"
            ),
            show_default=False,
        ),
    ] = None,
    init_image: Annotated[
        Optional[Path],
        typer.Option(
            "--init-image",
            help="Start from this picture instead of pure noise (image to image); it is fitted to the model's size.",
            show_default=False,
        ),
    ] = None,
    strength: Annotated[
        Optional[float],
        typer.Option(
            "--strength",
            help=(
                "With --init-image: how far toward noise the picture goes first, in (0, 1]; 1.0 is text to image.  "
                "[default: 0.75]"
            ),
            show_default=False,
        ),
    ] = None,
    lora: Annotated[
        Optional[list[str]],
        typer.Option(
            "--lora",
            help=(
                "FILE[:WEIGHT]: a LoRA .safetensors (diffusers or kohya/A1111 layout), weight -10..10 (default 1); "
                "repeatable, at most 16."
            ),
            show_default=False,
        ),
    ] = None,
    force: ForceFolderOpt = False,
    recipe: Annotated[
        Optional[Path],
        typer.Option(
            "--recipe",
            help=(
                "Take prompt, negative, seed, steps, guidance, size and sampler from an image's recipe "
                "(any file `genai info` reads); flags override it."
            ),
            show_default=False,
        ),
    ] = None,
    config_file: ConfigOpt = None,
    json_out: JsonOpt = False,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Generate images from text prompts; print one PNG path per line.

    Each PNG carries its recipe (AUTOMATIC1111 `parameters` chunk + genai's config as JSON):
    `genai info FILE` reads it back. Launched with several processes (torchrun,
    accelerate launch), the images are shared out between them.
    """
    from genai_cli import config, console, seeds
    from genai_cli.image.run import imagine as run_imagine
    from genai_cli.image.settings import ImagineSettings

    # 1. flags over the config files: the validated `image` section (and runtime's device, precision, seed)
    cfg = config.section(
        "image",
        config_file,
        model=model,
        negative=negative,
        steps=steps,
        guidance=guidance,
        width=width,
        height=height,
        n=n,
        seed=seed,
        scheduler=scheduler,
        out=out,
        show_steps=show_steps,
        low_memory=low_memory,
        batch_size=batch_size,
        single_file_config=single_file_config,
        embeddings=[str(p) for p in embedding] if embedding else None,
    )
    seed_from = "config"
    if recipe is not None:  # under the flags, over the config files (genai_cli/image/recipes.py)
        from genai_cli.image import recipes

        given = {
            k
            for k, v in dict(
                negative=negative,
                steps=steps,
                guidance=guidance,
                width=width,
                height=height,
                seed=seed,
                scheduler=scheduler,
            ).items()
            if v is not None
        }
        before = cfg["seed"]
        text = recipes.for_imagine(recipe, cfg, given, model is not None)
        prompts = prompts if prompts or prompts_file else [text]
        if seed is None and cfg["seed"] != before:
            seed_from = "--recipe"
    rt = config.section("runtime", config_file, device=device, precision=precision)

    # 2. the one seed policy (genai_cli/seeds.py): --seed, then image.seed, then runtime.seed, then a random one;
    #    the core says it on stderr once the inputs have passed their checks
    first_seed, where = seeds.choose(seed, cfg["seed"], rt["seed"])

    # 3. prompts: arguments or --prompts-file now; stdin only once the model has passed its checks
    from_stdin = _prompts_from_stdin(prompts or [], prompts_file)
    texts = [] if from_stdin else _read_prompts(prompts or [], prompts_file)
    s = ImagineSettings.from_section({**cfg, "seed": first_seed}, texts, force=force)

    # 4. the core does the rest (genai_cli/image/run.py); each image is printed as soon as its file exists
    written = 0
    with contextlib.ExitStack() as stack:
        bar: list = []

        def on_progress(n: float = 1, total: float | None = None) -> None:
            if not bar:  # the bar starts with the first denoising step, after the model has loaded
                bar.append(stack.enter_context(console.progress("generating", total=total)))
            bar[0](n)

        try:
            for r in run_imagine(
                s,
                read_prompts=(lambda: _read_prompts(prompts or [], prompts_file)) if from_stdin else None,
                embeddings=cfg["embeddings"],
                loras=lora or [],
                init_image=init_image,
                strength=strength,
                device=rt["device"],
                precision=rt["precision"],
                seed_source=seed_from if where == "config" else where,
                on_info=console.info,
                on_warn=console.warn,
                on_progress=on_progress,
            ):
                written += 1
                _report(r, s, json_out)
        except KeyboardInterrupt:
            console.warn(f"interrupted: the {written} image(s) already written are kept")
            raise


def _report(r, s, json_out: bool) -> None:
    """Print one image's path (or JSON record) on stdout, warn about its problems."""
    from genai_cli import console

    warnings = {
        "nan": "the image holds NaN values (fp16 overflow?); try --precision fp32 or bf16",
        "black": "the image is black (fp16 overflow, or the safety checker)",
        "nsfw": "the model's safety checker flagged this image and blacked it out",
    }
    for problem in r.problems:
        console.warn(f"{r.path.name}: {warnings[problem]}")
    record = {
        "path": str(r.path),
        "seed": r.job.seed,
        "index": r.job.index,
        "prompt": r.job.prompt,
        "negative": s.negative,
        "steps": s.steps,
        "guidance": s.guidance,
        "width": r.width,
        "height": r.height,
        "scheduler": s.scheduler,
        "model": s.model,
        "steps_path": str(r.steps_path) if r.steps_path else None,
        "problems": r.problems,
    }
    console.emit(record, str(r.path) + (f"\n{r.steps_path}" if r.steps_path else ""), json_out)
