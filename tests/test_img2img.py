"""genai imagine --init-image FILE --strength S: image to image on the toy and tiny models; metadata; the strip;
bad strengths and hostile init images."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.hostile.conftest import assert_refused

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BLUE = "a blue circle on a white background"


def _red_circle(path: Path, size: int = 32, crop: tuple[int, int, int, int] | None = None) -> Path:
    """A rendered toy-world red circle on white (the renderer the toy model was trained on)."""
    from genai_cli.toyworld.render import render
    from genai_cli.toyworld.world import Scene

    pixels = render(Scene("circle", "red", "white"), size, np.random.default_rng(3))
    image = Image.fromarray(pixels)
    (image.crop(crop) if crop else image).save(path)
    return path


def _verdict(path: Path):
    from genai_cli.toyworld import analyzer

    pixels = np.asarray(Image.open(path).convert("RGB"))[None]
    return analyzer.load()(pixels)[0]


def test_a_red_circle_becomes_blue_at_strength_0_6(cli, tmp_path):
    red = _red_circle(tmp_path / "red.png")
    before = _verdict(red)
    assert (before.shape, before.colour, before.background) == ("circle", "red", "white")
    r = cli(
        "imagine", "--model", "toy", BLUE, "--init-image", str(red), "--strength", "0.6", "--seed", "1", "-o", "out"
    )
    assert r.exit_code == 0, r
    out = Path(r.stdout.strip())
    after = _verdict(out)
    assert (after.shape, after.colour, after.background) == ("circle", "blue", "white"), after
    assert "init image red.png: 32x32, used as is" in r.stderr
    # it started from the picture: the result is nearer the red circle's layout than text to image from the same seed
    t2i = cli("imagine", "--model", "toy", BLUE, "--seed", "1", "-o", "t2i")
    assert t2i.exit_code == 0, t2i
    mask = lambda p: np.asarray(Image.open(p).convert("L"), dtype=float) < 200  # noqa: E731  the shape's pixels
    start = mask(red)
    iou = lambda a, b: (a & b).sum() / max(1, (a | b).sum())  # noqa: E731
    assert iou(mask(out), start) > iou(mask(t2i.stdout.strip()), start)


def test_metadata_records_init_image_and_strength(cli, tmp_path):
    from genai_cli.image import pngmeta

    red = _red_circle(tmp_path / "red.png")
    r = cli(
        "imagine",
        "--model",
        "toy",
        BLUE,
        "--init-image",
        str(red),
        "--strength",
        "0.5",
        "--steps",
        "4",
        "--seed",
        "2",
        "-o",
        "out",
    )
    assert r.exit_code == 0, r
    text = pngmeta.read_png_text(Path(r.stdout.strip()))
    sha = hashlib.sha256(red.read_bytes()).hexdigest()
    params = pngmeta.parse_parameters(text["parameters"])
    assert params["Denoising strength"] == "0.5"
    assert params["Init image"] == "red.png" and params["Init image hash"] == sha[:12]
    init = json.loads(text["genai"])["init_image"]
    assert init == {
        "name": "red.png",
        "path": str(red),
        "sha256": sha,
        "strength": 0.5,
        "size": [32, 32],
        "fitted": "used as is",
    }
    # text to image records no init image
    plain = cli("imagine", "--model", "toy", BLUE, "--steps", "2", "-o", "plain")
    text = pngmeta.read_png_text(Path(plain.stdout.strip()))
    assert "Denoising strength" not in text["parameters"] and json.loads(text["genai"])["init_image"] is None


def test_show_steps_strip_runs_from_the_noised_picture(cli, tmp_path):
    red = _red_circle(tmp_path / "red.png")
    r = cli(
        "imagine",
        "--model",
        "toy",
        BLUE,
        "--init-image",
        str(red),
        "--strength",
        "0.6",
        "--steps",
        "5",
        "--show-steps",
        "--seed",
        "1",
        "-o",
        "out",
    )
    assert r.exit_code == 0, r
    image, strip = r.stdout.strip().splitlines()
    frames = Image.open(strip).convert("RGB")
    # 0.6 x 5 = 3 steps run: init, noised, steps 1..3; 32-pixel frames shown at 128 with 6-pixel gaps
    assert frames.size[0] == 6 + 5 * (128 + 6)
    a = np.asarray(frames, dtype=float)
    first = a[6:134, 6:134]
    assert (
        np.abs(first[::4, ::4] - np.asarray(Image.open(red).convert("RGB"), dtype=float)).max() <= 1
    )  # the init image
    noised = a[6:134, 140:268]
    assert np.abs(noised - first).mean() > 20  # visibly noised: no longer the init image
    last = a[6:134, 6 + 4 * 134 : 6 + 4 * 134 + 128]
    assert np.abs(last[::4, ::4] - np.asarray(Image.open(image).convert("RGB"), dtype=float)).mean() < 12


def test_init_image_of_another_shape_is_cropped_and_resized(cli, tmp_path):
    wide = _red_circle(tmp_path / "wide.png", size=96, crop=(0, 10, 96, 80))  # 96x70
    r = cli(
        "imagine",
        "--model",
        "toy",
        BLUE,
        "--init-image",
        str(wide),
        "--strength",
        "0.8",
        "--steps",
        "5",
        "--json",
        "-o",
        "out",
    )
    assert r.exit_code == 0, r
    assert "init image wide.png: 96x70, cropped to 70x70 and resized to 32x32" in r.stderr
    assert json.loads(r.stdout)["width"] == 32


def test_tiny_model_img2img_and_strength_one(cli, tiny, tmp_path, monkeypatch):
    """The tiny random SD pipeline goes through StableDiffusionImg2ImgPipeline too; S = 1.0 runs every step."""
    from contextlib import contextmanager

    from genai_cli import console

    steps: list[float] = []

    @contextmanager
    def counting_bar(description, total=None):  # the progress bar's advances, counted (no terminal here)
        yield lambda n=1, total=None, description=None: steps.append(n)

    monkeypatch.setattr(console, "progress", counting_bar)
    red = _red_circle(tmp_path / "red.png", size=64)
    r = cli(
        "imagine", "--model", str(tiny), "x", "--init-image", str(red), "--strength", "1", "--steps", "3", "-o", "out"
    )
    assert r.exit_code == 0, r
    assert Image.open(r.stdout.strip()).size == (64, 64)
    assert sum(steps) == 3


# --- bad input ------------------------------------------------------------------------------------------------


def _header_only_png(path: Path, width: int, height: int) -> Path:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")
    )
    return path


@pytest.mark.parametrize(
    "strength, names",
    [
        ("nan", ["--strength", "nan"]),
        ("0", ["--strength", "0"]),
        ("1.5", ["--strength", "1.5"]),
        ("-0.2", ["--strength", "-0.2"]),
        ("inf", ["--strength", "inf"]),
    ],
)
def test_bad_strength_is_refused(cli, tmp_path, strength, names):
    red = _red_circle(tmp_path / "red.png")
    assert_refused(
        cli("imagine", "--model", "toy", "x", "--init-image", str(red), "--strength", strength, "-o", "out"), *names
    )
    assert not (tmp_path / "out").exists()


def test_strength_that_runs_no_step_and_strength_alone_are_refused(cli, tmp_path):
    red = _red_circle(tmp_path / "red.png")
    assert_refused(
        cli("imagine", "--model", "toy", "x", "--init-image", str(red), "--strength", "0.1", "--steps", "5"),
        "--strength 0.1",
        "--steps 5",
    )
    assert_refused(cli("imagine", "--model", "toy", "x", "--strength", "0.5"), "--strength", "--init-image")


@pytest.mark.parametrize("kind", ["bomb", "fifo", "folder", "missing", "truncated", "text"])
def test_hostile_init_images_are_refused(cli, tmp_path, kind):
    path = tmp_path / f"{kind}.png"
    if kind == "bomb":
        _header_only_png(path, 100_000, 100_000)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "truncated":
        _red_circle(path)
        path.write_bytes(path.read_bytes()[:60])
    elif kind == "text":
        path.write_text("not a picture")
    r = cli("imagine", "--model", "toy", "x", "--init-image", str(path), "-o", "out")
    assert_refused(r, f"{kind}.png")
    assert not (tmp_path / "out").exists()
