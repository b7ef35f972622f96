"""`genai toy`: the toy world of genai's built-in image model — render its images, list its words.

Thin layer: parse flags, merge them over the config, call genai_cli.toyworld, print results.
numpy and PIL are imported inside the command bodies only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genai_cli.commands.common import ConfigOpt, ForceFolderOpt, JsonOpt, SeedOpt, n_option, out_option

app = typer.Typer(
    help="The toy world of the built-in image model: one coloured shape on a coloured background.",
    no_args_is_help=True,
    add_completion=False,
)


def _caption_error(e) -> "Exception":
    from genai_cli.errors import UsageError
    from genai_cli.toyworld import world as W

    hint = (
        f"a caption looks like 'a red star on a blue background'; shapes: {', '.join(W.ALL_SHAPES)}; "
        f"colours: {', '.join(W.COLOURS)}; backgrounds: {', '.join(W.BACKGROUNDS)}; "
        "or a night sky's: 'a blue spiral galaxy' (`genai toy words` lists them)"
    )
    return UsageError(str(e), hint=hint)


@app.command()
def render(
    caption: Annotated[
        Optional[str],
        typer.Argument(
            help=(
                "What to draw: 'a <colour> <shape> on a <background> background'. "
                "'-' (or none, with a piped stdin): one caption per line."
            ),
            show_default=False,
        ),
    ] = None,
    n: Annotated[Optional[int], n_option("How many images.", "toy.n", min=1, max=100000)] = None,
    out: Annotated[Optional[Path], out_option("Folder for the PNGs (created if missing).", "toy.out")] = None,
    size: Annotated[
        Optional[int],
        typer.Option("--size", min=8, max=1024, help="Image side in pixels. (config: toy.size)", show_default=False),
    ] = None,
    seed: SeedOpt = None,
    force: ForceFolderOpt = False,
    captions: Annotated[
        bool,
        typer.Option(
            "--captions",
            help="Also write NAME.txt beside each PNG: its caption with {} for the shape (for genai invert).",
        ),
    ] = False,
    config_file: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render toy-world images of CAPTION to PNG files; prints one path per line.

    Each image has its own random position, size and slight colour jitter; --seed makes them reproducible.
    The held-out shape (moon) can be drawn too: it is the concept left for textual inversion.
    """
    from genai_cli import config, console, seeds
    from genai_cli.commands import queries
    from genai_cli.toyworld import files
    from genai_cli.toyworld.world import CaptionError, Scene, parse_caption

    def parse(text: str):
        try:
            scene = parse_caption(text.strip())
        except CaptionError as e:
            raise _caption_error(e) from None
        if captions and not isinstance(scene, Scene):
            from genai_cli.errors import UsageError

            raise UsageError(
                f"--captions: {scene.caption!r} is a night sky scene, with no shape for a caption's slot",
                hint="--captions writes 'a red {} on a white background' beside a shape's image",
            )
        return scene

    if caption is not None and caption != "-":
        with queries.single(caption, as_json):
            parse(caption)  # check_inputs: before any work
    values = config.section("toy", config_file, n=n, out=str(out) if out is not None else None, size=size)
    from genai_cli.image.settings import check_out_dir

    check_out_dir(Path(values["out"]))  # checked now, made with the first file
    seed, where = seeds.choose(seed, None, config.section("runtime", config_file)["seed"])  # toy has no seed of its own
    said = False

    def draw(text: str) -> None:
        nonlocal said
        scene = parse(text)
        if not said:  # the seed line comes with the first answer (an empty stdin says only that it is empty)
            console.info(seeds.describe(seed, where))
            said = True
        paths = files.write_renders(
            scene, values["n"], Path(values["out"]), values["size"], seed, force=force, caption_files=captions
        )
        for i, p in enumerate(paths):
            if as_json:
                console.result_json(
                    {"path": str(p), "caption": scene.caption, "seed": seed, "index": i, "size": values["size"]}
                )
            else:
                console.result(str(p))

    queries.run(
        caption,
        draw,
        as_json=as_json,
        what="caption",
        max_chars=MAX_CAPTION_CHARS,
        max_queries=MAX_CAPTIONS,
        usage="give a CAPTION, e.g. 'a red star on a blue background' (or '-' to read captions from stdin)",
        hint="pipe one caption per line, e.g. 'a red star on a blue background'",
    )


MAX_CAPTION_CHARS = 1000  # one caption line read from stdin (a real one is ~40 characters)
MAX_CAPTIONS = 10_000  # captions read from stdin in one run


@app.command()
def words(as_json: JsonOpt = False) -> None:
    """List the toy world's vocabulary: shapes, colours, backgrounds (and the held-out shape), and the
    night sky's families, colours and words."""
    from genai_cli import console
    from genai_cli.toyworld import world as W

    sky_words = [w for w in W.SKY_WORDS if w not in W.SKY_FAMILIES]
    if as_json:
        console.result_json(
            {
                "shapes": list(W.SHAPES),
                "held_out": W.HELD_OUT,
                "colours": list(W.COLOURS),
                "backgrounds": list(W.BACKGROUNDS),
                "template": "a <colour> <shape> on a <background> background",
                "sky": {"families": list(W.SKY_FAMILIES), "colours": list(W.SKY_COLOURS), "words": sky_words},
            }
        )
        return
    console.result("shapes: " + " ".join(W.SHAPES))
    console.result(f"held out: {W.HELD_OUT}")
    console.result("colours: " + " ".join(W.COLOURS))
    console.result("backgrounds: " + " ".join(W.BACKGROUNDS))
    console.result("sky: " + " ".join(W.SKY_FAMILIES))
    console.result("sky colours: " + " ".join(W.SKY_COLOURS))
    console.result("sky words: " + " ".join(sky_words))
    console.info(
        f"captions look like 'a red star on a blue background' or 'a blue spiral galaxy'; {W.HELD_OUT} is drawn "
        "in the training images but the built-in model has no word for it (learn it with textual inversion)"
    )
