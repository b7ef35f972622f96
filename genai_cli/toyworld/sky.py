"""The toy world's night sky (issue 15): galaxies, a ringed planet, star fields and nebulae.

    a beautiful galaxy                   a blue spiral galaxy
    a ringed planet on a black background  a purple nebula with stars

Five families (world.SKY_FAMILIES) x six dominant colours (world.SKY_COLOURS) = 30 sky scenes, each
drawn procedurally on a near-black sky: a spiral galaxy (2-3 logarithmic arms, a bright core, random
orientation, tilt and winding), an elliptical galaxy (a smooth glow, brighter to the centre), a ringed
planet (a shaded disc in a tilted ring that passes behind it), a star field, a nebula (fractal gas
clouds). Everything random comes from a numpy Generator, as for the shapes (render.image_rng), so a
seed gives the same pixels on every machine. A scene has many captions, as a person would write them
(`captions`); training draws one per image, evaluation uses the first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from genai_cli.toyworld.world import SKY_COLOURS, SKY_FAMILIES, words

SUPERSAMPLE = 2  # smooth parts drawn at 2x and box-filtered down; point stars are drawn at the final size
SKY = (8, 9, 18)  # the night sky behind everything (jittered by up to +-6 per channel)
SKY_JITTER = 6
CORE = np.array((255, 246, 225), dtype=np.float32)  # the warm white of a galaxy's core
GALAXY_WORDS = ("galaxy", "spiral", "elliptical")


@dataclass(frozen=True)
class SkyScene:
    """What a sky image shows: a family (spiral, elliptical, planet, stars, nebula) and its dominant colour."""

    family: str
    colour: str

    @property
    def caption(self) -> str:
        return captions(self)[0]


def sky_scenes() -> list[SkyScene]:
    """Every family in every colour, in a fixed order (30 scenes)."""
    return [SkyScene(f, c) for f in SKY_FAMILIES for c in SKY_COLOURS]


def _a(word: str) -> str:
    return ("an " if word[0] in "aeiou" else "a ") + word


# Caption templates per family; {c} is the colour word. The first template names the colour and is
# the scene's caption in evaluation; training draws among all of them (so "a beautiful galaxy", with
# no colour, is learnt as any colour of a spiral or elliptical galaxy).
TEMPLATES: dict[str, tuple[str, ...]] = {
    "spiral": (
        "{C} spiral galaxy",
        "a beautiful galaxy",
        "a galaxy",
        "a spiral galaxy",
        "a beautiful spiral galaxy",
        "{C} galaxy",
        "a beautiful {c} galaxy",
        "a bright {c} spiral galaxy",
        "a spiral galaxy in space",
        "{C} spiral galaxy on a black background",
        "a beautiful galaxy in the night sky",
        "a spiral galaxy with stars",
    ),
    "elliptical": (
        "{C} elliptical galaxy",
        "an elliptical galaxy",
        "a galaxy",
        "a bright elliptical galaxy",
        "{C} galaxy",
        "a beautiful elliptical galaxy",
        "a bright {c} galaxy in space",
        "{C} elliptical galaxy on a black background",
        "an elliptical galaxy in the night sky",
    ),
    "planet": (
        "{C} ringed planet",
        "a ringed planet",
        "a planet with rings",
        "{C} planet with rings",
        "a ringed planet on a black background",
        "a beautiful ringed planet",
        "a {c} planet",
        "a planet with rings in space",
        "a bright ringed planet in the night sky",
    ),
    "stars": (
        "{c} stars in the night sky",
        "stars",
        "a night sky with stars",
        "bright stars in space",
        "the night sky",
        "a beautiful night sky with stars",
        "{c} stars on a black background",
        "bright {c} stars",
        "stars in the night sky",
    ),
    "nebula": (
        "{C} nebula",
        "a nebula",
        "a beautiful nebula",
        "{C} nebula with stars",
        "a bright {c} nebula",
        "a nebula in space",
        "a beautiful {c} nebula in the night sky",
        "{C} nebula on a black background",
        "a nebula with stars",
    ),
}


def captions(scene: SkyScene) -> list[str]:
    """Every caption of `scene`, the one naming its colour and family first."""
    return [t.format(c=scene.colour, C=_a(scene.colour)) for t in TEMPLATES[scene.family]]


def random_caption(scene: SkyScene, rng: np.random.Generator) -> str:
    """One caption drawn at random (training): half the time the first one, which names the colour."""
    options = captions(scene)
    return options[0] if rng.random() < 0.5 else options[int(rng.integers(1, len(options)))]


def asked_for(prompt: str) -> tuple[str | None, str | None]:
    """(family, colour) a sky prompt asks for; family "galaxy" when it says galaxy without the kind.
    None where the prompt does not say (evaluation: what to check a picture against)."""
    ws = words(prompt)
    colour = next((w for w in ws if w in SKY_COLOURS), None)
    if "spiral" in ws:
        family = "spiral"
    elif "elliptical" in ws:
        family = "elliptical"
    elif "galaxy" in ws:
        family = "galaxy"
    elif "planet" in ws or "ringed" in ws or "rings" in ws:
        family = "planet"
    elif "nebula" in ws:
        family = "nebula"
    elif "stars" in ws or "night" in ws:
        family = "stars"
    else:
        family = None
    return family, colour


def matches(asked: str | None, seen: str) -> bool:
    """Does family `seen` (an analyzer verdict) answer a prompt asking for `asked`?"""
    return asked is None or asked == seen or (asked == "galaxy" and seen in ("spiral", "elliptical"))


# --- drawing -----------------------------------------------------------------------------------------------


def _grid(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates in -1..1 (x right, y down) of an n x n grid."""
    t = (np.arange(n, dtype=np.float32) + 0.5) / n * 2 - 1
    return np.meshgrid(t, t)


def _frame(x, y, cx, cy, angle, squash):
    """Coordinates in a frame centred at (cx, cy), turned by `angle`, with its y axis stretched by 1/squash."""
    ca, sa = math.cos(angle), math.sin(angle)
    dx, dy = x - cx, y - cy
    return dx * ca + dy * sa, (-dx * sa + dy * ca) / squash


def _down(img: np.ndarray, s: int) -> np.ndarray:
    """Box-filter an (n*s, n*s, C) array down by s (area average = antialiasing)."""
    n = img.shape[0] // s
    return img.reshape(n, s, n, s, -1).mean(axis=(1, 3))


def _tint(colour: np.ndarray, rng: np.random.Generator, amount: int = 14) -> np.ndarray:
    return np.clip(colour + rng.integers(-amount, amount + 1, size=3), 0, 255).astype(np.float32)


def _spiral(x, y, rng, colour):
    cx, cy = rng.uniform(-0.12, 0.12, size=2)
    angle, squash = rng.uniform(0, math.pi), rng.uniform(0.45, 1.0)
    radius, arms = rng.uniform(0.6, 0.85), int(rng.choice([2, 2, 3]))
    winding, turn = rng.uniform(2.2, 3.6) * rng.choice([-1.0, 1.0]), rng.uniform(0, 2 * math.pi)
    u, v = _frame(x, y, cx, cy, angle, squash)
    r = np.sqrt(u * u + v * v) / radius
    theta = np.arctan2(v, u)
    arm = (0.5 + 0.5 * np.cos(arms * (theta - winding * np.log(r + 0.08)) + turn)) ** 3
    disc = np.exp(-2.6 * r) * (r < 1.25)
    core = np.exp(-((r / 0.16) ** 2))
    light = (1.9 * arm * disc + 0.25 * disc)[..., None] * colour + core[..., None] * (0.6 * CORE + 0.4 * colour)
    return light


def _elliptical(x, y, rng, colour):
    cx, cy = rng.uniform(-0.1, 0.1, size=2)
    angle, squash, radius = rng.uniform(0, math.pi), rng.uniform(0.45, 0.85), rng.uniform(0.7, 0.95)
    u, v = _frame(x, y, cx, cy, angle, squash)
    r = np.sqrt(u * u + v * v) / radius
    glow = np.exp(-2.6 * r**0.9)
    return 1.25 * glow[..., None] * colour + (glow**5)[..., None] * CORE * 0.5


def _planet(x, y, rng, colour):
    cx, cy = rng.uniform(-0.12, 0.12, size=2)
    radius = rng.uniform(0.3, 0.42)
    tilt, squash = rng.uniform(-0.5, 0.5), rng.uniform(0.22, 0.42)
    inner, outer = radius * rng.uniform(1.25, 1.4), radius * rng.uniform(1.75, 2.1)
    # the disc: lit from the upper left, with faint bands along the ring plane
    dx, dy = (x - cx) / radius, (y - cy) / radius
    d2 = dx * dx + dy * dy
    inside = d2 < 1.0
    z = np.sqrt(np.clip(1.0 - d2, 0.0, 1.0))
    light = np.array([-0.5, -0.55, 0.67])
    shade = np.clip(dx * light[0] + dy * light[1] + z * light[2], 0.0, 1.0) * 0.85 + 0.15
    band_v = -dx * math.sin(tilt) + dy * math.cos(tilt)
    bands = 1.0 + 0.12 * np.sin(band_v * rng.uniform(9, 14) + rng.uniform(0, 6.3))
    disc = (inside * shade * bands)[..., None] * colour
    # the ring: an annulus in a tilted plane; its far half is hidden behind the disc
    u, v = _frame(x, y, cx, cy, tilt, squash)
    rr = np.sqrt(u * u + v * v)
    ring = ((rr > inner) & (rr < outer)).astype(np.float32)
    gap = np.abs(rr - (inner + 0.62 * (outer - inner))) < 0.035 * radius / 0.35
    ring = ring * np.where(gap, 0.25, 0.85)
    behind = (v < 0) & inside
    ring = np.where(behind, 0.0, ring)
    ring_colour = 0.55 * colour + 0.45 * np.array((235, 225, 200), dtype=np.float32)
    return disc * (1 - ring[..., None]) + ring[..., None] * ring_colour


def _noise(n: int, rng: np.random.Generator, octaves=(3, 5, 9, 17)) -> np.ndarray:
    """Smooth fractal noise in about 0..1 on an n x n grid (random grids, bicubic-upsampled and summed)."""
    total = np.zeros((n, n), dtype=np.float32)
    weight = 1.0
    for k in octaves:
        small = Image.fromarray(rng.random((k, k)).astype(np.float32), mode="F")
        total += weight * np.asarray(small.resize((n, n), Image.Resampling.BICUBIC), dtype=np.float32)
        weight *= 0.5
    return total / sum(0.5**i for i in range(len(octaves)))


def _nebula(x, y, rng, colour):
    n = x.shape[0]
    cx, cy = rng.uniform(-0.2, 0.2, size=2)
    spread = rng.uniform(0.55, 0.85)
    envelope = np.exp(-(((x - cx) ** 2 + (y - cy) ** 2) / spread**2))
    gas = np.clip(_noise(n, rng) * 1.8 - 0.55, 0.0, None) * envelope
    gas = gas / max(float(gas.max()), 0.35)  # every nebula as bright at its brightest
    wisps = np.clip(_noise(n, rng) * 1.8 - 0.7, 0.0, None) * envelope
    lighter = 0.6 * colour + 0.4 * CORE  # hotter, paler gas in places: the colour stays the dominant one
    return 1.0 * gas[..., None] * colour + 0.5 * wisps[..., None] * lighter


def _point_stars(
    img: np.ndarray,
    rng: np.random.Generator,
    count: int,
    tint: np.ndarray | None,
    brightness=(0.25, 0.9),
    spikes: int = 0,
) -> None:
    """Add `count` one-pixel stars (and `spikes` bright ones with a cross) to img (H, W, 3) in place."""
    n = img.shape[0]
    white = np.array((235, 235, 245), dtype=np.float32)
    for k in range(count + spikes):
        yx = rng.integers(0, n, size=2)
        level = rng.uniform(*brightness) if k < count else 1.0
        c = white if tint is None else 0.2 * white + 0.8 * tint
        img[yx[0], yx[1]] = np.maximum(img[yx[0], yx[1]], level * c)  # the brighter light wins: hues never clip
        if k >= count:  # a bright star: a small cross of light
            for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
                py, px = yx[0] + dy, yx[1] + dx
                if 0 <= py < n and 0 <= px < n:
                    img[py, px] = np.maximum(img[py, px], 0.5 * c)


def render(scene: SkyScene, size: int = 32, rng: np.random.Generator | None = None) -> np.ndarray:
    """One image (size, size, 3) uint8 of `scene`; the same rng state gives the same pixels."""
    if scene.family not in SKY_FAMILIES or scene.colour not in SKY_COLOURS:
        raise ValueError(f"unknown sky scene {scene!r}")
    rng = rng if rng is not None else np.random.default_rng(0)
    colour = _tint(np.array(SKY_COLOURS[scene.colour], dtype=np.float32), rng)
    sky = np.array(SKY, dtype=np.float32) + rng.integers(0, SKY_JITTER + 1, size=3)
    x, y = _grid(size * SUPERSAMPLE)
    draw = {"spiral": _spiral, "elliptical": _elliptical, "planet": _planet, "nebula": _nebula}.get(scene.family)
    img = np.broadcast_to(sky, (size, size, 3)).copy()
    area = size * size / 1024  # star counts scale with the image area (32x32: 1)
    if draw is not None:
        img += _down(draw(x, y, rng, colour), SUPERSAMPLE)
        faint = 6 if scene.family != "nebula" else 14
        _point_stars(img, rng, max(1, round(faint * area)), None, brightness=(0.15, 0.55))
    else:  # a star field: many stars of the colour, a few bright ones
        _point_stars(
            img,
            rng,
            round(rng.uniform(45, 70) * area),
            colour,
            brightness=(0.2, 0.95),
            spikes=max(1, round(rng.integers(2, 5) * area)),
        )
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)
