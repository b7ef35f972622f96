"""The three parts of a Stable Diffusion pipeline, opened up (`genai anatomy`).

    prompt --CLIP tokenizer--> 1x77 token ids --text encoder--> 1x77x768 text vectors      (SD 1.5)
    noise 1x4x64x64 --U-Net, step by step, reading the text vectors--> a clean latent      (x steps)
    latent 1x4x64x64 --VAE decoder--> 1x3x512x512 pixels

`describe` reads only configs (a folder's */config.json, or the architecture files shipped in
genai_cli/image/data/arch_*.json for an uncached sd15 / sdxl): classes, parameter counts (the
modules are built on torch's `meta` device: no memory, no weights), sizes on disk and shapes.
`run_pass` runs one real generation and records what each part produced.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from genai_cli.errors import GenaiError

# hub id -> the architecture file shipped with genai (configs only, no weights)
ARCHITECTURES = {
    "stable-diffusion-v1-5/stable-diffusion-v1-5": "arch_sd15.json",
    "stabilityai/stable-diffusion-xl-base-1.0": "arch_sdxl.json",
}
TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
WEIGHT_FILES = ("model.safetensors", "diffusion_pytorch_model.safetensors")
MAX_STEPS = 1000  # --steps of the prompt's pass (as genai imagine)


@dataclass
class Part:
    role: str  # "text encoder", "U-Net", "VAE decoder"
    component: str  # the pipeline's attribute: text_encoder, unet, vae ...
    cls: str
    params: int  # parameters of the whole component (for the VAE: encoder and decoder)
    part_params: int  # parameters that do this part's job (the VAE's decoder alone)
    bytes_on_disk: int | None  # its safetensors file(s); None: not on this machine
    input: str
    output: str


@dataclass
class Anatomy:
    model: str
    path: str | None
    weights: bool  # False: described from configs alone
    pipeline: str
    parts: list[Part]
    scheduler: str
    train_timesteps: int
    prediction: str  # what the U-Net predicts: epsilon (the noise), v_prediction, sample
    native: int  # image side in pixels
    run: dict[str, Any] | None = field(default=None)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def architecture(hub_id: str) -> dict[str, Any] | None:
    """The shipped configs of a known hub model (sd15, sdxl), or None."""
    name = ARCHITECTURES.get(hub_id)
    if name is None:
        return None
    return json.loads(resources.files("genai_cli.image").joinpath(f"data/{name}").read_text())


def configs_from_folder(folder: Path) -> tuple[dict[str, Any], dict[str, int | None]]:
    """{component: config} (plus model_index, scheduler) and {component: bytes of its weights} of a diffusers folder."""
    from genai_cli.image.loading import read_config_json

    index = read_config_json(folder / "model_index.json", "model_index")
    configs: dict[str, Any] = {"model_index": index}
    sizes: dict[str, int | None] = {}
    for name in (*TEXT_ENCODERS, "unet", "vae"):
        if (folder / name / "config.json").is_file():
            configs[name] = read_config_json(folder / name / "config.json")
            files = [folder / name / w for w in WEIGHT_FILES if (folder / name / w).is_file()]
            sizes[name] = sum(f.stat().st_size for f in files) if files else None
    sched = folder / "scheduler" / "scheduler_config.json"
    configs["scheduler"] = read_config_json(sched, "scheduler") if sched.is_file() else {}
    return configs, sizes


# single-file (LDM / A1111) tensor name prefixes -> the pipeline component they become
SINGLE_FILE_PREFIXES = {
    "model.diffusion_model.": "unet",
    "first_stage_model.": "vae",
    "cond_stage_model.": "text_encoder",
    "conditioner.embedders.0.": "text_encoder",
    "conditioner.embedders.1.": "text_encoder_2",
}
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit on a file's JSON header


def single_file_sizes(path: Path) -> dict[str, int | None]:
    """{component: bytes of its tensors} in one checkpoint file, from the safetensors header's data offsets."""
    import struct

    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > MAX_HEADER_BYTES:
            return {}
        header = json.loads(f.read(n))
    sizes: dict[str, int | None] = {}
    for key, entry in header.items():
        if key == "__metadata__" or not isinstance(entry, dict):
            continue
        for prefix, component in SINGLE_FILE_PREFIXES.items():
            if key.startswith(prefix):
                start, end = entry["data_offsets"]
                sizes[component] = (sizes.get(component) or 0) + int(end) - int(start)
                break
    return sizes


def configs_from_pipeline(pipe: Any) -> dict[str, Any]:
    """The same configs from a loaded pipeline (a single-file checkpoint has no folder)."""
    configs: dict[str, Any] = {"model_index": {"_class_name": type(pipe).__name__}}
    for name in (*TEXT_ENCODERS, "unet", "vae"):
        module = getattr(pipe, name, None)
        if module is not None:
            cfg = module.config.to_dict() if hasattr(module.config, "to_dict") else dict(module.config)
            cfg.setdefault("architectures", [type(module).__name__])
            cfg["_class_name"] = type(module).__name__
            configs[name] = cfg
            configs["model_index"][name] = ["", type(module).__name__]
    configs["scheduler"] = {**dict(pipe.scheduler.config), "_class_name": type(pipe.scheduler).__name__}
    return configs


def _count(configs: dict[str, Any]) -> dict[str, tuple[int, int]]:
    """{component: (all parameters, the part's parameters)}, from modules built on the meta device."""
    from accelerate import init_empty_weights

    from genai_cli.image.loading import quiet_libraries

    quiet_libraries()
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    def n(module: Any) -> int:
        return sum(p.numel() for p in module.parameters())

    counts = {}
    with init_empty_weights():
        for name in TEXT_ENCODERS:
            if name in configs:
                cfg = {k: v for k, v in configs[name].items() if not k.startswith("_")}
                cls = CLIPTextModelWithProjection if "Projection" in _class(configs, name) else CLIPTextModel
                m = cls(CLIPTextConfig(**cfg))
                counts[name] = (n(m), n(m))
        unet = UNet2DConditionModel.from_config(configs["unet"])
        counts["unet"] = (n(unet), n(unet))
        vae = AutoencoderKL.from_config(configs["vae"])
        post = n(vae.post_quant_conv) if getattr(vae, "post_quant_conv", None) is not None else 0
        counts["vae"] = (n(vae), n(vae.decoder) + post)
    return counts


def _class(configs: dict[str, Any], name: str) -> str:
    entry = configs.get("model_index", {}).get(name)
    if isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str):
        return entry[1]
    cfg = configs.get(name, {})
    return cfg.get("_class_name") or (cfg.get("architectures") or ["?"])[0]


def _shape(*dims: int) -> str:
    return "x".join(str(d) for d in dims)


def describe(
    model: str, path: str | None, configs: dict[str, Any], sizes: dict[str, int | None], weights: bool
) -> Anatomy:
    """Classes, parameter counts, sizes and shapes at the native resolution, from configs alone."""
    counts = _count(configs)
    unet, vae, sched = configs["unet"], configs["vae"], configs.get("scheduler", {})
    sample = unet.get("sample_size", 64)
    sample = sample[0] if isinstance(sample, (list, tuple)) else int(sample)
    factor = 2 ** (len(vae.get("block_out_channels", [0] * 4)) - 1)
    latent = _shape(1, unet.get("in_channels", 4), sample, sample)
    parts, widths, tokens = [], [], 77
    for name in TEXT_ENCODERS:
        if name in configs:
            tokens = configs[name].get("max_position_embeddings", 77)
            widths.append(configs[name]["hidden_size"])
            parts.append(
                Part(
                    "text encoder" + (" 2" if name.endswith("_2") else ""),
                    name,
                    _class(configs, name),
                    *counts[name],
                    sizes.get(name),
                    f"{_shape(1, tokens)} tokens",
                    f"{_shape(1, tokens, widths[-1])} text vectors",
                )
            )
    text = f"{_shape(1, tokens, unet.get('cross_attention_dim', sum(widths)))} text vectors"
    if unet.get("addition_embed_type") == "text_time":  # SDXL: the pooled prompt and the image size go in too
        pooled = unet.get("projection_class_embeddings_input_dim", 0) - 6 * unet.get("addition_time_embed_dim", 0)
        text += f" + 1x{pooled} pooled + 1x6 size ids"
    prediction = sched.get("prediction_type", "epsilon")
    predicted = {"epsilon": "noise", "v_prediction": "velocity (v)", "sample": "clean latent"}.get(
        prediction, prediction
    )
    parts.append(
        Part(
            "U-Net",
            "unet",
            _class(configs, "unet"),
            *counts["unet"],
            sizes.get("unet"),
            f"{latent} latents + timestep + {text}",
            f"{_shape(1, unet.get('out_channels', 4), sample, sample)} {predicted}",
        )
    )
    parts.append(
        Part(
            "VAE decoder",
            "vae",
            _class(configs, "vae"),
            *counts["vae"],
            sizes.get("vae"),
            f"{_shape(1, vae.get('latent_channels', 4), sample, sample)} latents",
            f"{_shape(1, vae.get('out_channels', 3), sample * factor, sample * factor)} pixels",
        )
    )
    return Anatomy(
        model=model,
        path=path,
        weights=weights,
        pipeline=configs.get("model_index", {}).get("_class_name", "?"),
        parts=parts,
        scheduler=sched.get("_class_name", "?"),
        train_timesteps=int(sched.get("num_train_timesteps", 1000)),
        prediction=prediction,
        native=sample * factor,
    )


def _stats(x: Any) -> dict[str, float]:
    x = x.float()
    return {"mean": float(x.mean()), "std": float(x.std()), "min": float(x.min()), "max": float(x.max())}


def tokens_of(tokenizer: Any, prompt: str) -> tuple[list[int], list[str], int]:
    """(ids, token strings up to the end token, padded length) as the pipeline's text encoder sees them."""
    ids = tokenizer(prompt, padding="max_length", max_length=tokenizer.model_max_length, truncation=True).input_ids
    shown = list(ids)
    eos = tokenizer.eos_token_id
    if eos in shown:
        shown = shown[: shown.index(eos) + 1]
    return ids, tokenizer.convert_ids_to_tokens(shown), len(ids)


def run_pass(pipe: Any, prompt: str, steps: int, guidance: float, seed: int, learned: list[str]) -> dict[str, Any]:
    """One real pass through each part. Returns what each produced; `image` is (H, W, 3) in [0, 1]
    and `latent` the final latent (4, h, w), both numpy, for the caller to save or draw."""
    import torch

    ids, tokens, length = tokens_of(pipe.tokenizer, prompt)
    with torch.no_grad():
        vectors = pipe.text_encoder(torch.tensor([ids], device=pipe.text_encoder.device))[0]  # (1, L, D)
    norms = vectors[0, : len(tokens)].float().norm(dim=-1).tolist()
    seen: dict[int, Any] = {}

    def on_step_end(_pipe, i, t, tensors):
        if i == 0 or i == steps - 1:
            seen[i] = tensors["latents"].detach().float().cpu()
        return tensors

    out = pipe(
        prompt=prompt,
        num_inference_steps=steps,
        guidance_scale=guidance,
        generator=torch.Generator("cpu").manual_seed(seed),
        output_type="latent",
        callback_on_step_end=on_step_end,
    )
    latents = out.images  # (1, 4, h, w): the U-Net's result, before the VAE
    vae = pipe.vae
    with torch.no_grad():
        decoded = vae.decode(latents.to(vae.device, vae.dtype) / vae.config.scaling_factor).sample  # (1, 3, H, W)
    image = (decoded / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
    first, last = seen.get(0), seen.get(steps - 1)
    return {
        "prompt": prompt,
        "steps": steps,
        "guidance": guidance,
        "seed": seed,
        "tokens": [
            {"id": i, "token": t, "learned": t in learned, "norm": round(n, 4)} for i, t, n in zip(ids, tokens, norms)
        ],
        "token_length": length,
        "text_vectors_shape": list(vectors.shape),
        "latent_shape": list(latents.shape),
        "latent_first_step": _stats(first) if first is not None else None,
        "latent_last_step": _stats(last) if last is not None else None,
        "image_shape": list(decoded.shape),
        "latent": latents[0].float().cpu().numpy(),
        "image": image,
    }


def need_weights(model: str, hub_id: str | None) -> GenaiError:
    """The error for a prompt given with a model whose weights are not here."""
    return GenaiError(
        f"{model}: its weights are not in your Hugging Face cache; without a prompt genai anatomy describes it "
        "from its configs alone",
        hint=(f"get it with `hf download {hub_id}` on a machine with network; " if hub_id else "")
        + "offline, try --model toy (built in)",
    )


def human_count(n: int) -> str:
    return (
        f"{n / 1e9:.2f} B"
        if n >= 1e9
        else f"{n / 1e6:.1f} M"
        if n >= 1e6
        else f"{n / 1e3:.1f} K"
        if n >= 1e3
        else str(n)
    )


def human_bytes(n: int | None) -> str:
    if n is None:
        return "not downloaded"
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB" if n >= 2**20 else f"{n / 2**10:.0f} KiB"


def text_report(a: Anatomy) -> str:
    """The text printed on stdout."""
    lines = [
        f"model          {a.model} ({a.pipeline}"
        + (f", {a.path}" if a.path else "")
        + ("" if a.weights else ", described from its configs: no weights on this machine")
        + ")"
    ]
    for p in a.parts:
        size = human_bytes(p.bytes_on_disk)
        params = f"{human_count(p.params)} parameters" + (
            f" ({human_count(p.part_params)} in the decoder)" if p.params != p.part_params else ""
        )
        lines.append(f"{p.role:<15}{p.cls}: {params}, {size}")
        lines.append(f"{'':<15}{p.input} -> {p.output}")
    lines.append(
        f"{'scheduler':<15}{a.scheduler}: {a.train_timesteps} training timesteps, predicts {a.prediction}; "
        f"native size {a.native}x{a.native}"
    )
    r = a.run
    if r:
        shown = " ".join(f"[{t['token']}]" if t["learned"] else t["token"] for t in r["tokens"])
        lines.append(f"{'tokens':<15}{shown}  ({len(r['tokens'])} of {r['token_length']}, the rest padding)")
        norms = " ".join(f"{t['norm']:.1f}" for t in r["tokens"])
        lines.append(f"{'vector norms':<15}{norms}  (text vectors {_shape(*r['text_vectors_shape'])})")
        for key, label in (("latent_first_step", "step 1"), ("latent_last_step", f"step {r['steps']}")):
            st = r[key]
            if st:
                lines.append(
                    f"{'latent ' + label:<15}mean {st['mean']:+.3f}  std {st['std']:.3f}  "
                    f"min {st['min']:+.3f}  max {st['max']:+.3f}  ({_shape(*r['latent_shape'])})"
                )
        if r.get("loras"):
            lines.append(f"{'LoRA':<15}" + ", ".join(f"{x['name']} (weight {x['weight']:g})" for x in r["loras"]))
        lines.append(f"{'image':<15}{r['image_path']}  ({_shape(*r['image_shape'])})")
    return "\n".join(lines)


def plot(a: Anatomy, path: Path, force: bool = False, recipe: dict | None = None) -> Path:
    """The slide as one PNG: prompt -> text encoder -> U-Net (x steps) -> VAE decoder -> image, with the
    real classes, sizes and shapes in the boxes, and thumbnails of the prompt's latent and image."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from matplotlib.patches import FancyBboxPatch

    from genai_cli.files import save_figure

    fig = plt.figure(figsize=(15, 5.6), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, 150)
    ax.set_ylim(0, 56)
    ax.axis("off")
    r = a.run
    title = f"Stable Diffusion, opened up: {a.model}" + ("" if a.weights else "  (from its configs; no weights here)")
    ax.text(75, 53, title, ha="center", va="center", fontsize=15, weight="bold")
    colours = {"text encoder": "#dbe9f6", "U-Net": "#fde3c8", "VAE decoder": "#dff2dd"}
    text_parts = [p for p in a.parts if p.role.startswith("text encoder")]
    unet = next(p for p in a.parts if p.role == "U-Net")
    vae = next(p for p in a.parts if p.role == "VAE decoder")
    boxes = {"text": (18, 40), "unet": (54, 80), "vae": (94, 118)}  # x ranges
    y0, y1 = 14, 43

    def box(x: tuple[float, float], parts: list[Part], colour: str, heading: str) -> None:
        ax.add_patch(
            FancyBboxPatch(
                (x[0], y0),
                x[1] - x[0],
                y1 - y0,
                boxstyle="round,pad=0.4,rounding_size=1.5",
                fc=colour,
                ec="#444444",
                lw=1.4,
            )
        )
        cx = (x[0] + x[1]) / 2
        ax.text(cx, y1 - 2.2, heading, ha="center", va="top", fontsize=12.5, weight="bold")
        lines: list[str] = []
        for p in parts:
            size = human_bytes(p.bytes_on_disk) if p.bytes_on_disk is not None else "not downloaded"
            lines += [p.cls, f"{human_count(p.part_params)} parameters", size, ""]
        p = parts[-1]
        out = "\n  + ".join(q.output.split()[0] for q in parts) if len(parts) > 1 else p.output
        lines += [
            "in: " + p.input.replace(" + ", "\n  + ") if heading == "U-Net" else "in: " + parts[0].input,
            "out: " + out,
        ]
        ax.text(cx, y1 - 6.5, "\n".join(lines), ha="center", va="top", fontsize=10, linespacing=1.4)

    names = " + ".join(p.cls for p in text_parts)
    box(boxes["text"], text_parts, colours["text encoder"], "text encoder" + (" x2" if len(text_parts) > 1 else ""))
    box(boxes["unet"], [unet], colours["U-Net"], "U-Net")
    box(boxes["vae"], [vae], colours["VAE decoder"], "VAE decoder")
    del names

    def arrow(x0: float, x1: float, y: float, label: str = "") -> None:
        ax.annotate("", xy=(x1, y), xytext=(x0, y), arrowprops=dict(arrowstyle="-|>", lw=1.6, color="#333333"))
        if label:
            ax.text((x0 + x1) / 2, y + 1.2, label, ha="center", va="bottom", fontsize=8.2, color="#333333")

    mid = (y0 + y1) / 2
    prompt = r["prompt"] if r else "PROMPT"
    wrapped = "\n".join(_wrap(f'"{prompt}"', 16))
    ax.text(8.5, mid, wrapped, ha="center", va="center", fontsize=10, style="italic")
    arrow(15.5, 17.4, mid)
    arrow(40.6, 53.4, mid, "text vectors")
    arrow(80.6, 93.4, mid, "clean latent")
    arrow(118.6, 124, mid)
    # the denoising loop over the U-Net
    ax.annotate(
        "",
        xy=(61, y1 + 0.6),
        xytext=(73, y1 + 0.6),
        arrowprops=dict(arrowstyle="-|>", lw=1.6, color="#b35900", connectionstyle="arc3,rad=0.9"),
    )
    steps = f"x {r['steps']} steps" if r else "step by step"
    ax.text(
        67,
        y1 + 6.2,
        f"{steps}: each step removes some of the predicted noise",
        ha="center",
        va="bottom",
        fontsize=10,
        color="#b35900",
    )
    noise_shape = unet.input.split(" ")[0]
    ax.text(
        60,
        y0 - 2.4,
        f"starts from random noise {noise_shape}\n{a.scheduler}\n{a.train_timesteps} training timesteps",
        ha="center",
        va="top",
        fontsize=9.5,
        color="#333333",
    )

    if r:
        img = np.asarray(r["image"])

        def square(cx: float, cy: float, side: float):  # centre in axis units, side in inches
            return fig.add_axes((cx / 10 / 15 - side / 30, cy / 10 / 5.6 - side / 11.2, side / 15, side / 5.6))

        ia = square(137, mid, 2.2)
        ia.imshow(img, interpolation="nearest")
        ia.set_xticks([])
        ia.set_yticks([])
        ia.set_title(f"decoded image {img.shape[1]}x{img.shape[0]}", fontsize=10)
        lat = np.asarray(r["latent"])  # (C, h, w): each channel in its own grey tile
        c, h, w = lat.shape
        cols = 2 if c == 4 else c
        rows = -(-c // cols)
        grid = np.full((rows * (h + 1) - 1, cols * (w + 1) - 1), np.nan)
        for k in range(c):
            ch = lat[k]
            ch = (ch - ch.min()) / (ch.max() - ch.min() + 1e-8)
            rr, cc = divmod(k, cols)
            grid[rr * (h + 1) : rr * (h + 1) + h, cc * (w + 1) : cc * (w + 1) + w] = ch
        la = square(88, 6.5, 1.0)
        la.imshow(np.ma.masked_invalid(grid), cmap="gray", interpolation="nearest")
        la.set_xticks([])
        la.set_yticks([])
        la.set_title(f"latent {c}x{h}x{w}", fontsize=9)
    else:
        ax.text(137, mid, "IMAGE", ha="center", va="center", fontsize=11, color="#777777")
    return save_figure(fig, path, force=force, recipe=recipe)


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    lines = textwrap.wrap(text, width) or [text]
    return lines[:6] + (["..."] if len(lines) > 6 else [])
