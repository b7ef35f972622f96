"""`genai toy`: the toy world of genai's built-in image model — render its images, list its words.

Thin layer: parse flags, merge them over the config, call genai_cli.toyworld, print results.
numpy and PIL are imported inside the command bodies only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genai_cli.commands.common import ConfigOpt, JsonOpt, SeedOpt

app = typer.Typer(help="The toy world of the built-in image model: one coloured shape on a coloured background.",
                  no_args_is_help=True, add_completion=False)


def _caption_error(e) -> "Exception":
    from genai_cli.errors import UsageError
    from genai_cli.toyworld import world as W

    hint = (f"a caption looks like 'a red star on a blue background'; shapes: {', '.join(W.ALL_SHAPES)}; "
            f"colours: {', '.join(W.COLOURS)}; backgrounds: {', '.join(W.BACKGROUNDS)}")
    return UsageError(str(e), hint=hint)


@app.command()
def render(
    caption: Annotated[Optional[str], typer.Argument(
        help="What to draw: 'a <colour> <shape> on a <background> background'. '-' (or none, with a piped stdin): one caption per line.",
        show_default=False)] = None,
    n: Annotated[Optional[int], typer.Option("--n", "-n", min=1, max=100000, help="How many images. (config: toy.n)", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", "-o", help="Folder for the PNGs (created if missing). (config: toy.out)", show_default=False)] = None,
    size: Annotated[Optional[int], typer.Option("--size", min=8, max=1024, help="Image side in pixels. (config: toy.size)", show_default=False)] = None,
    seed: SeedOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files of the same name (else fresh names are chosen).")] = False,
    captions: Annotated[bool, typer.Option("--captions", help="Also write NAME.txt beside each PNG: its caption with {} for the shape (for genai invert).")] = False,
    config_file: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Render toy-world images of CAPTION to PNG files; prints one path per line.

    Each image has its own random position, size and slight colour jitter; --seed makes them reproducible. The held-out shape (moon) can be drawn too: it is the concept left for textual inversion.
    """
    import secrets
    import sys

    from genai_cli import config, console
    from genai_cli.commands.common import stdin_has_input
    from genai_cli.errors import UsageError, shorten
    from genai_cli.toyworld import files
    from genai_cli.toyworld.world import CaptionError, parse_caption

    stream = caption == "-" or (caption is None and stdin_has_input())
    if caption is None and not stream:
        raise UsageError("give a CAPTION, e.g. 'a red star on a blue background' (or '-' to read captions from stdin)")
    if stream and sys.stdin is None:
        raise UsageError("no caption given: stdin is closed", hint="give a CAPTION, e.g. 'a red star on a blue background'")
    scene = None
    if not stream:
        try:
            scene = parse_caption(caption)  # check_inputs: before any work
        except CaptionError as e:
            raise _caption_error(e) from None
    values = config.section("toy", config_file, n=n, out=str(out) if out is not None else None, size=size)
    from genai_cli.image.settings import check_out_dir

    check_out_dir(Path(values["out"]))  # checked now, made with the first file
    if seed is None:
        seed = config.section("runtime", config_file)["seed"]
    if seed is None:
        seed = secrets.randbits(32)
        console.info(f"seed {seed} (give --seed {seed} to draw the same images again)")

    def draw(scene) -> None:
        paths = files.write_renders(scene, values["n"], Path(values["out"]), values["size"], seed, force=force,
                                    caption_files=captions)
        for i, p in enumerate(paths):
            if as_json:
                console.result_json({"path": str(p), "caption": scene.caption, "seed": seed, "index": i, "size": values["size"]})
            else:
                console.result(str(p))

    if not stream:
        draw(scene)
        return
    bad = seen = 0
    for line in _stdin_lines(sys.stdin):  # one caption at a time: each answer is printed as it is made
        line = line.strip()
        if not line:
            continue
        seen += 1
        try:
            draw(parse_caption(line))
        except CaptionError as e:  # report the line, go on with the rest, exit 2 at the end
            bad += 1
            if as_json:
                console.result_json({"caption": line, "error": str(e)})
            else:
                console.error(f"{shorten(line)}: {e}")
    if not seen:
        raise UsageError("no caption given: stdin was empty", hint="pipe one caption per line, e.g. 'a red star on a blue background'")
    if bad:
        from genai_cli.errors import EXIT_USAGE

        raise typer.Exit(EXIT_USAGE)


MAX_CAPTION_CHARS = 1000  # one caption line read from stdin (a real one is ~40 characters)
MAX_CAPTIONS = 10_000  # captions read from stdin in one run


def _stdin_lines(stream):
    """Lines of stdin, refusing a line over MAX_CAPTION_CHARS or more than MAX_CAPTIONS lines (nothing is read whole)."""
    from genai_cli.errors import UsageError

    for count in range(MAX_CAPTIONS + 1):
        try:
            line = stream.readline(MAX_CAPTION_CHARS + 2)
        except UnicodeDecodeError:
            raise UsageError("stdin is not UTF-8 text (a binary file?)") from None
        if not line:
            return
        if len(line) > MAX_CAPTION_CHARS and not line.endswith("\n"):
            raise UsageError(f"stdin: line {count + 1} is longer than {MAX_CAPTION_CHARS} characters")
        yield line
    raise UsageError(f"stdin: more than {MAX_CAPTIONS} captions", hint="split them between runs")


@app.command()
def words(as_json: JsonOpt = False) -> None:
    """List the toy world's vocabulary: shapes, colours, backgrounds (and the held-out shape)."""
    from genai_cli import console
    from genai_cli.toyworld import world as W

    if as_json:
        console.result_json({"shapes": list(W.SHAPES), "held_out": W.HELD_OUT, "colours": list(W.COLOURS),
                             "backgrounds": list(W.BACKGROUNDS), "template": "a <colour> <shape> on a <background> background"})
        return
    console.result("shapes: " + " ".join(W.SHAPES))
    console.result(f"held out: {W.HELD_OUT}")
    console.result("colours: " + " ".join(W.COLOURS))
    console.result("backgrounds: " + " ".join(W.BACKGROUNDS))
    console.info(f"captions look like 'a red star on a blue background'; {W.HELD_OUT} is drawn in the training images "
                 "but the built-in model has no word for it (learn it with textual inversion)")
