#!/usr/bin/env python
"""Write a small LoRA for the built-in toy model, to try `--lora` offline (docs/imagine.md uses it).

    python scripts/make_toy_lora.py style.safetensors
    genai imagine --model toy "a red circle on a white background" --lora style.safetensors:0.8

A rank-4 LoRA on the toy U-Net's attention projections (to_q, to_k, to_v, to_out.0), trained for 5 AdamW
steps on random tensors through peft and saved with diffusers' save_lora_weights (the diffusers layout,
unet.<module>.lora.down/up.weight). It changes the pictures without teaching anything: it shows the machinery.
tests/test_lora.py builds the same file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("file", type=Path, help="the .safetensors file to write (must not exist, unless --force)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the random weights and data (default 0)")
    ap.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = ap.parse_args()
    if args.file.suffix != ".safetensors":
        sys.exit(f"error: {args.file} must end in .safetensors")
    if args.file.exists() and not args.force:
        sys.exit(f"error: {args.file} exists (use --force to overwrite it)")
    from genai_cli.image import loading

    loading.quiet_libraries()  # before diffusers' pipelines import transformers' image processors
    import torch
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(args.seed)
    unet = loading.load_pipeline(loading.toy(), torch.float32).unet
    unet.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, init_lora_weights="gaussian", target_modules=["to_k", "to_q", "to_v", "to_out.0"])
    )
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-2)
    g = torch.Generator().manual_seed(args.seed)
    c, side = unet.config.in_channels, unet.config.sample_size  # the toy model's latents and text vectors
    x, target = torch.randn(2, 2, c, side, side, generator=g)
    cond = torch.randn(2, 16, unet.config.cross_attention_dim, generator=g)
    for _ in range(5):
        loss = torch.nn.functional.mse_loss(unet(x, torch.tensor([500, 500]), cond).sample, target)
        loss.backward()
        opt.step()
        opt.zero_grad()
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    folder = args.file.parent
    folder.mkdir(parents=True, exist_ok=True)
    StableDiffusionPipeline.save_lora_weights(
        str(folder), unet_lora_layers=layers, weight_name=args.file.name, safe_serialization=True
    )
    print(args.file)


if __name__ == "__main__":
    main()
