"""A tiny Stable Diffusion pipeline made from configs (random weights, fixed seed).

The same shapes as diffusers' own `get_dummy_components`: a 2-block U-Net, a 2-block VAE
(so 64x64 images from 32x32 latents) and a 3-layer CLIP text encoder of width 32. It runs a
25-step generation in well under a second on a CPU, which makes it the model for tests and
for benchmarks of genai's own overhead. Its images are noise-like: its weights are random.

The CLIP tokenizer's vocab.json and merges.txt are written here (byte-level BPE with every
byte as a token and a few merges), so nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path

# a few merges, so that the tokenizer really merges (t+h -> th, th+e</w> -> the</w> ...)
_MERGES = ["t h", "th e</w>", "a n", "an d</w>", "i n", "o n</w>", "e r</w>", "c a", "ca t</w>"]


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2/CLIP's reversible map from bytes to printable unicode characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def write_tokenizer_files(folder: Path) -> tuple[Path, Path]:
    """vocab.json (special tokens, 256 bytes, 256 word-final bytes, merges) and merges.txt."""
    folder.mkdir(parents=True, exist_ok=True)
    chars = list(_bytes_to_unicode().values())
    tokens = ["<|startoftext|>", "<|endoftext|>"] + chars + [c + "</w>" for c in chars]
    tokens += ["".join(m.split()) for m in _MERGES]
    vocab = {t: i for i, t in enumerate(tokens)}  # 523 tokens
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    vocab_file.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    merges_file.write_text("#version: 0.2\n" + "\n".join(_MERGES) + "\n", encoding="utf-8")
    return vocab_file, merges_file


def make_tiny_pipeline(seed: int = 0, scratch: Path | None = None):
    """A StableDiffusionPipeline with random weights drawn after torch.manual_seed(seed)."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),  # 2 resolutions: latents 32x32 -> 16x16
        layers_per_block=1,
        sample_size=32,  # latent side: 32 x vae factor 2 = 64-pixel images
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,  # = text encoder hidden size
        norm_num_groups=2,
    )
    scheduler = DDIMScheduler(  # SD1.5's noise schedule
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=[4, 8],  # one downsampling: vae_scale_factor 2
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=2,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=64,
            layer_norm_eps=1e-05,
            num_attention_heads=4,
            num_hidden_layers=3,
            max_position_embeddings=77,
            vocab_size=1000,  # > the 523 tokens of the tokenizer below
        )
    )
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        vocab_file, merges_file = write_tokenizer_files(Path(tmp))
        tokenizer = CLIPTokenizer(str(vocab_file), str(merges_file), pad_token="<|endoftext|>", model_max_length=77)
    return StableDiffusionPipeline(
        unet=unet,
        scheduler=scheduler,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def save_tiny_pipeline(folder: Path, seed: int = 0) -> Path:
    """Write the tiny pipeline as a diffusers folder (safetensors weights)."""
    pipe = make_tiny_pipeline(seed)
    pipe.save_pretrained(str(folder), safe_serialization=True)
    return folder
