"""Write a diffusers Stable Diffusion folder as ONE original-layout (LDM / AUTOMATIC1111) checkpoint.

The inverse of diffusers' single-file loading (`diffusers.loaders.single_file_utils`:
convert_ldm_unet_checkpoint, convert_ldm_vae_checkpoint, convert_ldm_clip_checkpoint), after
diffusers' scripts/convert_diffusers_to_original_stable_diffusion.py, but with the block counts and
layers_per_block read from the folder's configs instead of SD 1.5's hard-coded 4 blocks x 2 layers,
so that it also writes the tiny test pipeline. Keys:

    model.diffusion_model.*            the U-Net   (input_blocks / middle_block / output_blocks)
    first_stage_model.*                the VAE     (encoder.down.i.block.j / decoder.up.i ... / mid.attn_1)
    cond_stage_model.transformer.*     the CLIP text encoder (text_model.*, transformers' names as in SD 1.x)

Every diffusers key is mapped by an explicit rule; an unknown key is an error, never dropped.
A test helper: only the SD 1.x layout (CLIP text encoder, int layers_per_block) is covered.
"""

from __future__ import annotations

import re
from pathlib import Path

# resnet sub-module names, diffusers -> LDM (U-Net only; the VAE keeps diffusers' names but one)
_UNET_RESNET = [
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
]
_UNET_TOP = {
    "time_embedding.linear_1": "time_embed.0",
    "time_embedding.linear_2": "time_embed.2",
    "conv_in": "input_blocks.0.0",
    "conv_norm_out": "out.0",
    "conv_out": "out.2",
}
# VAE mid-block attention, diffusers -> LDM (LDM's q/k/v/proj_out are 1x1 convolutions)
_VAE_ATTN = [("group_norm.", "norm."), ("to_q.", "q."), ("to_k.", "k."), ("to_v.", "v."), ("to_out.0.", "proj_out.")]


def _resnet(rest: str) -> str:
    head, _, tail = rest.partition(".")  # "norm1.weight" -> "in_layers.0.weight"
    return dict(_UNET_RESNET).get(head, head) + "." + tail


def unet_key(key: str, config: dict) -> str:
    """One U-Net key, diffusers -> LDM (without the model.diffusion_model. prefix)."""
    per = config["layers_per_block"]
    if not isinstance(per, int):
        raise ValueError("layers_per_block must be one int (as in every SD 1.x/2.x U-Net)")
    n = len(config["down_block_types"])
    up_attn = ["CrossAttn" in t for t in config["up_block_types"]]
    for head, ldm in _UNET_TOP.items():
        if key.startswith(head + "."):
            return ldm + key[len(head) :]
    if m := re.fullmatch(r"down_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = 1 + i * (per + 1) + j  # input_blocks.0 is conv_in; each down block: `per` layers + a downsampler
        return f"input_blocks.{index}." + ("0." + _resnet(rest) if kind == "resnets" else "1." + rest)
    if m := re.fullmatch(r"down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        i = int(m[1])
        assert i < n - 1, key
        return f"input_blocks.{(i + 1) * (per + 1)}.0.op.{m[2]}"
    if m := re.fullmatch(r"mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"middle_block.{2 * int(m[1])}.{_resnet(m[2])}"  # resnet, attention, resnet
    if m := re.fullmatch(r"mid_block\.attentions\.0\.(.+)", key):
        return f"middle_block.1.{m[1]}"
    if m := re.fullmatch(r"up_blocks\.(\d+)\.(resnets|attentions)\.(\d+)\.(.+)", key):
        i, kind, j, rest = int(m[1]), m[2], int(m[3]), m[4]
        index = i * (per + 1) + j  # each up block: per + 1 layers, the last one also upsamples
        return f"output_blocks.{index}." + ("0." + _resnet(rest) if kind == "resnets" else "1." + rest)
    if m := re.fullmatch(r"up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        i = int(m[1])
        return f"output_blocks.{i * (per + 1) + per}.{2 if up_attn[i] else 1}.conv.{m[2]}"
    raise KeyError(f"no LDM name for the U-Net key {key!r}")


def vae_key(key: str, config: dict) -> str:
    """One VAE key, diffusers -> LDM (without the first_stage_model. prefix)."""
    n = len(config["up_block_types"])
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        return f"encoder.down.{m[1]}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"encoder\.down_blocks\.(\d+)\.downsamplers\.0\.conv\.(.+)", key):
        return f"encoder.down.{m[1]}.downsample.conv.{m[2]}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)", key):
        # diffusers numbers the decoder's blocks from the lowest resolution, LDM from the highest
        return f"decoder.up.{n - 1 - int(m[1])}.block.{m[2]}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"decoder\.up_blocks\.(\d+)\.upsamplers\.0\.conv\.(.+)", key):
        return f"decoder.up.{n - 1 - int(m[1])}.upsample.conv.{m[2]}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.resnets\.(\d+)\.(.+)", key):
        return f"{m[1]}.mid.block_{int(m[2]) + 1}.{m[3].replace('conv_shortcut', 'nin_shortcut')}"
    if m := re.fullmatch(r"(encoder|decoder)\.mid_block\.attentions\.0\.(.+)", key):
        rest = m[2]
        for hf, ldm in _VAE_ATTN:
            if rest.startswith(hf):
                return f"{m[1]}.mid.attn_1.{ldm}{rest[len(hf) :]}"
    if m := re.fullmatch(r"(encoder|decoder)\.conv_norm_out\.(.+)", key):
        return f"{m[1]}.norm_out.{m[2]}"
    if re.fullmatch(r"((encoder|decoder)\.conv_(in|out)|quant_conv|post_quant_conv)\.(weight|bias)", key):
        return key
    raise KeyError(f"no LDM name for the VAE key {key!r}")


def to_ldm_state_dict(pipe) -> dict:
    """The LDM-layout state dict of a StableDiffusionPipeline (CLIP text encoder, as SD 1.x)."""
    out = {}
    for k, v in pipe.unet.state_dict().items():
        out["model.diffusion_model." + unet_key(k, dict(pipe.unet.config))] = v
    for k, v in pipe.vae.state_dict().items():
        ldm = vae_key(k, dict(pipe.vae.config))
        if ".mid.attn_1." in ldm and ldm.endswith(("q.weight", "k.weight", "v.weight", "proj_out.weight")):
            v = v.reshape(*v.shape, 1, 1)  # (out, in) linear -> (out, in, 1, 1) convolution
        out["first_stage_model." + ldm] = v
    for k, v in pipe.text_encoder.state_dict().items():
        # SD 1.x keeps transformers' CLIPTextModel names as they were: text_model.embeddings... (transformers
        # >= 5.6 flattened CLIPTextModel and dropped the `text_model.` level; diffusers strips it again on load)
        k = k if k.startswith("text_model.") else "text_model." + k
        out["cond_stage_model.transformer." + k] = v
    return out


def write_ldm_checkpoint(folder: Path, path: Path) -> Path:
    """Convert the diffusers pipeline `folder` into the single .safetensors checkpoint `path`."""
    from diffusers import StableDiffusionPipeline
    from safetensors.torch import save_file

    pipe = StableDiffusionPipeline.from_pretrained(
        str(folder), safety_checker=None, requires_safety_checker=False, local_files_only=True
    )
    state = {k: v.contiguous() for k, v in to_ldm_state_dict(pipe).items()}
    save_file(state, str(path), metadata={"format": "pt"})
    return path
