"""Draw a toy-world scene: deterministic, antialiased, random position and size.

The shape is drawn as a mask at SUPERSAMPLE times the size, box-filtered down (exact area
coverage = antialiasing), and used to blend the shape colour over the background. Everything
random (position, size, a small colour jitter) comes from a numpy Generator, so a seed gives
the same pixels on every machine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from genai_cli.toyworld.world import BACKGROUNDS, COLOURS, Scene

SUPERSAMPLE = 4  # mask drawn at 4x the image size, then box-filtered down
MIN_RADIUS = 0.22  # shape radius, as a fraction of the image side (smallest)
MAX_RADIUS = 0.40  # ... and largest
COLOUR_JITTER = 12  # each RGB channel of the shape moves by up to +-12 levels
BACKGROUND_JITTER = 8  # ... and of the background by up to +-8


def _star(points: int = 5, inner: float = 0.42) -> list[tuple[float, float]]:
    pts = []
    for k in range(2 * points):
        r = 1.0 if k % 2 == 0 else inner
        a = -math.pi / 2 + k * math.pi / points
        pts.append((r * math.cos(a), r * math.sin(a)))
    return pts


def _heart(n: int = 60) -> list[tuple[float, float]]:
    pts = []
    for k in range(n):
        t = 2 * math.pi * k / n
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((x / 16.5, -(y + 2.5) / 15.0))  # y down, centred on the box
    return pts


_A = 0.33  # half the width of a cross arm
# Unit-box outlines (x, y in -1..1, y pointing down). Circle and moon are drawn as ellipses.
POLYGONS: dict[str, list[tuple[float, float]]] = {
    "square": [(-0.8, -0.8), (0.8, -0.8), (0.8, 0.8), (-0.8, 0.8)],
    "triangle": [(0.0, -0.95), (0.95, 0.75), (-0.95, 0.75)],
    "star": _star(),
    "cross": [
        (-_A, -1),
        (_A, -1),
        (_A, -_A),
        (1, -_A),
        (1, _A),
        (_A, _A),
        (_A, 1),
        (-_A, 1),
        (-_A, _A),
        (-1, _A),
        (-1, -_A),
        (-_A, -_A),
    ],
    "heart": _heart(),
}


def shape_mask(shape: str, size: int, cx: float, cy: float, radius: float) -> np.ndarray:
    """(size, size) float32 coverage in 0..1 of `shape` centred at (cx, cy) pixels, radius in pixels."""
    s = SUPERSAMPLE
    big = Image.new("L", (size * s, size * s), 0)
    draw = ImageDraw.Draw(big)
    X, Y, R = cx * s, cy * s, radius * s
    if shape == "circle":
        draw.ellipse([X - R, Y - R, X + R, Y + R], fill=255)
    elif shape == "moon":  # a disc with a disc cut out of its upper right
        draw.ellipse([X - R, Y - R, X + R, Y + R], fill=255)
        ox, oy, r2 = X + 0.5 * R, Y - 0.3 * R, 0.8 * R
        draw.ellipse([ox - r2, oy - r2, ox + r2, oy + r2], fill=0)
    elif shape in POLYGONS:
        draw.polygon([(X + R * x, Y + R * y) for x, y in POLYGONS[shape]], fill=255)
    else:
        raise ValueError(f"unknown shape {shape!r}")
    small = big.resize((size, size), Image.Resampling.BOX)  # area average = antialiasing
    return np.asarray(small, dtype=np.float32) / 255.0


@dataclass(frozen=True)
class Placement:
    """Where and how the shape is drawn (pixels), and the jittered colours actually used."""

    cx: float
    cy: float
    radius: float
    colour: tuple[int, int, int]
    background: tuple[int, int, int]


def place(scene: Scene, size: int, rng: np.random.Generator, jitter: bool = True) -> Placement:
    """Draw a random size and position that keeps the whole shape inside the image."""
    radius = rng.uniform(MIN_RADIUS, MAX_RADIUS) * size
    margin = radius + 1.0
    cx, cy = rng.uniform(margin, size - margin, size=2)
    fg = np.array(COLOURS[scene.colour], dtype=np.int64)
    bg = np.array(BACKGROUNDS[scene.background], dtype=np.int64)
    dfg = rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3)
    dbg = rng.integers(-BACKGROUND_JITTER, BACKGROUND_JITTER + 1, size=3)
    if jitter:
        fg, bg = fg + dfg, bg + dbg  # always draw the jitter, so jitter=False keeps the same positions
    return Placement(
        float(cx),
        float(cy),
        float(radius),
        tuple(int(v) for v in np.clip(fg, 0, 255)),
        tuple(int(v) for v in np.clip(bg, 0, 255)),
    )


def render(
    scene: Scene,
    size: int = 64,
    rng: np.random.Generator | None = None,
    *,
    jitter: bool = True,
    placement: Placement | None = None,
) -> np.ndarray:
    """One image (size, size, 3) uint8 of `scene`; the same rng state gives the same pixels."""
    if placement is None:
        placement = place(scene, size, rng if rng is not None else np.random.default_rng(0), jitter)
    alpha = shape_mask(scene.shape, size, placement.cx, placement.cy, placement.radius)[..., None]  # (H, W, 1)
    fg = np.array(placement.colour, dtype=np.float32)  # (3,)
    bg = np.array(placement.background, dtype=np.float32)
    img = bg * (1.0 - alpha) + fg * alpha  # (H, W, 3)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def image_rng(seed: int, index: int) -> np.random.Generator:
    """The generator for image `index` of a run seeded with `seed` (independent streams)."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))
