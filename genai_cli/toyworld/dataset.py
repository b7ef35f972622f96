"""Render a toy-world dataset once, to one safetensors file (training reads tensors, never draws).

File layout (all tensors; metadata holds the label names and the recipe):
    images      (N, size, size, 3) uint8
    shape       (N,) int64   index into ALL_SHAPES (the held-out shape included)
    colour      (N,) int64   index into COLOURS
    background  (N,) int64   index into BACKGROUNDS
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
from genai_cli.toyworld.world import ALL_SHAPES, BACKGROUNDS, COLOURS, HELD_OUT, SHAPES, Scene, all_scenes, caption


@dataclass
class Dataset:
    images: np.ndarray  # (N, H, W, 3) uint8
    shape: np.ndarray  # (N,) int64
    colour: np.ndarray  # (N,) int64
    background: np.ndarray  # (N,) int64
    meta: dict

    def __len__(self) -> int:
        return len(self.images)

    def scene(self, i: int) -> Scene:
        return Scene(ALL_SHAPES[self.shape[i]], list(COLOURS)[self.colour[i]], list(BACKGROUNDS)[self.background[i]])

    def captions(self, held_out_token: str | None = None) -> list[str]:
        """Captions of every image; the held-out shape's word replaced by `held_out_token` if given."""
        colours, backgrounds = list(COLOURS), list(BACKGROUNDS)
        out = []
        for s, c, b in zip(self.shape, self.colour, self.background):
            shape = ALL_SHAPES[s]
            if held_out_token is not None and shape == HELD_OUT:
                shape = held_out_token
            out.append(caption(shape, colours[c], backgrounds[b]))
        return out


def build(n_per_scene: int, size: int = 64, seed: int = 0, include_held_out: bool = True,
          progress: Callable[[int, int], None] | None = None) -> Dataset:
    """n_per_scene images of every drawable scene, in a seeded random order.

    Image k of the (unshuffled) list is drawn from image_rng(seed, k): the same call gives the same bytes.
    """
    scenes = all_scenes(include_held_out)
    total = len(scenes) * n_per_scene
    images = np.empty((total, size, size, 3), dtype=np.uint8)
    labels = np.empty((total, 3), dtype=np.int64)
    colours, backgrounds = list(COLOURS), list(BACKGROUNDS)
    k = 0
    for scene in scenes:
        for _ in range(n_per_scene):
            images[k] = R.render(scene, size, R.image_rng(seed, k))
            labels[k] = (ALL_SHAPES.index(scene.shape), colours.index(scene.colour), backgrounds.index(scene.background))
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
        "genai.recipe": json.dumps({"n_per_scene": n_per_scene, "size": size, "seed": seed,
                                    "include_held_out": include_held_out, "scenes": len(scenes)}),
    }
    return Dataset(images[order], labels[order, 0].copy(), labels[order, 1].copy(), labels[order, 2].copy(), meta)


def save(ds: Dataset, path: str | os.PathLike) -> Path:
    """Write atomically (temp name + rename)."""
    from safetensors.numpy import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    save_file({"images": np.ascontiguousarray(ds.images), "shape": ds.shape, "colour": ds.colour,
               "background": ds.background}, str(tmp), metadata=ds.meta)
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
    return Dataset(t["images"], t["shape"], t["colour"], t["background"], meta)
