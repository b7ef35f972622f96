"""`genai imagine`: text to image with a Stable Diffusion pipeline."""

from __future__ import annotations

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

    return queries.read_all("prompt", stream=stream, source=what, max_chars=MAX_PROMPT_CHARS, max_queries=MAX_PROMPTS,
                            hint="pipe one prompt per line, or give them as arguments")


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
        Optional[int], typer.Option("--steps", help="Denoising steps, 1 to 1000. (config: image.steps)", show_default=False)
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
        seed_option("Seed of the first image; image k gets seed+k; unset: a fresh random seed, printed on stderr.",
                    "image.seed, runtime.seed"),
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
            help="Configs for a .safetensors checkpoint: a diffusers folder, alias or cached hub id. (config: image.single_file_config)",
            show_default=False,
        ),
    ] = None,
    embedding: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--embedding",
            "-e",
            help="A learned word (textual inversion: genai invert, diffusers or AUTOMATIC1111 file); repeatable. (config: image.embeddings)",
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
            help="With --init-image: how far toward noise the picture goes first, in (0, 1]; 1.0 is text to image.  [default: 0.75]",
            show_default=False,
        ),
    ] = None,
    lora: Annotated[
        Optional[list[str]],
        typer.Option(
            "--lora",
            help="FILE[:WEIGHT]: a LoRA .safetensors (diffusers or kohya/A1111 layout), weight -10..10 (default 1); repeatable, at most 16.",
            show_default=False,
        ),
    ] = None,
    force: ForceFolderOpt = False,
    recipe: Annotated[
        Optional[Path],
        typer.Option(
            "--recipe",
            help="Take prompt, negative, seed, steps, guidance, size and sampler from an image's recipe (any file `genai info` reads); flags override it.",
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
    from genai_cli import config, console
    from genai_cli.errors import GenaiError
    from genai_cli.image import distributed, loading
    from genai_cli.image.settings import ImagineSettings, check_options, check_prompts, check_size

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
    if recipe is not None:  # under the flags, over the config files (genai_cli/image/recipes.py)
        from genai_cli.image import recipes

        given = {k for k, v in dict(negative=negative, steps=steps, guidance=guidance, width=width, height=height,
                                    seed=seed, scheduler=scheduler).items() if v is not None}
        text = recipes.for_imagine(recipe, cfg, given, model is not None)
        prompts = prompts if prompts or prompts_file else [text]
    if cfg["seed"] is None:
        cfg["seed"] = config.section("runtime", config_file)["seed"]
    # 1. check every input before any weight is loaded (with several processes, process 0 reads the prompts)
    st = distributed.state()  # None unless launched with several processes
    main = st is None or st.is_main_process
    # prompts from stdin are read only after the model has passed its checks (a hostile folder reads nothing)
    from_stdin = _prompts_from_stdin(prompts or [], prompts_file)
    texts = None
    if not from_stdin:
        texts = check_prompts(distributed.from_main(st, _read_prompts(prompts or [], prompts_file) if main else None))
    s = check_options(
        ImagineSettings(
            prompts=texts or [],
            model=cfg["model"],
            negative=cfg["negative"],
            steps=cfg["steps"],
            guidance=cfg["guidance"],
            width=cfg["width"],
            height=cfg["height"],
            n=cfg["n"],
            seed=cfg["seed"],
            scheduler=cfg["scheduler"],
            out=Path(cfg["out"]),
            force=force,
            low_memory=cfg["low_memory"],
            show_steps=cfg["show_steps"],
            step_frames=cfg["step_frames"],
            batch_size=cfg["batch_size"],
            single_file_config=cfg["single_file_config"],
        )
    )
    runtime_device = config.section("runtime", config_file, device=device)["device"]
    s.model = loading.resolve_auto(s.model, runtime_device, console.info if main else None)  # auto: sd15 or toy
    source = loading.locate(s.model)  # a folder that would run code of its own is refused here
    from genai_cli.invert import embeddings as E

    from genai_cli.image import sdxl

    learned = [sdxl.read_any(Path(p)) for p in cfg["embeddings"]]  # unreadable files fail here, before the model loads
    from genai_cli.image import lora as L

    loras = [L.check_file(spec) for spec in L.parse_specs(lora or [])]  # bad weights, pickles: before the model loads
    from genai_cli.errors import UsageError
    from genai_cli.image import img2img

    if strength is not None and init_image is None:
        raise UsageError("--strength needs --init-image", hint="genai imagine --init-image photo.png --strength 0.6 PROMPT")
    init = None if init_image is None else img2img.read(
        init_image, img2img.check_strength(img2img.DEFAULT_STRENGTH if strength is None else strength, s.steps))
    limits = loading.size_limits(source)  # from the folder's configs; None for a single file
    size = check_size(s, limits)
    tokenizer = loading.load_tokenizer(source) if learned else None  # None for a single file: checked after loading
    for emb in learned if tokenizer is not None else []:
        E.check_new_word(tokenizer, emb)  # a learned `red` would silently replace the colour
    if from_stdin:
        s.prompts = check_prompts(distributed.from_main(st, _read_prompts(prompts or [], prompts_file) if main else None))

    # 2. processes, device, seeds, and this process's share of the jobs
    import secrets

    from genai_cli.commands.common import setup_runtime
    from genai_cli.image import generate

    rt = setup_runtime(config_file, device, precision, None)
    base_seed = distributed.from_main(st, s.seed if s.seed is not None else secrets.randbits(32))
    start = distributed.from_main(st, generate.next_index(s.out))
    first, stop = distributed.share(st, len(s.prompts) * s.n)
    jobs = generate.plan_jobs(s.prompts, s.n, base_seed, start, first, stop)  # lazy: nothing grows with --n
    if st is not None:
        console.info(f"process {st.process_index}/{st.num_processes}: {stop - first} image(s)")

    # 3. load the pipeline, then generate
    if main:
        console.info(f"loading {s.model}" + (f" ({source.path})" if str(source.path) != s.model else ""))
    pipe = loading.load_pipeline(source, rt.dtype, s.single_file_config, tokenizer)
    for emb in learned:
        sdxl.add_any(pipe, emb)  # SDXL files (clip_l + clip_g) teach both text encoders
        if main:
            console.info(f"learned word {emb.token} ({emb.vectors.shape[0]} vector(s)) from {emb.source}")
    L.load_into(pipe, loras)  # a LoRA for another architecture: exit 2 naming it
    if main:
        _report_unknown_words(pipe.tokenizer, s)
    if limits is None:  # a single file: its size range is known only now
        size = check_size(s, loading.pipeline_size_limits(pipe))
    pipe = generate.prepare(pipe, s, rt.device)
    if init is not None:  # the img2img pipeline of the same family, sharing the loaded components
        pipe = img2img.pipeline(pipe)
        if main:
            console.info(img2img.fit(init, size[0], size[1]))
        else:
            img2img.fit(init, size[0], size[1])
    run_info = {"model_path": str(source.path), "device": str(rt.device), "precision": rt.precision,
                "embeddings": [{"token": e.token, "path": str(e.source)} for e in learned],
                "loras": [spec.to_json() for spec in loras],
                "init_image": init.to_json() if init is not None else None}
    failed = written = 0
    from contextlib import nullcontext

    per_image = img2img.steps_run(s.steps, init.strength) if init is not None else s.steps
    bar = console.progress("generating", total=(stop - first) * per_image) if main else nullcontext(None)
    from functools import partial

    run = partial(img2img.generate, init=init) if init is not None else generate.generate
    try:
        with bar as advance:
            on_step = (lambda job: advance(1)) if advance else None
            for r in run(pipe, s, jobs, size[0], size[1], source.label, run_info, on_step):
                written += 1
                failed += _report(r, s, json_out)
    except KeyboardInterrupt:
        console.warn(f"interrupted: the {written} image(s) already written are kept")
        raise
    distributed.finish(st)
    if failed:
        raise GenaiError(f"{failed} image(s) came out as NaN", hint="run again with --precision fp32 (or bf16)")


def _report_unknown_words(tokenizer, s) -> None:
    """A toy-world model knows a few dozen words: say which words of each prompt it will not understand
    (CLIP's tokenizer would silently split them into meaningless letters)."""
    from genai_cli import console
    from genai_cli.image.loading import is_toy_tokenizer

    if not is_toy_tokenizer(tokenizer):
        return
    from genai_cli.errors import shorten
    from genai_cli.toyworld import vocab

    for prompt in dict.fromkeys([*s.prompts, s.negative]):
        unknown = vocab.unknown_words(prompt, tokenizer)
        if unknown:
            console.warn(f"{vocab.unknown_message(unknown, tokenizer=tokenizer, suggest=True)} (in {shorten(prompt)}); "
                         "`genai toy words` lists the words it knows")


def _report(r, s, json_out: bool) -> int:
    """Print one image's path (or JSON record) on stdout, warn about its problems; 1 if it is NaN."""
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
    return int("nan" in r.problems)
