"""The toy world: a synthetic world of coloured shapes, its renderer, dataset, tokenizer and analyzer.

It is the training world of genai's built-in small Stable Diffusion (scripts/toyworld/).
"""

from genai_cli.toyworld.world import (  # noqa: F401
    ALL_SHAPES,
    BACKGROUNDS,
    COLOURS,
    HELD_OUT,
    SHAPES,
    CaptionError,
    Scene,
    all_scenes,
    caption,
    parse_caption,
)
