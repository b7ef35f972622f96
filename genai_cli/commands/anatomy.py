"""`genai anatomy`: the three parts of a Stable Diffusion model, their real sizes and shapes."""

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
    out_option,
    seed_option,
)


def anatomy(
    prompt: Annotated[
        Optional[str],
        typer.Argument(help="Run one real pass through each part with this prompt.", show_default=False),
    ] = None,
    model: Annotated[
        Optional[str],
        model_option(
            "toy (built in), sd15, sdxl, a hub id, a diffusers folder or a .safetensors file. Uncached "
            "sd15/sdxl are described from their configs.",
            "image.model",
        ),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="Denoising steps of the prompt's pass, 1 to 1000.")] = 25,
    guidance: Annotated[float, typer.Option("--guidance", help="Classifier-free guidance scale of the pass.")] = 7.5,
    seed: Annotated[int, seed_option("Seed of the pass's starting noise.", config=None)] = 0,
    embedding: Annotated[
        Optional[list[Path]],
        typer.Option(
            "--embedding", "-e", help="A learned word (textual inversion file); repeatable.", show_default=False
        ),
    ] = None,
    lora: Annotated[
        Optional[list[str]],
        typer.Option(
            "--lora",
            help="FILE[:WEIGHT] a LoRA .safetensors (diffusers or kohya/A1111), weight -10..10 "
            "(default 1); repeatable, at most 16.",
            show_default=False,
        ),
    ] = None,
    single_file_config: Annotated[
        Optional[str],
        typer.Option(
            "--single-file-config",
            help="Configs for a .safetensors checkpoint: a diffusers folder, alias or "
            "cached hub id. (config: image.single_file_config)",
            show_default=False,
        ),
    ] = None,
    plot: Annotated[bool, typer.Option("--plot", help="Also write the diagram of the three parts as a PNG.")] = False,
    out: Annotated[Path, out_option("Folder for the image and the diagram.")] = Path("."),
    force: ForceFolderOpt = False,
    config_file: ConfigOpt = None,
    json_out: JsonOpt = False,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Show the text encoder, U-Net and VAE decoder of a Stable Diffusion model: class, parameters,
    size on disk, input and output shapes, and the scheduler. With a PROMPT, run one pass through
    each and show the tokens, the text vectors' norms, the latent and the decoded image."""
    from genai_cli import config, console
    from genai_cli.errors import GenaiError, UsageError, shorten
    from genai_cli.image import anatomy as A
    from genai_cli.image import loading
    from genai_cli.image.settings import check_out_dir, check_prompts

    # 1. every input checked before anything loads
    if prompt is not None:
        check_prompts([prompt])
    if not 1 <= steps <= A.MAX_STEPS:
        raise UsageError(f"--steps must be a whole number in 1..{A.MAX_STEPS}, got {steps}")
    import math

    if not math.isfinite(guidance) or guidance < 0:
        raise UsageError(f"--guidance must be a finite number, 0 or more, got {shorten(guidance)}")
    if not 0 <= seed < 2**32:
        raise UsageError(f"--seed must be in 0 .. 2**32-1, got {seed}")
    if plot or prompt is not None:
        out = check_out_dir(out)
    from genai_cli.image import lora as L

    loras = L.parse_specs(lora or [])
    cfg = config.section("image", config_file, model=model, single_file_config=single_file_config)
    name = cfg["model"]
    from genai_cli.image.settings import MAX_NAME_CHARS

    for flag, v in (("--model", name), ("--single-file-config", cfg["single_file_config"])):
        if isinstance(v, str) and len(v) > MAX_NAME_CHARS:
            raise UsageError(f"{flag} ({shorten(v, 40)}) is longer than {MAX_NAME_CHARS} characters")
    from genai_cli import runtime

    rtc = config.section("runtime", config_file, device=device, precision=precision)
    runtime.choose_precision(runtime.choose_device(rtc["device"]), rtc["precision"])  # a bad name: exit 2 now

    # 2. the model: its folder, or only its configs
    from genai_cli import models

    source, arch = None, None
    try:
        source = loading.locate(name)
    except UsageError:
        raise
    except GenaiError:
        target = models.aliases("image").get(name, name)
        arch = A.architecture(target)
        if arch is None:
            raise
        if prompt is not None or loras or embedding:
            raise A.need_weights(name, target) from None
        console.info(f"{name} is not in your Hugging Face cache: described from the configs shipped with genai")
    from genai_cli.invert import embeddings as E

    learned = [E.read(Path(p)) for p in embedding or []]
    for spec in loras:
        L.check_file(spec)
    pipe = None
    if source is not None and (prompt is not None or source.kind == "single-file" or loras):
        from genai_cli.commands.common import setup_runtime

        rt = setup_runtime(config_file, device, precision, None)
        console.info(f"loading {name}")
        pipe = loading.load_pipeline(source, rt.dtype, cfg["single_file_config"])
        for emb in learned:
            E.add_to_pipeline(pipe, emb)
        L.load_into(pipe, loras)
        pipe.set_progress_bar_config(disable=True)
        pipe = pipe.to(rt.device)
    if arch is not None:
        configs, sizes = arch, {}
        result = A.describe(name, None, configs, sizes, weights=False)
    elif source.kind == "folder":
        configs, sizes = A.configs_from_folder(source.path)
        result = A.describe(name, str(source.path), configs, sizes, weights=True)
    else:
        configs = A.configs_from_pipeline(pipe)
        result = A.describe(name, str(source.path), configs, A.single_file_sizes(source.path), weights=True)

    # 3. one real pass
    label = source.label if source is not None else name.replace("/", "-")
    if prompt is not None:
        from genai_cli.files import slug
        from genai_cli.image import pngmeta
        from genai_cli.image.strip import to_pil

        words = [e.token for e in learned] + [f"{e.token}_{i}" for e in learned for i in range(1, e.vectors.shape[0])]
        run = A.run_pass(pipe, prompt, steps, guidance, seed, words)
        image, latent = run.pop("image"), run.pop("latent")
        run["loras"] = [s.to_json() for s in loras]
        meta = {
            "parameters": pngmeta.format_parameters(
                L.prompt_with_tags(prompt, loras),
                "",
                {
                    "Steps": steps,
                    "CFG scale": guidance,
                    "Seed": seed,
                    "Size": f"{image.shape[1]}x{image.shape[0]}",
                    "Model": label,
                    **L.a1111_fields(loras),
                },
            )
        }
        run["image_path"] = str(
            pngmeta.write_png(to_pil(image), out / f"anatomy-{slug(prompt, 40) or 'image'}.png", meta, force=force)
        )
        result.run = run
        diagram_run = {**run, "image": image, "latent": latent}
    else:
        diagram_run = None
    record = result.to_json()
    if plot:
        from genai_cli.files import slug

        result.run = diagram_run
        stem = f"anatomy-{slug(prompt or label, 40) or 'image'}-diagram.png"
        recipe = {"command": "anatomy", "model": label, "prompt": prompt}
        if prompt is not None:
            recipe.update(steps=steps, guidance=guidance, seed=seed)
        out.mkdir(parents=True, exist_ok=True)  # made with its first file (check_out_dir checked it can be)
        record["diagram_path"] = str(A.plot(result, out / stem, force=force, recipe=recipe))
        result.run = record["run"]
    text = A.text_report(result) + (f"\n{'diagram':<15}{record['diagram_path']}" if plot else "")
    console.emit(record, text, json_out)
