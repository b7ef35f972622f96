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

from genai_cli import models
from genai_cli.conv import ops
from genai_cli.errors import GenaiError, UsageError, shorten

# the built-in CNNs: names of genai_cli.models.BUILTIN["cnn"] (digits-cnn: 3 conv layers, 8x8 handwritten digits,
# ~98% held-out accuracy; toy-analyzer: 4 conv layers, 32x32 RGB toy-world images -> shape, colour, background)
REGISTRY: tuple[str, ...] = tuple(models.BUILTIN["cnn"])


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
            z = logits[start : start + len(labels)]
            e = np.exp(z - z.max())
            out[start : start + len(labels)] = e / e.sum()
            start += len(labels)
        return out

    def predict(self, logits: np.ndarray) -> tuple[str, float]:
        """("star, red, blue", the lowest of the heads' top probabilities)."""
        probs, start, names, confidence = self.probabilities(logits), 0, [], 1.0
        for labels in self.heads.values():
            k = int(np.argmax(probs[start : start + len(labels)]))
            names.append(labels[k])
            confidence = min(confidence, float(probs[start + k]))
            start += len(labels)
        return ", ".join(names), confidence


def resolve_path(name: str) -> Path:
    shipped = models.builtin(name, "cnn")
    if shipped is not None:
        return shipped
    path = Path(name).expanduser()
    try:
        is_file, exists = path.is_file(), path.exists()
    except OSError:  # a name too long for the file system, ...
        is_file = exists = False
    if is_file:
        return path
    if exists:  # a folder, a FIFO ...: refused naming what it is
        from genai_cli.files import require_regular_file

        require_regular_file(path, "CNN")
    raise UsageError(
        f"unknown CNN {shorten(name)}: not a built-in name and not a file",
        hint="built-in: " + ", ".join(REGISTRY) + "; or the path of a genai CNN .safetensors file",
    )


def torch_module(layers: list[dict]):
    """The layer list -> a torch nn.Sequential whose state_dict keys match the file (conv1.weight ...),
    for training a genai CNN or running it in batches. NumPy's `forward` below needs no torch."""
    from collections import OrderedDict

    from torch import nn

    mods = OrderedDict()
    for i, spec in enumerate(layers):
        kind = spec["type"]
        if kind == "conv2d":
            mods[spec["name"]] = nn.Conv2d(
                spec["in"], spec["out"], spec["kernel"], spec.get("stride", 1), spec.get("padding", 0)
            )
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
    """Load a built-in CNN by name, or a CNN safetensors file by path (no pickles involved).

    A file is untrusted: its metadata JSON is parsed with size and depth limits, and the whole
    architecture (layer kinds, sizes within limits.py, tensor shapes and dtypes, the shapes flowing
    from the input to the labels) is checked before a tensor is read; any fault is a UsageError
    (exit 2) naming the file."""
    from safetensors import SafetensorError, safe_open

    from genai_cli.conv.limits import MAX_CNN_FILE_BYTES
    from genai_cli.files import require_regular_file

    path = resolve_path(name)
    require_regular_file(path, "CNN")
    if path.stat().st_size > MAX_CNN_FILE_BYTES:
        raise UsageError(f"{path}: CNN file larger than {MAX_CNN_FILE_BYTES // (1024 * 1024)} MiB")
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            slices = {key: f.get_slice(key) for key in f.keys()}
            shapes = {key: (tuple(sl.get_shape()), sl.get_dtype()) for key, sl in slices.items()}
            if meta.get("genai.kind") != "cnn" or "genai.layers" not in meta:
                raise UsageError(
                    f"{path} is not a genai CNN file (its metadata has no genai.layers)",
                    hint="scripts/train_digits_cnn.py shows how one is written",
                )
            spec = check_file(path, meta, shapes)  # before any tensor is read
            tensors = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        reason = str(e).splitlines()[0][:160] if str(e) else type(e).__name__
        raise UsageError(f"{path} is not a readable safetensors file: {reason}") from None
    params = {k: v.astype(np.float32) for k, v in tensors.items() if k not in ("samples", "sample_labels")}
    for key, value in params.items():
        if not np.isfinite(value).all():
            raise UsageError(f"{path}: tensor {key} holds NaN or infinite values")
    samples, sample_labels = tensors.get("samples"), tensors.get("sample_labels")
    if sample_labels is not None and not ((0 <= sample_labels) & (sample_labels < len(spec["labels"]))).all():
        raise UsageError(f"{path}: sample_labels must be label indices 0 to {len(spec['labels']) - 1}")
    if samples is not None and not np.isfinite(samples).all():
        raise UsageError(f"{path}: tensor samples holds NaN or infinite values")
    return CNN(
        name=name if name in REGISTRY else path.name,
        layers=spec["layers"],
        params=params,
        input=spec["input"],
        labels=spec["labels"],
        meta=meta,
        samples=samples,
        sample_labels=sample_labels,
    )


_FLOATS = ("F16", "F32", "F64")
_INTS = ("I8", "I16", "I32", "I64", "U8", "U16", "U32")


def check_file(path: Path, meta: dict[str, str], shapes: dict[str, tuple[tuple[int, ...], str]]) -> dict:
    """Validate a CNN file's metadata against its tensors' shapes (nothing read yet) and the limits.
    Returns {"layers", "input", "labels"}; raises a UsageError naming the file and the fault."""
    from genai_cli.conv import limits as L
    from genai_cli.files import load_json_limited

    def bad(message: str):
        raise UsageError(f"{path}: {message}", hint="a genai CNN file is written by scripts/train_digits_cnn.py")

    def json_value(key: str, default: str, kind: type):
        value = load_json_limited(
            meta.get(key, default), f"{path}: {key}", L.MAX_CNN_METADATA_DEPTH, L.MAX_CNN_METADATA_BYTES
        )
        if not isinstance(value, kind):
            bad(f"{key} must be a JSON {'list' if kind is list else 'object'}")
        return value

    def integer(value, lo: int, hi: int, what: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            bad(f"{what} must be an integer from {lo} to {hi}, got {str(value)[:40]}")
        return value

    def tensor(key: str, shape: tuple[int, ...], owner: str) -> None:
        if key not in shapes:
            bad(f"{owner} has no tensor {key}")
        got, dtype = shapes[key]
        if got != shape:
            bad(f"tensor {key} has shape {list(got)}, but {owner} needs {list(shape)}")
        if dtype not in _FLOATS:
            bad(f"tensor {key} is {dtype}; a CNN's weights are F16, F32 or F64")

    layers = json_value("genai.layers", "[]", list)
    inp = json_value("genai.input", "{}", dict)
    labels = json_value("genai.labels", "[]", list)
    heads = json_value("genai.heads", "{}", dict)
    json_value("genai.accuracy", "{}", dict)
    if not 1 <= len(layers) <= L.MAX_CNN_LAYERS:
        bad(f"genai.layers must list 1 to {L.MAX_CNN_LAYERS} layers, not {len(layers)}")
    c = integer(inp.get("channels", 1), 1, L.MAX_CNN_CHANNELS, "genai.input channels")
    h = integer(inp.get("height"), 1, L.MAX_CNN_INPUT_SIDE, "genai.input height")
    w = integer(inp.get("width"), 1, L.MAX_CNN_INPUT_SIDE, "genai.input width")
    if not isinstance(inp.get("invert_light_background", False), bool):
        bad("genai.input invert_light_background must be true or false")
    flat: int | None = None  # features after flatten (None while the data is still (C, H, W))
    names: set[str] = set()
    work = 0
    for i, spec in enumerate(layers, 1):
        where = f"genai.layers entry {i}"
        if not isinstance(spec, dict) or spec.get("type") not in ("conv2d", "relu", "maxpool2d", "flatten", "linear"):
            bad(f"{where} must be an object with type conv2d, relu, maxpool2d, flatten or linear")
        kind = spec["type"]
        if kind in ("conv2d", "linear"):
            name = spec.get("name")
            if not isinstance(name, str) or not name.isidentifier() or name in names:
                bad(f"{where} ({kind}) needs a unique name made of letters, digits and _")
            names.add(name)
            where = f"layer {name}"
        if kind == "conv2d":
            if flat is not None:
                bad(f"{where}: a conv2d layer cannot follow flatten")
            c_in = integer(spec.get("in"), 1, L.MAX_CNN_CHANNELS, f"{where} in")
            c_out = integer(spec.get("out"), 1, L.MAX_CNN_CHANNELS, f"{where} out")
            k = integer(spec.get("kernel"), 1, L.MAX_KERNEL_SIDE, f"{where} kernel")
            stride = integer(spec.get("stride", 1), 1, L.MAX_STRIDE, f"{where} stride")
            padding = integer(spec.get("padding", 0), 0, L.MAX_PADDING, f"{where} padding")
            if c_in != c:
                bad(f"{where} takes {c_in} channels, but the layer before gives {c}")
            if k > h + 2 * padding or k > w + 2 * padding:
                bad(f"{where}: kernel {k} is larger than its padded input {h + 2 * padding}x{w + 2 * padding}")
            tensor(f"{name}.weight", (c_out, c_in, k, k), where)
            tensor(f"{name}.bias", (c_out,), where)
            h, w = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
            c = c_out
            work += c_out * c_in * k * k * h * w
        elif kind == "maxpool2d":
            if flat is not None:
                bad(f"{where}: maxpool2d cannot follow flatten")
            size = integer(spec.get("size"), 1, L.MAX_POOL_SIZE, f"{where} size")
            if size > h or size > w:
                bad(f"{where}: pool size {size} is larger than its input {h}x{w}")
            h, w = h // size, w // size
        elif kind == "flatten":
            if flat is not None:
                bad(f"{where}: flatten twice")
            flat = c * h * w
        elif kind == "linear":
            if flat is None:
                bad(f"{where}: a linear layer needs a flatten layer before it")
            n_in = integer(spec.get("in"), 1, 2**31 - 1, f"{where} in")
            n_out = integer(spec.get("out"), 1, L.MAX_CNN_CHANNELS, f"{where} out")
            if n_in != flat:
                bad(f"{where} takes {n_in} features, but the layer before gives {flat}")
            tensor(f"{name}.weight", (n_out, n_in), where)
            tensor(f"{name}.bias", (n_out,), where)
            flat = n_out
            work += n_in * n_out
    if work > L.MAX_MULTIPLY_ADDS:
        bad(f"the network needs {work:,} multiply-adds per input, over the limit of {L.MAX_MULTIPLY_ADDS:,}")
    if flat is None:
        bad("genai.layers must end in flatten and linear layers that give one score per label")
    if not labels or len(labels) != flat or not all(isinstance(t, str) for t in labels):
        bad(f"genai.labels must list {flat} strings, one per output of the network")
    if heads:
        if (
            not all(isinstance(v, list) and v and all(isinstance(t, str) for t in v) for v in heads.values())
            or sum(len(v) for v in heads.values()) != flat
        ):
            bad(f"genai.heads must split the {flat} outputs into named, non-empty lists of labels")
    if "samples" in shapes:
        (shape, dtype) = shapes["samples"]
        if (
            len(shape) != 4
            or shape[1:] != (inp.get("channels", 1), inp["height"], inp["width"])
            or not 1 <= shape[0] <= L.MAX_CNN_SAMPLES
            or dtype not in _FLOATS
        ):
            bad(
                f"tensor samples has shape {list(shape)} ({dtype}); it must be float (N, C, H, W) matching genai.input,"
                f" with N from 1 to {L.MAX_CNN_SAMPLES}"
            )
        if "sample_labels" in shapes and (
            shapes["sample_labels"][0] != (shape[0],) or shapes["sample_labels"][1] not in _INTS
        ):
            bad(f"tensor sample_labels must be {shape[0]} integers, one per sample")
    elif "sample_labels" in shapes:
        bad("tensor sample_labels has no samples")
    return {"layers": layers, "input": inp, "labels": labels}


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
            x = ops.conv2d(
                x,
                cnn.params[f"{name}.weight"],
                cnn.params[f"{name}.bias"],
                stride=spec.get("stride", 1),
                padding=spec.get("padding", 0),
            )  # (C_out, H', W')
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
