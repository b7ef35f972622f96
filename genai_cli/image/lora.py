"""LoRA files: `--lora FILE[:WEIGHT]` on genai imagine and genai anatomy.

A LoRA adds a low-rank update W + weight * (B @ A) * alpha / rank to some of the U-Net's (and
maybe the text encoder's) linear layers. diffusers' `load_lora_weights` (through peft) reads
both layouts in use: diffusers' own (`unet.down_blocks.0...lora_A.weight`) and kohya's /
AUTOMATIC1111's (`lora_unet_down_blocks_0_..._to_q.lora_down.weight` with `.alpha`); each file
becomes one adapter, and `set_adapters` gives each its weight.

Only .safetensors files are read (a pickled .pt / .ckpt / .bin LoRA is refused: loading it can run
code). Images record each file's name, hash and weight, as AUTOMATIC1111 does: `<lora:name:weight>`
in the prompt text and `Lora hashes: "name: 0123456789ab"` (the first 12 hex digits of the file's
SHA-256), and all of it in genai's JSON.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError, shorten

MAX_LORAS = 16  # --lora files in one run
MAX_WEIGHT = 10.0  # |WEIGHT|: A1111 users stay within -2..2; beyond 10 any LoRA turns the image to noise
MAX_LORA_BYTES = 4 * 2**30  # one file (SDXL LoRAs of rank 256 are about 1.7 GB)
PICKLED = (".ckpt", ".bin", ".pt", ".pth", ".pkl")
ADAPTER = "genai_lora_{}"  # the peft adapter name of the i-th file


@dataclass
class LoraSpec:
    path: Path
    weight: float = 1.0
    sha256: str = field(default="")  # filled in by check_file

    @property
    def name(self) -> str:
        """The name A1111 writes in `<lora:name:weight>`: the file name without its extension."""
        return self.path.stem

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": str(self.path), "sha256": self.sha256, "weight": self.weight}


def parse_specs(specs: list[str]) -> list[LoraSpec]:
    """'style.safetensors:0.8' -> LoraSpec(style.safetensors, 0.8); a bad weight or too many files -> UsageError."""
    if len(specs) > MAX_LORAS:
        raise UsageError(f"--lora: {len(specs)} files, at most {MAX_LORAS}")
    return [parse_spec(s) for s in specs]


def parse_spec(spec: str) -> LoraSpec:
    if not spec.strip():
        raise UsageError("--lora: an empty file name", hint="--lora FILE[:WEIGHT], like --lora style.safetensors:0.8")
    head, sep, tail = spec.rpartition(":")
    if not sep or not head or "/" in tail or "\\" in tail:  # no weight; or a colon inside the path
        return LoraSpec(Path(spec).expanduser())
    try:
        weight = float(tail)
    except ValueError:
        if Path(spec).expanduser().exists():  # a file name with a colon in it
            return LoraSpec(Path(spec).expanduser())
        raise UsageError(
            f"--lora {shorten(spec)}: the weight {shorten(tail)} is not a number",
            hint="--lora FILE[:WEIGHT], like --lora style.safetensors:0.8",
        ) from None
    if not math.isfinite(weight) or abs(weight) > MAX_WEIGHT:
        raise UsageError(
            f"--lora {shorten(spec)}: the weight must be a finite number in -{MAX_WEIGHT:g}..{MAX_WEIGHT:g}, "
            f"got {shorten(tail)}"
        )
    return LoraSpec(Path(head).expanduser(), weight)


def check_file(spec: LoraSpec) -> LoraSpec:
    """The file is a regular .safetensors file of at most MAX_LORA_BYTES whose tensors look like a LoRA's;
    its SHA-256 is recorded. Nothing is loaded into a model here."""
    import hashlib

    from genai_cli.files import require_regular_file

    path = spec.path
    require_regular_file(path, "--lora")
    if path.suffix.lower() in PICKLED:
        raise UsageError(
            f"--lora {path.name}: pickled LoRA files are refused (loading them can run arbitrary code)",
            hint="use the .safetensors version of this LoRA",
        )
    if path.suffix.lower() != ".safetensors":
        raise UsageError(f"--lora {path.name}: expected a .safetensors LoRA file")
    if path.stat().st_size > MAX_LORA_BYTES:
        raise UsageError(f"--lora {path.name}: over {MAX_LORA_BYTES // 2**30} GiB, larger than any LoRA")
    names = _tensor_names(path)
    if not any("lora" in k.lower() for k in names):
        raise UsageError(
            f"--lora {path.name}: not a LoRA file (none of its {len(names)} tensors is a lora_* matrix)",
            hint="a LoRA .safetensors from diffusers, kohya-ss or AUTOMATIC1111",
        )
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    spec.sha256 = h.hexdigest()
    return spec


def _tensor_names(path: Path) -> list[str]:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return list(f.keys())
    except Exception as e:  # safetensors raises its own SafetensorError
        raise UsageError(f"--lora {path.name}: not a valid safetensors file ({str(e).splitlines()[0][:160]})") from None


def load_into(pipe: Any, specs: list[LoraSpec]) -> None:
    """Load each file as its own adapter, then give each its weight. A file whose tensors fit no layer of
    this model (a LoRA for another architecture) is a UsageError naming it."""
    if not specs:
        return
    names = []
    for i, spec in enumerate(specs):
        if not spec.sha256:
            check_file(spec)
        adapter = ADAPTER.format(i)
        before = _adapters(pipe)
        try:
            with _quiet():
                pipe.load_lora_weights(str(spec.path), adapter_name=adapter)
        except Exception as e:  # diffusers / peft raise ValueError, RuntimeError (size mismatch), KeyError ...
            raise UsageError(
                f"--lora {spec.path.name}: not a LoRA for this model ({_reason(e)})",
                hint="a LoRA works only with the model family it was trained on (SD 1.x, SD 2.x, SDXL)",
            ) from None
        if adapter not in _adapters(pipe) - before:
            raise UsageError(
                f"--lora {spec.path.name}: not a LoRA for this model (none of its layers exist here)",
                hint="a LoRA works only with the model family it was trained on (SD 1.x, SD 2.x, SDXL)",
            )
        names.append(adapter)
    pipe.set_adapters(names, adapter_weights=[s.weight for s in specs])


def _reason(e: BaseException) -> str:
    """One short line from diffusers' / peft's message (a size mismatch names the first two shapes)."""
    import re

    text = str(e).strip()
    shapes = re.findall(r"torch\.Size\((\[[\d, ]*\])\)", text)
    if "size mismatch" in text and len(shapes) >= 2:
        return f"its matrices have other shapes than this model's layers: {shapes[0]} in the file, {shapes[1]} here"
    return shorten((text.splitlines() or [type(e).__name__])[0], 200)


@contextmanager
def _quiet():
    """diffusers logs a failed load as an error of its own before raising: we report it once, on our terms."""
    import logging
    import warnings

    from diffusers.utils import logging as dlogging

    before = dlogging.get_verbosity()
    dlogging.set_verbosity(logging.CRITICAL)
    peft_logger = logging.getLogger("peft")
    peft_level = peft_logger.level
    peft_logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        dlogging.set_verbosity(before)
        peft_logger.setLevel(peft_level)


def _adapters(pipe: Any) -> set[str]:
    try:
        return {a for adapters in pipe.get_list_adapters().values() for a in adapters}
    except (ValueError, AttributeError):
        return set()


def prompt_with_tags(prompt: str, specs: list[LoraSpec]) -> str:
    """The prompt as A1111 writes it: `a cat <lora:style:0.8>`."""
    return prompt + "".join(f" <lora:{s.name}:{s.weight:g}>" for s in specs)


def a1111_fields(specs: list[LoraSpec]) -> dict[str, str]:
    """A1111's `Lora hashes` field (first 12 hex digits of each file's SHA-256)."""
    if not specs:
        return {}
    return {"Lora hashes": ", ".join(f"{s.name}: {s.sha256[:12]}" for s in specs)}


def a1111_from_run(prompt: str, run: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """(prompt text, extra fields) of an image's A1111 parameters, from the LoRAs recorded in genai's run info."""
    specs = [LoraSpec(Path(x["path"]), x["weight"], x["sha256"]) for x in run.get("loras") or []]
    return prompt_with_tags(prompt, specs), a1111_fields(specs)
