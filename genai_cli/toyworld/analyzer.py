"""The analyzer: a small CNN that reads shape, colour and background off a toy-world image.

It judges generated images (scripts/toyworld/evaluate.py) and tests the renderer. The file is a
genai CNN safetensors file (the format of genai_cli/conv/cnn.py: the layer list in metadata,
torch-style tensors), so `genai conv` can load it by path; its one output layer holds three heads
side by side, whose slices are in the metadata (`genai.heads`).
scripts/toyworld/train_analyzer.py trains it on clean renders. With --sky (issue 15) it also reads the
night sky: two more heads, `family` (shape, spiral, elliptical, planet, stars, nebula) and `sky_colour`
(the dominant colour of a sky image); that file is SKY_PATH until it replaces the shipped one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genai_cli import models
from genai_cli.toyworld.world import ALL_SHAPES, BACKGROUNDS, COLOURS, SKY_COLOURS, SKY_FAMILIES

PATH = models.builtin("toy-analyzer", "cnn")  # genai_cli/toyworld/data/analyzer.safetensors
SKY_PATH = PATH.with_name("analyzer-sky.safetensors")  # shapes + night sky
INPUT_SIZE = 32  # images are box-filtered to 32x32 RGB before the network sees them
HEADS = {"shape": list(ALL_SHAPES), "colour": list(COLOURS), "background": list(BACKGROUNDS)}
# the shape heads say nothing useful about a sky image, nor the sky heads about a shape image
SKY_HEADS = {**HEADS, "family": ["shape", *SKY_FAMILIES], "sky_colour": list(SKY_COLOURS)}

# The architecture, as data; (C, H, W) after each step.
LAYERS = [
    {"type": "conv2d", "name": "conv1", "in": 3, "out": 16, "kernel": 3, "stride": 1, "padding": 1},  # (16, 32, 32)
    {"type": "relu"},
    {"type": "maxpool2d", "size": 2},  # (16, 16, 16)
    {"type": "conv2d", "name": "conv2", "in": 16, "out": 32, "kernel": 3, "stride": 1, "padding": 1},  # (32, 16, 16)
    {"type": "relu"},
    {"type": "maxpool2d", "size": 2},  # (32, 8, 8)
    {"type": "conv2d", "name": "conv3", "in": 32, "out": 64, "kernel": 3, "stride": 1, "padding": 1},  # (64, 8, 8)
    {"type": "relu"},
    {"type": "maxpool2d", "size": 2},  # (64, 4, 4)
    {"type": "conv2d", "name": "conv4", "in": 64, "out": 64, "kernel": 3, "stride": 1, "padding": 1},  # (64, 4, 4)
    {"type": "relu"},
    {"type": "maxpool2d", "size": 4},  # (64, 1, 1): a global max: where the shape is no longer matters
    {"type": "flatten"},  # (64,)
    {"type": "linear", "name": "fc1", "in": 64, "out": 64},  # (64,)
    {"type": "relu"},
    {"type": "linear", "name": "fc2", "in": 64, "out": sum(len(v) for v in HEADS.values())},  # (17,) = 7 + 6 + 4 logits
]


def layers_for(heads: dict[str, list[str]]) -> list[dict]:
    """LAYERS with the output layer sized for `heads` (17 logits for HEADS, 29 for SKY_HEADS)."""
    return [*LAYERS[:-1], {**LAYERS[-1], "out": sum(len(v) for v in heads.values())}]


def head_slices(heads: dict[str, list[str]] = HEADS) -> dict[str, slice]:
    out, start = {}, 0
    for name, labels in heads.items():
        out[name] = slice(start, start + len(labels))
        start += len(labels)
    return out


def to_input(images: np.ndarray, size: int = INPUT_SIZE) -> np.ndarray:
    """(N, H, W, 3) uint8 (any H = W) -> (N, 3, size, size) float32 in 0..1."""
    from PIL import Image

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    if images.shape[1:3] != (size, size):
        images = np.stack(
            [
                np.asarray(
                    Image.fromarray(im).resize(
                        (size, size), Image.Resampling.BOX if im.shape[0] >= size else Image.Resampling.BILINEAR
                    )
                )
                for im in images
            ]
        )
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32) / 255.0  # C-contiguous (N, 3, h, w)


@dataclass
class Verdict:
    shape: str
    colour: str
    background: str
    confidence: dict[str, float]  # head -> probability of the chosen label
    family: str | None = None  # shape, spiral, elliptical, planet, stars, nebula (None: an analyzer without the sky)
    sky_colour: str | None = None  # the dominant colour, read as if the image were a sky image

    def to_json(self) -> dict:
        out = {"shape": self.shape, "colour": self.colour, "background": self.background, "confidence": self.confidence}
        if self.family is not None:
            out.update(family=self.family, sky_colour=self.sky_colour)
        return out


class Analyzer:
    """analyzer(images) -> list[Verdict]. Runs in torch on the CPU, in batches."""

    def __init__(self, model, heads: dict[str, list[str]], meta: dict):
        self.model, self.heads, self.meta = model, heads, meta
        self.slices = head_slices(heads)

    @property
    def accuracy(self) -> dict:
        return json.loads(self.meta.get("genai.accuracy", "{}"))

    def logits(self, images: np.ndarray, batch: int = 256) -> np.ndarray:
        """(N, H, W, 3) uint8 -> (N, 17) logits."""
        import torch

        x = to_input(images)
        out = []
        with torch.no_grad():
            for i in range(0, len(x), batch):
                out.append(self.model(torch.from_numpy(x[i : i + batch])).numpy())
        return np.concatenate(out) if out else np.zeros((0, sum(len(v) for v in self.heads.values())), np.float32)

    def predict(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """-> {head: (N,) label indices}."""
        z = self.logits(images)
        return {name: z[:, s].argmax(1) for name, s in self.slices.items()}

    def __call__(self, images: np.ndarray) -> list[Verdict]:
        z = self.logits(images)
        verdicts = []
        for row in z:
            labels, conf = {}, {}
            for name, s in self.slices.items():
                p = np.exp(row[s] - row[s].max())
                p /= p.sum()
                k = int(p.argmax())
                labels[name], conf[name] = self.heads[name][k], round(float(p[k]), 4)
            verdicts.append(
                Verdict(
                    labels["shape"],
                    labels["colour"],
                    labels["background"],
                    conf,
                    labels.get("family"),
                    labels.get("sky_colour"),
                )
            )
        return verdicts


def load(path: str | Path | None = None) -> Analyzer:
    """Load the shipped analyzer (or another file of the same format) — safetensors only, no pickles."""
    import torch
    from safetensors import safe_open
    from safetensors.numpy import load_file

    path = Path(path) if path is not None else PATH
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: run scripts/toyworld/train_analyzer.py")
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata() or {}
    if meta.get("genai.kind") != "cnn" or "genai.heads" not in meta:
        raise ValueError(f"{path} is not a toy-world analyzer (no genai.heads in its metadata)")
    layers = json.loads(meta["genai.layers"])
    heads = json.loads(meta["genai.heads"])
    from genai_cli.conv.cnn import torch_module

    model = torch_module(layers)
    tensors = load_file(str(path))
    state = {k: torch.from_numpy(v) for k, v in tensors.items() if k not in ("samples", "sample_labels")}
    model.load_state_dict(state)
    model.eval()
    return Analyzer(model, heads, meta)
