"""Small trained CNNs that ship with genai, run in NumPy.

A CNN file is a safetensors file whose metadata holds the architecture as a layer list
(`genai.layers`: conv2d / relu / maxpool2d / flatten / linear), how inputs look
(`genai.input`), the class labels and its recorded accuracy; its tensors are the
torch-style parameters (`conv1.weight` (C_out, C_in, kh, kw), `conv1.bias` ...) and a few
built-in sample inputs (`samples` (N, C, H, W), `sample_labels` (N,)).
scripts/train_digits_cnn.py writes one. REGISTRY names the built-in ones; a path to any
such file works too, so another network (the toy-world analyzer) plugs in with one entry.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from genai_cli.conv import ops
from genai_cli.errors import GenaiError, UsageError

DATA = Path(__file__).resolve().parent / "data"

# name -> file inside genai_cli/conv/data
REGISTRY: dict[str, str | Path] = {
    "digits-cnn": "digits-cnn.safetensors",  # 3 conv layers, 8x8 handwritten digits, ~98% held-out accuracy
    # 4 conv layers, 32x32 RGB toy-world images -> shape, colour, background (the toy model's judge)
    "toy-analyzer": DATA.parent.parent / "toyworld" / "data" / "analyzer.safetensors",
}


@dataclass
class CNN:
    name: str
    layers: list[dict]  # the architecture, in order
    params: dict[str, np.ndarray]  # "conv1.weight" (C_out, C_in, kh, kw), "conv1.bias" (C_out,), ...
    input: dict  # {"channels", "height", "width", "invert_light_background"}
    labels: list[str]
    meta: dict[str, str] = field(default_factory=dict)  # all metadata, raw
    samples: np.ndarray | None = None  # (N, C, H, W) inputs in 0..1
    sample_labels: np.ndarray | None = None  # (N,)

    @property
    def conv_layers(self) -> list[dict]:
        return [spec for spec in self.layers if spec["type"] == "conv2d"]

    @property
    def accuracy(self) -> dict:
        return json.loads(self.meta.get("genai.accuracy", "{}"))

    @property
    def heads(self) -> dict[str, list[str]]:
        """Several classifiers side by side in one output (the toy analyzer: shape, colour, background);
        one head named "" for an ordinary classifier."""
        heads = json.loads(self.meta.get("genai.heads", "{}"))
        return heads or {"": list(self.labels)}

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """A softmax over each head's slice of the output -> (num_outputs,)."""
        out, start = np.empty_like(logits), 0
        for labels in self.heads.values():
            z = logits[start:start + len(labels)]
            e = np.exp(z - z.max())
            out[start:start + len(labels)] = e / e.sum()
            start += len(labels)
        return out

    def predict(self, logits: np.ndarray) -> tuple[str, float]:
        """("star, red, blue", the lowest of the heads' top probabilities)."""
        probs, start, names, confidence = self.probabilities(logits), 0, [], 1.0
        for labels in self.heads.values():
            k = int(np.argmax(probs[start:start + len(labels)]))
            names.append(labels[k])
            confidence = min(confidence, float(probs[start + k]))
            start += len(labels)
        return ", ".join(names), confidence


def resolve_path(name: str) -> Path:
    if name in REGISTRY:
        return DATA / REGISTRY[name]  # an absolute entry stays as it is
    path = Path(name).expanduser()
    if path.is_file():
        return path
    raise UsageError(f"unknown CNN {name!r}: not a built-in name and not a file",
                     hint="built-in: " + ", ".join(REGISTRY) + "; or the path of a genai CNN .safetensors file")


def torch_module(layers: list[dict]):
    """The layer list -> a torch nn.Sequential whose state_dict keys match the file (conv1.weight ...),
    for training a genai CNN or running it in batches. NumPy's `forward` below needs no torch."""
    from collections import OrderedDict

    from torch import nn

    mods = OrderedDict()
    for i, spec in enumerate(layers):
        kind = spec["type"]
        if kind == "conv2d":
            mods[spec["name"]] = nn.Conv2d(spec["in"], spec["out"], spec["kernel"], spec.get("stride", 1), spec.get("padding", 0))
        elif kind == "linear":
            mods[spec["name"]] = nn.Linear(spec["in"], spec["out"])
        elif kind == "relu":
            mods[f"relu{i}"] = nn.ReLU()
        elif kind == "maxpool2d":
            mods[f"pool{i}"] = nn.MaxPool2d(spec["size"])
        elif kind == "flatten":
            mods[f"flatten{i}"] = nn.Flatten()
        else:
            raise ValueError(f"unknown layer type {kind!r}")
    return nn.Sequential(mods)


def load(name: str) -> CNN:
    """Load a built-in CNN by name, or a CNN safetensors file by path (no pickles involved)."""
    from safetensors import SafetensorError, safe_open

    path = resolve_path(name)
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as e:
        raise UsageError(f"{path} is not a readable safetensors file: {e}") from None
    if meta.get("genai.kind") != "cnn" or "genai.layers" not in meta:
        raise UsageError(f"{path} is not a genai CNN file (its metadata has no genai.layers)",
                         hint="scripts/train_digits_cnn.py shows how one is written")
    layers = json.loads(meta["genai.layers"])
    for spec in layers:
        for suffix in ("weight", "bias"):
            if "name" in spec and f"{spec['name']}.{suffix}" not in tensors:
                raise GenaiError(f"{path}: layer {spec['name']} has no {suffix} tensor")
    params = {k: v.astype(np.float32) for k, v in tensors.items() if k not in ("samples", "sample_labels")}
    return CNN(
        name=name if name in REGISTRY else path.name,
        layers=layers,
        params=params,
        input=json.loads(meta.get("genai.input", "{}")),
        labels=json.loads(meta.get("genai.labels", "[]")),
        meta=meta,
        samples=tensors.get("samples"),
        sample_labels=tensors.get("sample_labels"),
    )


def prepare(cnn: CNN, pixels: np.ndarray) -> np.ndarray:
    """A grey (H, W) or colour (H, W, 3) image with levels 0..255 -> the network's input (C, h, w) in 0..1.

    Resized to the network's input size; a light background (mean above mid-grey) is
    inverted when the network was trained on light strokes on a dark ground (as digits-cnn).
    """
    from PIL import Image

    h, w = cnn.input.get("height"), cnn.input.get("width")
    img = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
    if (h, w) != (pixels.shape[0], pixels.shape[1]):
        img = img.resize((w, h), Image.Resampling.BOX if pixels.shape[0] >= h else Image.Resampling.BILINEAR)
    x = np.asarray(img, dtype=np.float32) / 255.0  # (h, w) or (h, w, 3) in 0..1
    if cnn.input.get("invert_light_background") and x.mean() > 0.5:
        x = 1.0 - x
    if x.ndim == 3:
        return np.ascontiguousarray(x.transpose(2, 0, 1))  # (3, h, w)
    channels = cnn.input.get("channels", 1)
    return np.repeat(x[None], channels, axis=0)  # (C, h, w)


@dataclass
class Trace:
    conv_outputs: list[np.ndarray]  # per conv layer: (C_out, H, W), before its ReLU
    logits: np.ndarray  # (num_classes,)

    @property
    def probabilities(self) -> np.ndarray:
        z = self.logits - self.logits.max()
        e = np.exp(z)
        return e / e.sum()


def forward(cnn: CNN, x: np.ndarray) -> Trace:
    """Run the network on one input (C, H, W), keeping every conv layer's output."""
    conv_outputs = []
    for spec in cnn.layers:
        kind = spec["type"]
        if kind == "conv2d":
            name = spec["name"]
            x = ops.conv2d(x, cnn.params[f"{name}.weight"], cnn.params[f"{name}.bias"],
                           stride=spec.get("stride", 1), padding=spec.get("padding", 0))  # (C_out, H', W')
            conv_outputs.append(x)
        elif kind == "relu":
            x = ops.relu(x)
        elif kind == "maxpool2d":
            x = ops.pool2d(x, spec["size"], "max")  # (C, H/2, W/2)
        elif kind == "flatten":
            x = x.reshape(-1)
        elif kind == "linear":
            name = spec["name"]
            x = cnn.params[f"{name}.weight"] @ x + cnn.params[f"{name}.bias"]  # (out,)
        else:
            raise GenaiError(f"{cnn.name}: unknown layer type {kind!r}")
    return Trace(conv_outputs, x)
