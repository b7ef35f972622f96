#!/usr/bin/env python
"""Write the example files of docs/imagine.md's `genai info` section: one toy-model image, its recipe
rewritten as each other tool writes it (AUTOMATIC1111 PNG/JPEG/WEBP, ComfyUI, Fooocus, InvokeAI, NovelAI).

    python scripts/info_examples.py [docs/imagine/info]

The pixels are those genai's toy model draws for the recipe, so `genai imagine --model toy --recipe
docs/imagine/info/comfyui.png` draws the same picture again. Layouts as each tool documents or writes them;
the same layouts are built in tests/test_info.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

PROMPT, NEGATIVE, SEED, STEPS, CFG = "a yellow heart on a black background", "a green circle", 11, 25, 7.5


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        genai = Path(sys.executable).with_name("genai")
        cmd = [
            str(genai),
            "imagine",
            "--model",
            "toy",
            PROMPT,
            "--negative",
            NEGATIVE,
            "--seed",
            str(SEED),
            "--steps",
            str(STEPS),
            "--guidance",
            str(CFG),
            "--scheduler",
            "euler-a",
            "-o",
            tmp,
        ]
        path = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()
        image = Image.open(path).convert("RGB")
        image.load()
    w, h = image.size
    a1111 = (
        f"{PROMPT}\nNegative prompt: {NEGATIVE}\nSteps: {STEPS}, Sampler: Euler a, Schedule type: Automatic, "
        f"CFG scale: {CFG}, Seed: {SEED}, Size: {w}x{h}, Model hash: 0f1e2d3c4b, Model: toy, Version: v1.10.1"
    )

    def png(name: str, chunks: dict) -> None:
        info = PngInfo()
        for k, v in chunks.items():
            info.add_text(k, v if isinstance(v, str) else json.dumps(v))
        image.save(out / name, pnginfo=info)

    png("a1111.png", {"parameters": a1111})
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + a1111.encode("utf-16-be")  # as A1111 (piexif) writes it
    image.save(out / "a1111.jpg", exif=exif, quality=95)
    image.save(out / "a1111.webp", exif=exif, lossless=True)
    graph = {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": SEED,
                "steps": STEPS,
                "cfg": CFG,
                "sampler_name": "euler_ancestral",
                "scheduler": "normal",
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "toy"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": w, "height": h, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": PROMPT, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": NEGATIVE, "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }
    links = [
        [1, 4, 0, 3, 0, "MODEL"],
        [2, 4, 1, 6, 0, "CLIP"],
        [3, 4, 1, 7, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 7, 0, 3, 2, "CONDITIONING"],
        [6, 5, 0, 3, 3, "LATENT"],
        [7, 3, 0, 8, 0, "LATENT"],
        [8, 4, 2, 8, 1, "VAE"],
        [9, 8, 0, 9, 0, "IMAGE"],
    ]
    nodes = [
        {"id": int(k), "type": v["class_type"], "widgets_values": list(v["inputs"].values())} for k, v in graph.items()
    ]
    png(
        "comfyui.png",
        {
            "prompt": graph,
            "workflow": {"last_node_id": 9, "last_link_id": 9, "nodes": nodes, "links": links, "version": 0.4},
        },
    )
    png(
        "fooocus.png",
        {
            "parameters": {
                "adm_guidance": "(1.5, 0.8, 0.3)",
                "base_model": "toy",
                "base_model_hash": "0f1e2d3c4b",
                "clip_skip": 1,
                "guidance_scale": CFG,
                "loras": [],
                "metadata_scheme": "fooocus",
                "negative_prompt": NEGATIVE,
                "performance": "Quality",
                "prompt": PROMPT,
                "prompt_expansion": "",
                "refiner_model": "None",
                "refiner_switch": 0.8,
                "resolution": f"({w}, {h})",
                "sampler": "euler_ancestral",
                "scheduler": "normal",
                "seed": str(SEED),
                "sharpness": 2,
                "steps": STEPS,
                "styles": "[]",
                "vae": "Default (model)",
                "version": "Fooocus v2.5.5",
            },
            "fooocus_scheme": "fooocus",
        },
    )
    png(
        "invokeai.png",
        {
            "invokeai_metadata": {
                "generation_mode": "txt2img",
                "positive_prompt": PROMPT,
                "negative_prompt": NEGATIVE,
                "width": w,
                "height": h,
                "seed": SEED,
                "rand_device": "cpu",
                "cfg_scale": CFG,
                "cfg_rescale_multiplier": 0,
                "steps": STEPS,
                "scheduler": "euler_a",
                "model": {"key": "0f1e", "hash": "blake3:0f1e", "name": "toy", "base": "sd-1", "type": "main"},
                "app_version": "5.6.0",
            }
        },
    )
    # what a bigger ComfyUI graph holds: an SDXL checkpoint, a LoRA, a sampler and schedule genai lacks
    sdxl = json.loads(json.dumps(graph))
    sdxl["3"]["inputs"].update(sampler_name="dpmpp_2m_sde", scheduler="karras", seed=884203948812, steps=30, cfg=6.0)
    sdxl["4"]["inputs"]["ckpt_name"] = "sd_xl_base_1.0.safetensors"
    sdxl["5"]["inputs"].update(width=1024, height=1024)
    sdxl["10"] = {
        "class_type": "LoraLoader",
        "inputs": {
            "lora_name": "hearts.safetensors",
            "strength_model": 0.8,
            "strength_clip": 0.8,
            "model": ["4", 0],
            "clip": ["4", 1],
        },
    }
    sdxl["3"]["inputs"]["model"] = ["10", 0]
    png("comfyui-sdxl.png", {"prompt": sdxl})
    comment = {
        "prompt": PROMPT,
        "steps": STEPS,
        "height": h,
        "width": w,
        "scale": CFG,
        "uncond_scale": 0.0,
        "cfg_rescale": 0.0,
        "seed": SEED,
        "n_samples": 1,
        "noise_schedule": "native",
        "sampler": "k_euler_ancestral",
        "uc": NEGATIVE,
        "request_type": "PromptGenerateRequest",
        "version": 1,
    }
    png(
        "novelai.png",
        {
            "Title": "NovelAI generated image",
            "Description": PROMPT,
            "Software": "NovelAI",
            "Source": "toy 0F1E2D3C",
            "Generation time": "1.2",
            "Comment": comment,
        },
    )
    for f in sorted(out.iterdir()):
        print(f)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/imagine/info"))
