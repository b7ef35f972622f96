"""`genai diffuse`: the forward diffusion process, as a strip of ever noisier frames."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genai_cli.commands.common import ConfigOpt, ForceFolderOpt, JsonOpt, n_option, out_option, seed_option


def diffuse(
    image: Annotated[
        Path, typer.Argument(help="The image to add noise to (any format Pillow reads).", show_default=False)
    ],
    steps: Annotated[
        Optional[str],
        typer.Option(
            "--steps",
            help="Timesteps to show, like 0,100,250,500,999. (config: image.diffuse.steps)",
            show_default=False,
        ),
    ] = None,
    n: Annotated[
        Optional[int],
        n_option("Show n evenly spaced timesteps, 2 to 64 (when --steps is not given).", "image.diffuse.n"),
    ] = None,
    schedule: Annotated[
        Optional[str],
        typer.Option(
            "--schedule",
            help=(
                "Noise schedule: toy (the built-in model's), sd15 (built in), a scheduler_config.json, a model folder, "
                "alias or hub id. (config: image.diffuse.schedule)"
            ),
            show_default=False,
        ),
    ] = None,
    size: Annotated[
        Optional[int],
        typer.Option(
            "--size",
            help="Resize the image's longer side to this many pixels. (config: image.diffuse.size)",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[Optional[int], seed_option("Seed of the noise.", "image.diffuse.seed")] = None,
    out: Annotated[
        Optional[Path], out_option("Folder for the strip PNG (created if missing).", "image.diffuse.out")
    ] = None,
    force: ForceFolderOpt = False,
    config_file: ConfigOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Add noise to IMAGE at chosen timesteps of a noise schedule; write the strip, print its path.

    x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) noise; under each frame its
    signal-to-noise ratio alpha_bar_t / (1 - alpha_bar_t), also in dB. No model weights needed.
    """
    from genai_cli import config, console
    from genai_cli.errors import UsageError
    from genai_cli.files import figure_chunks
    from genai_cli.image import forward, pngmeta
    from genai_cli.image.settings import check_out_dir
    from genai_cli.image.strip import make_strip, to_pil

    if steps is not None and n is not None:
        raise UsageError("give --steps or --n, not both")
    # 1. flags over the config files, validated once (limits in genai_cli/schema.py: DiffuseConfig)
    cfg = config.section(
        "image.diffuse", config_file, steps=steps, n=n, schedule=schedule, size=size, seed=seed, out=out
    )
    if n is not None:
        cfg["steps"] = None  # --n: n evenly spaced frames, whatever timesteps a config file names
    # 2. what needs more than the schema: the timesteps, the strip's size, the output folder; then the files are read
    timesteps = forward.parse_steps(cfg["steps"])
    n, size, seed = forward.check_frames(cfg["n"]), cfg["size"], cfg["seed"]
    forward.check_strip(len(timesteps) if timesteps else n, size)
    out_dir = check_out_dir(Path(cfg["out"]))  # made when the strip is written
    x0 = forward.load_image(image, size)  # (H, W, 3) in [-1, 1]; bombs, FIFOs and broken files refused
    sched_config, label = forward.load_scheduler_config(cfg["schedule"])
    alpha_bar = forward.alphas_cumprod(sched_config, label)
    timesteps = forward.pick_timesteps(len(alpha_bar), timesteps, n)

    # 3. the noisy frames and their strip
    frames = forward.noise_frames(x0, alpha_bar, timesteps, seed)
    strip = make_strip([to_pil(f.image) for f in frames], [forward.frame_labels(f) for f in frames])
    recipe = {
        "image": str(image),
        "schedule": label,
        "seed": seed,
        "size": size,
        "frames": [f.to_json() for f in frames],
    }
    path = pngmeta.write_png(
        strip,
        out_dir / f"{image.stem}-diffuse.png",
        figure_chunks({"command": "diffuse", **recipe}),
        force=force,
    )
    for f in frames:
        console.info(f"t={f.t:>4}  alpha_bar={f.alpha_bar:.4f}  SNR={f.snr:.4g} ({f.snr_db:+.1f} dB)")
    console.emit({"path": str(path), **recipe}, str(path), json_out)
