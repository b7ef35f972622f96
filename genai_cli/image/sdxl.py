"""Stable Diffusion XL: which pipeline class a model needs, its learned words, and a tiny one for tests.

SDXL has two text encoders (CLIP ViT-L, 768 wide, and OpenCLIP ViT-bigG, 1280 wide, with a projection);
the U-Net reads both encoders' vectors side by side (1x77x2048) plus the pooled bigG vector and the
image's size and crop ("micro-conditioning"). diffusers' StableDiffusionXLPipeline does all of it with
the same call as StableDiffusionPipeline, so genai's jobs, seeds, schedulers and metadata are shared.

A folder is SDXL when its model_index.json names an SDXL pipeline class; a single-file checkpoint when
it holds the second text encoder's tensors (`conditioner.embedders.1.*`, the LDM / A1111 layout).
SDXL textual-inversion files hold two tensors, `clip_l` and `clip_g`: one for each encoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError, shorten

SDXL_CLASSES = ("StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline")
SDXL_SINGLE_FILE_KEY = "conditioner.embedders.1."  # the bigG text encoder in an LDM-layout SDXL checkpoint


def is_sdxl(source: Any) -> bool:
    """Whether a located model (genai_cli.image.loading.ModelSource) is SDXL, from its configs or tensor names."""
    from genai_cli.image import loading

    try:
        if source.kind == "folder":
            index = loading.read_config_json(source.path / "model_index.json", "model_index")
            return index.get("_class_name") in SDXL_CLASSES
        return any(k.startswith(SDXL_SINGLE_FILE_KEY) for k in loading._tensor_names(source.path))
    except UsageError:  # an unreadable model: the loader that follows names the problem
        return False


def pipeline_class(source: Any):
    """StableDiffusionXLPipeline for an SDXL model, StableDiffusionPipeline for SD 1.x / 2.x."""
    from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline

    return StableDiffusionXLPipeline if is_sdxl(source) else StableDiffusionPipeline


def refuse_for_invert(source: Any) -> None:
    """genai invert learns one CLIP-L word; SDXL would need two (clip_l and clip_g): exit 2, saying so."""
    if is_sdxl(source):
        raise UsageError(
            f"genai invert does not train SDXL models yet ({shorten(source.name)})",
            hint="SDXL needs two vectors per word, one for each text encoder (clip_l 768, clip_g 1280), trained "
            "through both and the U-Net's pooled/size conditioning; "
            "learn the word on an SD 1.x model (--model sd15 or toy)",
        )


# --- learned words (textual inversion) -------------------------------------------------------------------------


@dataclass
class SDXLEmbedding:
    token: str
    vectors: Any  # clip_l: (n, 768), the first encoder's rows (the attribute genai's messages read)
    vectors_g: Any  # clip_g: (n, 1280)
    source: Path


def read_embedding(path: Path) -> SDXLEmbedding | None:
    """An SDXL textual-inversion file ({clip_l, clip_g} safetensors), or None for any other file (read by
    genai_cli.invert.embeddings). Bad tensors in an SDXL file are a UsageError naming it."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return None
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            if set(f.keys()) != {"clip_l", "clip_g"}:
                return None
            clip_l, clip_g = f.get_tensor("clip_l"), f.get_tensor("clip_g")
    except Exception:  # not a safetensors file: the general reader names the problem
        return None
    import torch

    for name, t in (("clip_l", clip_l), ("clip_g", clip_g)):
        if t.ndim not in (1, 2) or not t.is_floating_point() or not torch.isfinite(t).all():
            raise UsageError(
                f"--embedding {path.name}: its {name} tensor is not a finite float tensor of shape (n, dim)"
            )
    clip_l, clip_g = (t.float()[None] if t.ndim == 1 else t.float() for t in (clip_l, clip_g))
    if clip_l.shape[0] != clip_g.shape[0]:
        raise UsageError(f"--embedding {path.name}: clip_l has {clip_l.shape[0]} vectors, clip_g {clip_g.shape[0]}")
    return SDXLEmbedding(path.stem, clip_l, clip_g, path)  # A1111: the file name is the word


def add_embedding(pipe: Any, emb: SDXLEmbedding) -> None:
    """Teach both text encoders the word: clip_l into text_encoder, clip_g into text_encoder_2."""
    from genai_cli.invert import embeddings as E

    if getattr(pipe, "text_encoder_2", None) is None:
        raise UsageError(
            f"--embedding {emb.source.name}: an SDXL embedding (clip_l + clip_g), and this model is not SDXL"
        )
    E.check_new_word(pipe.tokenizer, emb)
    for vectors, encoder, tokenizer, name in (
        (emb.vectors, pipe.text_encoder, pipe.tokenizer, "clip_l"),
        (emb.vectors_g, pipe.text_encoder_2, pipe.tokenizer_2, "clip_g"),
    ):
        width = encoder.get_input_embeddings().weight.shape[-1]
        if vectors.shape[-1] != width:
            raise UsageError(
                f"--embedding {emb.source.name}: its {name} vectors are {vectors.shape[-1]} wide, this "
                f"model's encoder takes {width}"
            )
        pipe.load_textual_inversion(vectors, token=emb.token, text_encoder=encoder, tokenizer=tokenizer)


def read_any(path: Path):
    """An SDXL embedding file, or whatever genai_cli.invert.embeddings.read makes of it."""
    from genai_cli.invert import embeddings as E

    return read_embedding(path) or E.read(Path(path))


def add_any(pipe: Any, emb: Any) -> None:
    from genai_cli.invert import embeddings as E

    if isinstance(emb, SDXLEmbedding):
        add_embedding(pipe, emb)
    elif getattr(pipe, "text_encoder_2", None) is not None:
        raise UsageError(
            f"--embedding {emb.source.name}: an SD 1.x embedding (one tensor); SDXL needs clip_l and clip_g",
            hint="use an SDXL textual-inversion file (two tensors, clip_l and clip_g)",
        )
    else:
        E.add_to_pipeline(pipe, emb)


# --- a tiny random SDXL pipeline (tests and benchmarks) -------------------------------------------------------


def make_tiny_sdxl_pipeline(seed: int = 0, scratch: Path | None = None):
    """A StableDiffusionXLPipeline with random weights (the shapes of diffusers' SDXL get_dummy_components):
    two CLIP encoders of width 32, a 2-block U-Net with text_time conditioning, a 2-block VAE: 64x64 images."""
    import tempfile

    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from genai_cli.image.tiny import write_tokenizer_files

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8),
        layers_per_block=1,
        sample_size=32,  # latents 32x32 -> 64-pixel images
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",  # SDXL: pooled text + (size, crop, target size) go into the time embedding
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=6 * 8 + 32,  # 6 size ids x 8 + the pooled vector of text_encoder_2
        cross_attention_dim=64,  # 32 + 32: both encoders' vectors side by side
        norm_num_groups=2,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1, timestep_spacing="leading"
    )
    torch.manual_seed(seed)
    vae = AutoencoderKL(
        block_out_channels=[4, 8],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        norm_num_groups=2,
        sample_size=64,
    )
    config = dict(
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=3,
        max_position_embeddings=77,
        vocab_size=1000,
        hidden_act="gelu",
        projection_dim=32,
    )
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(**config))
    torch.manual_seed(seed + 1)
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**config))
    with tempfile.TemporaryDirectory(dir=scratch) as tmp:
        vocab_file, merges_file = write_tokenizer_files(Path(tmp))
        tokenizer = CLIPTokenizer(str(vocab_file), str(merges_file), pad_token="<|endoftext|>", model_max_length=77)
        tokenizer_2 = CLIPTokenizer(str(vocab_file), str(merges_file), pad_token="<|endoftext|>", model_max_length=77)
    return StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=scheduler,
    )


def save_tiny_sdxl_pipeline(folder: Path, seed: int = 0) -> Path:
    """Write the tiny SDXL pipeline as a diffusers folder (safetensors weights)."""
    make_tiny_sdxl_pipeline(seed).save_pretrained(str(folder), safe_serialization=True)
    return folder
