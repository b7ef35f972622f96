"""The toy world: one coloured shape on a coloured background, and the captions that name it.

    a red star on a blue background
    an orange heart on a white background

Shapes, colours and backgrounds are data (name -> geometry or RGB), so the renderer, the
caption parser, the tokenizer vocabulary and the analyzer's labels all read the same lists.

HELD_OUT ("moon", a crescent) is drawn by the renderer and present in the training images,
but its word is not in the shipped vocabulary: the model learns it under a private token whose
embedding row is removed before shipping, so it is the concept to recover with textual inversion.
"""

from __future__ import annotations

from dataclasses import dataclass

# Shapes whose words the shipped model knows. Geometry lives in render.py.
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star", "cross", "heart")
HELD_OUT = "moon"  # a crescent: in the images, not in the vocabulary (textual inversion target)
ALL_SHAPES: tuple[str, ...] = SHAPES + (HELD_OUT,)  # what the renderer and the analyzer know

# Shape colours, RGB 0..255 (well apart from each other, so a small classifier reads them exactly).
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (255, 140, 0),
    "yellow": (250, 220, 20),
    "green": (30, 170, 60),
    "blue": (30, 90, 235),
    "purple": (140, 50, 190),
}
# Background colours. "blue" is both: a blue shape on a blue background is not part of the world.
BACKGROUNDS: dict[str, tuple[int, int, int]] = {
    "white": (245, 245, 245),
    "black": (15, 15, 15),
    "gray": (128, 128, 128),
    "blue": (25, 55, 150),
}
FILLER_WORDS: tuple[str, ...] = ("a", "an", "on", "background")  # the words of the caption template

# The night sky (issue 15; genai_cli/toyworld/sky.py draws it): families, their colours and caption words.
# In the shipped model's vocabulary (vocab.model_words()) since issue 15.
SKY_FAMILIES: tuple[str, ...] = ("spiral", "elliptical", "planet", "stars", "nebula")
SKY_COLOURS: dict[str, tuple[int, int, int]] = {  # the dominant colour of a sky object (a caption may name it)
    "red": (235, 60, 50),
    "orange": (255, 150, 40),
    "yellow": (250, 225, 80),
    "blue": (70, 130, 255),
    "purple": (170, 80, 230),
    "white": (240, 240, 250),
}
SKY_WORDS: tuple[str, ...] = (
    "galaxy",
    "spiral",
    "elliptical",
    "planet",
    "ringed",
    "rings",
    "stars",
    "nebula",
    "night",
    "sky",
    "space",
    "beautiful",
    "bright",
    "with",
    "in",
    "the",
)

SKY_NOUNS = frozenset(SKY_WORDS) - {"beautiful", "bright", "with", "in", "the"}  # a caption with one is a sky's


@dataclass(frozen=True)
class Scene:
    """What one image shows (its caption) — not where: position and size are drawn by the renderer."""

    shape: str
    colour: str
    background: str

    @property
    def caption(self) -> str:
        return caption(self.shape, self.colour, self.background)


def caption(shape: str, colour: str, background: str) -> str:
    """`a red star on a blue background` ("an" before a vowel)."""
    article = "an" if colour[0] in "aeiou" else "a"
    return f"{article} {colour} {shape} on a {background} background"


def drawable(shape: str, colour: str, background: str) -> bool:
    """False for a shape the colour of its background (it could not be seen)."""
    return COLOURS.get(colour) is not None and colour != background


def all_scenes(include_held_out: bool = True) -> list[Scene]:
    """Every drawable (shape, colour, background), in a fixed order."""
    shapes = ALL_SHAPES if include_held_out else SHAPES
    return [Scene(s, c, b) for s in shapes for c in COLOURS for b in BACKGROUNDS if drawable(s, c, b)]


def world_words() -> list[str]:
    """Every word a caption may use (the held-out shape included: the renderer can draw it)."""
    return list(dict.fromkeys([*FILLER_WORDS, *ALL_SHAPES, *COLOURS, *BACKGROUNDS, *SKY_WORDS, *SKY_COLOURS]))


def words(text: str) -> list[str]:
    """Lower-cased words of a caption, punctuation around them dropped."""
    return [w.strip(".,;:!?\"'") for w in text.lower().split() if w.strip(".,;:!?\"'")]


class CaptionError(ValueError):
    """A caption the world cannot draw. `unknown` lists the words it does not know."""

    def __init__(self, message: str, unknown: list[str] | None = None):
        super().__init__(message)
        self.unknown = unknown or []


def parse_caption(text: str):
    """`a red star on a blue background` -> Scene("star", "red", "blue"); a night sky scene's own caption
    (`a blue spiral galaxy`, `purple stars in the night sky`: sky.SkyScene.caption) -> that SkyScene;
    CaptionError otherwise (a long caption or word is shortened in the message: errors.shorten)."""
    from genai_cli.errors import shorten

    ws = words(text)
    known = set(world_words())
    unknown = [w for w in dict.fromkeys(ws) if w not in known]
    if unknown:
        raise CaptionError(
            f"the toy world does not know: {', '.join((w if len(w) <= 40 else shorten(w)) for w in unknown[:10])}",
            unknown,
        )
    if set(ws) & SKY_NOUNS:
        from genai_cli.toyworld import sky

        scene = {tuple(words(sc.caption)): sc for sc in sky.sky_scenes()}.get(tuple(ws))
        if scene is None:
            raise CaptionError(
                f"{shorten(text)} is not a night sky caption: 'a <colour> spiral galaxy', 'a <colour> elliptical"
                " galaxy', 'a <colour> ringed planet', '<colour> stars in the night sky' or 'a <colour> nebula'"
                f" (colours: {', '.join(SKY_COLOURS)})"
            )
        return scene
    if len(ws) != 7 or ws[0] not in ("a", "an") or ws[3:5] != ["on", "a"] or ws[6] != "background":
        raise CaptionError(f"{shorten(text)} is not of the form 'a <colour> <shape> on a <background> background'")
    colour, shape, background = ws[1], ws[2], ws[5]
    if colour not in COLOURS:
        raise CaptionError(f"{colour!r} is not a shape colour (second word)")
    if shape not in ALL_SHAPES:
        raise CaptionError(f"{shape!r} is not a shape (third word)")
    if background not in BACKGROUNDS:
        raise CaptionError(f"{background!r} is not a background (sixth word)")
    if not drawable(shape, colour, background):
        raise CaptionError(
            f"a {colour} {shape} on a {background} background could not be seen: pick another background"
        )
    return Scene(shape, colour, background)
