"""Render a toy-world dataset once, to one safetensors file (training reads tensors, never draws).

File layout (all tensors; metadata holds the label names and the recipe):
    images      (N, size, size, 3) uint8
    shape       (N,) int64   index into ALL_SHAPES (the held-out shape included)
    colour      (N,) int64   index into COLOURS
    background  (N,) int64   index into BACKGROUNDS
With the night sky (build(..., sky_per_scene=K), issue 15), also:
    family      (N,) int64   0 for a shape image, 1 + index into SKY_FAMILIES for a sky image
    sky_colour  (N,) int64   index into SKY_COLOURS (-1 for a shape image)
    sky_caption (N,) int64   which of sky.captions(scene) the image is captioned with (-1 for a shape image)
and shape, colour, background are -1 for a sky image. Without the sky the file is what it always was.
Captions are rebuilt from the labels (`captions()`), so they need no string tensor.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from genai_cli.toyworld import render as R
from genai_cli.toyworld.world import (
    ALL_SHAPES,
    BACKGROUNDS,
    COLOURS,
    HELD_OUT,
    SHAPES,
    SKY_COLOURS,
    SKY_FAMILIES,
    Scene,
    all_scenes,
    caption,
)

FAMILIES: tuple[str, ...] = ("shape",) + SKY_FAMILIES  # the `family` label: 0 = a shape on a background


@dataclass
class Dataset:
    images: np.ndarray  # (N, H, W, 3) uint8
    shape: np.ndarray  # (N,) int64
    colour: np.ndarray  # (N,) int64
    background: np.ndarray  # (N,) int64
    meta: dict
    family: np.ndarray | None = None  # (N,) int64: 0 shape, 1.. sky family; None: shapes only
    sky_colour: np.ndarray | None = None  # (N,) int64, -1 for shapes
    sky_caption: np.ndarray | None = None  # (N,) int64, -1 for shapes

    def __len__(self) -> int:
        return len(self.images)

    @property
    def has_sky(self) -> bool:
        return self.family is not None and bool((self.family > 0).any())

    def sky_scene(self, i: int):
        """The SkyScene of image i (a sky image), else None."""
        from genai_cli.toyworld.sky import SkyScene

        if self.family is None or self.family[i] == 0:
            return None
        return SkyScene(FAMILIES[self.family[i]], list(SKY_COLOURS)[self.sky_colour[i]])

    def scene(self, i: int) -> Scene:
        return Scene(ALL_SHAPES[self.shape[i]], list(COLOURS)[self.colour[i]], list(BACKGROUNDS)[self.background[i]])

    def captions(self, held_out_token: str | None = None) -> list[str]:
        """Captions of every image; the held-out shape's word replaced by `held_out_token` if given."""
        colours, backgrounds = list(COLOURS), list(BACKGROUNDS)
        out = []
        for i, (s, c, b) in enumerate(zip(self.shape, self.colour, self.background)):
            sky = self.sky_scene(i)
            if sky is not None:
                from genai_cli.toyworld.sky import captions as sky_captions

                out.append(sky_captions(sky)[self.sky_caption[i]])
                continue
            shape = ALL_SHAPES[s]
            if held_out_token is not None and shape == HELD_OUT:
                shape = held_out_token
            out.append(caption(shape, colours[c], backgrounds[b]))
        return out


def build(
    n_per_scene: int,
    size: int = 64,
    seed: int = 0,
    include_held_out: bool = True,
    progress: Callable[[int, int], None] | None = None,
    sky_per_scene: int = 0,
) -> Dataset:
    """n_per_scene images of every drawable scene (and sky_per_scene of each of the 30 sky scenes),
    in a seeded random order.

    Image k of the (unshuffled) list is drawn from image_rng(seed, k): the same call gives the same bytes;
    the shape images come first, so with sky_per_scene=0 the dataset is exactly the shapes-only one.
    """
    from genai_cli.toyworld import sky as S

    scenes = all_scenes(include_held_out)
    skies = S.sky_scenes() if sky_per_scene > 0 else []
    n_shapes = len(scenes) * n_per_scene
    total = n_shapes + len(skies) * sky_per_scene
    images = np.empty((total, size, size, 3), dtype=np.uint8)
    labels = np.full((total, 3), -1, dtype=np.int64)
    sky_labels = np.full((total, 3), -1, dtype=np.int64)  # family, sky colour, caption
    sky_labels[:n_shapes, 0] = 0
    colours, backgrounds = list(COLOURS), list(BACKGROUNDS)
    k = 0
    for scene in scenes:
        for _ in range(n_per_scene):
            images[k] = R.render(scene, size, R.image_rng(seed, k))
            labels[k] = (
                ALL_SHAPES.index(scene.shape),
                colours.index(scene.colour),
                backgrounds.index(scene.background),
            )
            k += 1
            if progress is not None and (k % 500 == 0 or k == total):
                progress(k, total)
    for scene in skies:
        for _ in range(sky_per_scene):
            rng = R.image_rng(seed, k)
            images[k] = S.render(scene, size, rng)
            options = S.captions(scene)
            pick = S.random_caption(scene, rng)  # drawn after the pixels, from the same stream
            sky_labels[k] = (FAMILIES.index(scene.family), list(SKY_COLOURS).index(scene.colour), options.index(pick))
            k += 1
            if progress is not None and (k % 500 == 0 or k == total):
                progress(k, total)
    order = np.random.default_rng(seed).permutation(total)
    meta = {
        "genai.kind": "toyworld-dataset",
        "genai.shapes": json.dumps(list(ALL_SHAPES)),
        "genai.public_shapes": json.dumps(list(SHAPES)),
        "genai.held_out": HELD_OUT,
        "genai.colours": json.dumps(colours),
        "genai.backgrounds": json.dumps(backgrounds),
        "genai.recipe": json.dumps(
            {
                "n_per_scene": n_per_scene,
                "size": size,
                "seed": seed,
                "include_held_out": include_held_out,
                "scenes": len(scenes),
            }
        ),
    }
    if not skies:
        return Dataset(images[order], labels[order, 0].copy(), labels[order, 1].copy(), labels[order, 2].copy(), meta)
    meta["genai.families"] = json.dumps(list(FAMILIES))
    meta["genai.sky_colours"] = json.dumps(list(SKY_COLOURS))
    recipe = json.loads(meta["genai.recipe"])
    meta["genai.recipe"] = json.dumps({**recipe, "sky_per_scene": sky_per_scene, "sky_scenes": len(skies)})
    return Dataset(
        images[order],
        labels[order, 0].copy(),
        labels[order, 1].copy(),
        labels[order, 2].copy(),
        meta,
        sky_labels[order, 0].copy(),
        sky_labels[order, 1].copy(),
        sky_labels[order, 2].copy(),
    )


def save(ds: Dataset, path: str | os.PathLike) -> Path:
    """Write atomically (temp name + rename)."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tensors = {
        "images": np.ascontiguousarray(ds.images),
        "shape": ds.shape,
        "colour": ds.colour,
        "background": ds.background,
    }
    if ds.family is not None:
        tensors.update(family=ds.family, sky_colour=ds.sky_colour, sky_caption=ds.sky_caption)
    save_file(tensors, str(tmp), metadata=ds.meta)
    os.replace(tmp, path)
    return path


def load(path: str | os.PathLike) -> Dataset:
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as f:
        meta = f.metadata() or {}
        if meta.get("genai.kind") != "toyworld-dataset":
            raise ValueError(f"{path} is not a toy-world dataset (made by scripts/toyworld/make_dataset.py)")
        t = {k: f.get_tensor(k) for k in f.keys()}
    if json.loads(meta["genai.shapes"]) != list(ALL_SHAPES) or json.loads(meta["genai.colours"]) != list(COLOURS):
        raise ValueError(f"{path} was made for another version of the toy world: make it again")
    if "family" in t and (
        json.loads(meta.get("genai.families", "[]")) != list(FAMILIES)
        or json.loads(meta.get("genai.sky_colours", "[]")) != list(SKY_COLOURS)
    ):
        raise ValueError(f"{path} was made for another version of the toy world's sky: make it again")
    return Dataset(
        t["images"],
        t["shape"],
        t["colour"],
        t["background"],
        meta,
        t.get("family"),
        t.get("sky_colour"),
        t.get("sky_caption"),
    )
