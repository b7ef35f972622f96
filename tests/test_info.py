"""`genai info` on images from genai, AUTOMATIC1111, ComfyUI, Fooocus, InvokeAI and NovelAI, and
`genai imagine --recipe` from any of them.

Each fixture is built here from the tool's documented layout (PNG text chunks; EXIF UserComment in
JPEG and WEBP, UTF-16 behind the `UNICODE\\0` prefix as A1111 writes it)."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

A1111 = (
    "masterpiece, a castle on a hill\nNegative prompt: lowres, blurry\n"
    "Steps: 30, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234, Size: 512x768, "
    'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Lora hashes: "foo: abc, bar: def", Version: v1.10.1'
)


def comfy_prompt(
    pos="beautiful scenery, a lake",
    neg="text, watermark",
    seed=156680208,
    steps=20,
    cfg=8.0,
    sampler="euler",
    scheduler="normal",
    width=512,
    height=512,
    ckpt="v1-5-pruned-emaonly.safetensors",
):
    """ComfyUI's default text-to-image graph, as its `prompt` chunk stores it (API format)."""
    return {
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": steps,
                "cfg": cfg,
                "sampler_name": sampler,
                "scheduler": scheduler,
                "denoise": 1.0,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": width, "height": height, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": pos, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": neg, "clip": ["4", 1]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "ComfyUI", "images": ["8", 0]}},
    }


# the editor's graph: links are [id, from node, from slot, to node, to slot, type]
COMFY_WORKFLOW = {
    "last_node_id": 9,
    "nodes": [
        {"id": i, "type": t}
        for i, t in [
            (3, "KSampler"),
            (4, "CheckpointLoaderSimple"),
            (5, "EmptyLatentImage"),
            (6, "CLIPTextEncode"),
            (7, "CLIPTextEncode"),
            (8, "VAEDecode"),
            (9, "SaveImage"),
        ]
    ],
    "links": [
        [1, 4, 0, 3, 0, "MODEL"],
        [2, 4, 1, 6, 0, "CLIP"],
        [3, 4, 1, 7, 0, "CLIP"],
        [4, 6, 0, 3, 1, "CONDITIONING"],
        [5, 7, 0, 3, 2, "CONDITIONING"],
        [6, 5, 0, 3, 3, "LATENT"],
        [7, 3, 0, 8, 0, "LATENT"],
        [8, 4, 2, 8, 1, "VAE"],
        [9, 8, 0, 9, 0, "IMAGE"],
    ],
    "version": 0.4,
}


def invokeai_meta(
    pos="a red fox in the snow",
    neg="blurry",
    seed=987,
    steps=30,
    cfg=7.5,
    scheduler="euler_a",
    width=512,
    height=768,
    model=None,
):
    """InvokeAI 3.x/4.x `invokeai_metadata`."""
    return {
        "generation_mode": "txt2img",
        "positive_prompt": pos,
        "negative_prompt": neg,
        "width": width,
        "height": height,
        "seed": seed,
        "rand_device": "cpu",
        "cfg_scale": cfg,
        "cfg_rescale_multiplier": 0,
        "steps": steps,
        "scheduler": scheduler,
        "model": model
        or {"key": "abc", "hash": "blake3:00", "name": "stable-diffusion-v1-5", "base": "sd-1", "type": "main"},
    }


def novelai_chunks(
    prompt="1girl, cherry blossoms",
    uc="lowres, bad anatomy",
    seed=3141592,
    steps=28,
    scale=5.0,
    sampler="k_euler_ancestral",
    width=832,
    height=1216,
    source="Stable Diffusion XL C1E1DE52",
):
    comment = {
        "prompt": prompt,
        "steps": steps,
        "height": height,
        "width": width,
        "scale": scale,
        "uncond_scale": 0.0,
        "cfg_rescale": 0.0,
        "seed": seed,
        "n_samples": 1,
        "noise_schedule": "native",
        "sampler": sampler,
        "sm": False,
        "sm_dyn": False,
        "uc": uc,
        "request_type": "PromptGenerateRequest",
        "version": 1,
    }
    return {
        "Title": "NovelAI generated image",
        "Description": prompt,
        "Software": "NovelAI",
        "Source": source,
        "Generation time": "5.2",
        "Comment": json.dumps(comment),
    }


FOOOCUS = {
    "adm_guidance": "(1.5, 0.8, 0.3)",
    "base_model": "juggernautXL_v8Rundiffusion.safetensors",
    "base_model_hash": "aeb7e9e689",
    "clip_skip": 2,
    "full_negative_prompt": ["(worst quality:2)"],
    "full_prompt": ["a cat on a sofa", "a cat on a sofa, cozy, detailed"],
    "guidance_scale": 4.5,
    "loras": [],
    "metadata_scheme": "fooocus",
    "negative_prompt": "dogs",
    "performance": "Speed",
    "prompt": "a cat on a sofa",
    "prompt_expansion": "a cat on a sofa, cozy, detailed",
    "refiner_model": "None",
    "refiner_switch": 0.5,
    "resolution": "(1152, 896)",
    "sampler": "dpmpp_2m_sde_gpu",
    "scheduler": "karras",
    "seed": "1234567",
    "sharpness": 2,
    "steps": 30,
    "styles": "['Fooocus V2']",
    "vae": "Default (model)",
    "version": "Fooocus v2.5.5",
}


def png(path: str, chunks: dict[str, str], size=(16, 16)) -> Path:
    info = PngInfo()
    for k, v in chunks.items():
        info.add_text(k, v if isinstance(v, str) else json.dumps(v))
    Image.new("RGB", size, "gray").save(path, pnginfo=info)
    return Path(path)


def exif_image(path: str, text: str, size=(16, 16), encoding="utf-16-be") -> Path:
    """A JPEG or WEBP with `text` in EXIF UserComment, as A1111 (piexif) writes it."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + text.encode(encoding)
    Image.new("RGB", size, "gray").save(path, exif=exif)
    return Path(path)


def recipe(cli, path) -> dict:
    r = cli("info", "--json", str(path))
    assert r.exit_code == 0, r
    return json.loads(r.stdout)["recipe"]


def fields(rec: dict) -> tuple:
    return tuple(
        rec[k]
        for k in (
            "generator",
            "prompt",
            "negative",
            "seed",
            "steps",
            "guidance",
            "sampler",
            "scheduler",
            "width",
            "height",
            "model",
        )
    )


# --- each tool's format --------------------------------------------------------------------

A1111_FIELDS = (
    "AUTOMATIC1111",
    "masterpiece, a castle on a hill",
    "lowres, blurry",
    1234,
    30,
    6.5,
    "DPM++ 2M",
    "Karras",
    512,
    768,
    "v1-5-pruned-emaonly",
)


def test_a1111_png(cli):
    rec = recipe(cli, png("a.png", {"parameters": A1111}))
    assert fields(rec) == A1111_FIELDS
    assert rec["extras"] == {"Model hash": "6ce0161689", "Lora hashes": "foo: abc, bar: def", "Version": "v1.10.1"}
    text = cli("info", "a.png").stdout
    assert (
        "generator: AUTOMATIC1111\nprompt: masterpiece, a castle on a hill\nnegative prompt: lowres, blurry\n" in text
    )
    assert "Seed: 1234" in text.splitlines() and "Sampler: DPM++ 2M" in text.splitlines()


@pytest.mark.parametrize("name, encoding", [("a.jpg", "utf-16-be"), ("a.webp", "utf-16-be"), ("le.jpg", "utf-16-le")])
def test_a1111_jpeg_and_webp_exif_usercomment(cli, name, encoding):
    exif_image(name, A1111, encoding=encoding)
    got = json.loads(cli("info", "--json", name).stdout)
    assert fields(got["recipe"]) == A1111_FIELDS
    assert got["type"] == Path(name).suffix[1:].replace("jpg", "jpeg") and got["parameters"]["Seed"] == "1234"
    text = cli("info", name)
    assert (
        text.exit_code == 0
        and "size: 16x16 (" in text.stdout
        and "prompt: masterpiece, a castle on a hill" in text.stdout
    )
    raw = cli("info", "--raw", name).stdout
    assert "EXIF UserComment: masterpiece, a castle on a hill\\nNegative prompt: lowres, blurry\\nSteps: 30" in raw


@pytest.mark.parametrize("with_workflow", [True, False], ids=["prompt+workflow", "prompt only (API format)"])
def test_comfyui(cli, with_workflow):
    chunks = {"prompt": comfy_prompt()}
    if with_workflow:
        chunks["workflow"] = COMFY_WORKFLOW
    png("c.png", chunks)
    rec = recipe(cli, "c.png")
    assert fields(rec) == (
        "ComfyUI",
        "beautiful scenery, a lake",
        "text, watermark",
        156680208,
        20,
        8.0,
        "euler",
        "normal",
        512,
        512,
        "v1-5-pruned-emaonly.safetensors",
    )
    assert rec["extras"]["sampler_parameters"] == {"denoise": 1.0}
    text = cli("info", "c.png").stdout
    assert text.splitlines()[2:] == [
        "generator: ComfyUI",
        "prompt: beautiful scenery, a lake",
        "negative prompt: text, watermark",
        "seed: 156680208",
        "steps: 20",
        "guidance: 8.0",
        "sampler: euler",
        "scheduler: normal",
        "model: v1-5-pruned-emaonly.safetensors",
        "generated size: 512x512",
    ]  # the raw 21 KB of JSON only under --raw
    assert '"class_type": "KSampler"' in cli("info", "--raw", "c.png").stdout


def test_comfyui_ksampler_advanced_seed(cli):
    graph = comfy_prompt()
    inputs = graph["3"]["inputs"]
    graph["3"] = {
        "class_type": "KSamplerAdvanced",
        "inputs": {**{k: v for k, v in inputs.items() if k != "seed"}, "noise_seed": 77, "add_noise": "enable"},
    }
    assert recipe(cli, png("c.png", {"prompt": graph}))["seed"] == 77


def test_invokeai(cli):
    png("i.png", {"invokeai_metadata": invokeai_meta()})
    assert fields(recipe(cli, "i.png")) == (
        "InvokeAI",
        "a red fox in the snow",
        "blurry",
        987,
        30,
        7.5,
        "euler_a",
        None,
        512,
        768,
        "stable-diffusion-v1-5",
    )
    old = invokeai_meta(model={"model_name": "sd-1.5-old", "base_model": "sd-1"})  # InvokeAI 3.0
    assert recipe(cli, png("o.png", {"invokeai_metadata": old}))["model"] == "sd-1.5-old"


def test_invokeai_2_and_dream(cli):
    sd_meta = {
        "model_weights": "stable-diffusion-1.4",
        "model_hash": "fe4efff1",
        "app_version": "2.3.0",
        "image": {
            "prompt": [{"prompt": "a castle [fog]", "weight": 1.0}],
            "steps": 50,
            "cfg_scale": 7.5,
            "seed": 42,
            "width": 512,
            "height": 512,
            "sampler": "k_lms",
            "type": "txt2img",
        },
    }
    assert fields(recipe(cli, png("s.png", {"sd-metadata": sd_meta}))) == (
        "InvokeAI",
        "a castle",
        "fog",
        42,
        50,
        7.5,
        "k_lms",
        None,
        512,
        512,
        "stable-diffusion-1.4",
    )
    dream = '"a lighthouse at dusk [people]" -s 25 -S 7 -W 512 -H 512 -C 7.0 -A k_euler_a'
    assert fields(recipe(cli, png("d.png", {"Dream": dream}))) == (
        "InvokeAI",
        "a lighthouse at dusk",
        "people",
        7,
        25,
        7.0,
        "k_euler_a",
        None,
        512,
        512,
        None,
    )


def test_novelai(cli):
    rec = recipe(cli, png("n.png", novelai_chunks()))
    assert fields(rec) == (
        "NovelAI",
        "1girl, cherry blossoms",
        "lowres, bad anatomy",
        3141592,
        28,
        5.0,
        "k_euler_ancestral",
        "native",
        832,
        1216,
        "Stable Diffusion XL",
    )
    assert rec["extras"]["request_type"] == "PromptGenerateRequest"


def test_fooocus_json_parameters(cli):
    png("f.png", {"parameters": json.dumps(FOOOCUS), "fooocus_scheme": "fooocus"})
    got = json.loads(cli("info", "--json", "f.png").stdout)
    assert fields(got["recipe"]) == (
        "Fooocus",
        "a cat on a sofa",
        "dogs",
        1234567,
        30,
        4.5,
        "dpmpp_2m_sde_gpu",
        "karras",
        1152,
        896,
        "juggernautXL_v8Rundiffusion.safetensors",
    )
    assert got["parameters"] is None  # not misread as A1111 text
    assert got["recipe"]["extras"]["version"] == "Fooocus v2.5.5"
    text = cli("info", "f.png").stdout
    assert "prompt: a cat on a sofa\n" in text and "{" not in text  # no JSON as the prompt


def test_genai_files_read_back_exactly(cli):
    from genai_cli.image import pngmeta

    fields_ = {
        "Steps": 4,
        "Sampler": "Euler a",
        "CFG scale": 7.5,
        "Seed": 9,
        "Size": "32x32",
        "Model": "toy",
        "Version": "genai 0.1.0",
    }
    text = pngmeta.format_parameters('a "quoted", prompt', "no: commas, please", fields_)
    genai = {
        "prompt": 'a "quoted", prompt',
        "negative": "no: commas, please",
        "seed": 9,
        "steps": 4,
        "guidance": 7.5,
        "width": 32,
        "height": 32,
        "scheduler": "euler-a",
        "sampler": "Euler a",
        "model": "toy",
    }
    got = json.loads(cli("info", "--json", str(png("g.png", {"parameters": text, "genai": genai}))).stdout)
    assert got["genai"] == genai and got["parameters_text"] == text
    assert got["parameters"] == pngmeta.parse_parameters(text)
    assert fields(got["recipe"]) == (
        "genai",
        'a "quoted", prompt',
        "no: commas, please",
        9,
        4,
        7.5,
        "Euler a",
        "euler-a",
        32,
        32,
        "toy",
    )


def test_genais_own_figures_read_as_genais(cli):
    """genai's figures name genai and their command as their writer (conv was read as a broken Fooocus file,
    diffuse, embed plot and anatomy had no recipe), toy renders too (read as AUTOMATIC1111's), and --recipe
    refuses a figure with its reason. Attention: tests/test_text.py; embed contextual: test_embed_contextual."""
    Image.new("RGB", (16, 16), "white").save("in.png")
    made = {
        "conv apply": cli("conv", "apply", "in.png", "-o", "conv.png").stdout.strip(),
        "diffuse": cli("diffuse", "in.png", "--n", "2", "--size", "16", "-o", "strips").stdout.strip(),
        "embed plot": cli("embed", "plot", "king", "queen", "man", "woman", "-o", "words.png").stdout.strip(),
        "anatomy": cli("anatomy", "--model", "toy", "--plot").stdout.strip().split()[-1],
    }
    render = cli("toy", "render", "a red star on a blue background", "--n", "1", "--seed", "4", "-o", "toy")
    for command, path in made.items():
        got = json.loads(cli("info", "--json", path).stdout)
        assert got["recipe"]["generator"] == "genai" and got["recipe"]["extras"]["command"] == command, got
        assert got["recipe"]["prompt"] is None and "problem" not in got
        text = cli("info", path).stdout
        assert f"generator: genai\ncommand: genai {command}\n" in text and "prompt:" not in text
        r = cli("imagine", "--model", "toy", "--recipe", path)
        assert r.exit_code == 2 and r.stdout == ""
        assert f"{path}: a figure of genai {command}, not a generated image: it has no prompt to draw" in r.stderr
    got = json.loads(cli("info", "--json", render.stdout.strip()).stdout)["recipe"]
    assert (got["generator"], got["prompt"], got["seed"]) == ("genai", "a red star on a blue background", 4)
    # a conv figure as genai 0.1.0 wrote it: its settings as JSON in `parameters`, `Software: genai`
    legacy = {"command": "genai conv apply", "kernel": "sobel-x", "stride": 1}
    got = json.loads(cli("info", "--json", str(png("old.png", {"Software": "genai", "parameters": legacy}))).stdout)
    assert got["recipe"]["generator"] == "genai" and got["recipe"]["extras"]["kernel"] == "sobel-x"
    assert "problem" not in got


# --- odd but valid ---------------------------------------------------------------------------


def test_no_metadata_is_no_recipe_not_an_error(cli):
    Image.new("RGB", (1, 1)).save("one.png")
    r = cli("info", "one.png")
    assert r.exit_code == 0 and r.stdout.splitlines() == [
        "file: one.png",
        "size: 1x1",
        "recipe: none (no recipe in its metadata)",
    ]
    assert json.loads(cli("info", "--json", "one.png").stdout)["recipe"] is None
    Image.new("RGB", (1, 1)).save("one.jpg")
    assert cli("info", "one.jpg").stdout.splitlines()[-1] == "recipe: none (no recipe in its metadata)"


def test_text_chunks_after_the_image_data(cli):
    """PNG allows text after IDAT; readers (and genai) take it like any other."""
    Image.new("RGB", (4, 4)).save("late.png")
    data = Path("late.png").read_bytes()
    body = b"parameters\0" + A1111.encode("latin-1")
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    iend = data.rindex(b"IEND") - 4
    Path("late.png").write_bytes(data[:iend] + chunk + data[iend:])
    assert data.index(b"IDAT") < Path("late.png").read_bytes().index(b"tEXt")
    assert fields(recipe(cli, "late.png")) == A1111_FIELDS


def test_unreadable_recipe_is_reported_not_fatal(cli):
    png("bad.png", {"invokeai_metadata": json.dumps({"positive_prompt": "x"})})  # no scheduler: not a recipe
    r = cli("info", "bad.png")
    assert r.exit_code == 0 and "recipe: none (its InvokeAI metadata could not be read" in r.stdout


# --- folders and several files ----------------------------------------------------------------


def test_folder_one_line_per_image(cli):
    Path("lib/sub").mkdir(parents=True)
    png("lib/a.png", {"parameters": A1111})
    exif_image("lib/sub/b.jpg", A1111)
    png("lib/sub/c.png", {"prompt": comfy_prompt(), "workflow": COMFY_WORKFLOW})
    png("lib/n.png", novelai_chunks())
    Image.new("RGB", (1, 1)).save("lib/plain.png")
    Path("lib/notes.txt").write_text("not an image")
    Path("lib/.hidden.png").write_bytes(b"junk")
    Path("lib/readme.md").write_text("# hi")
    r = cli("info", "lib")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines() == [
        "lib/a.png\tAUTOMATIC1111\t1234\t30\t6.5\tDPM++ 2M\t512x768\tv1-5-pruned-emaonly\t"
        "masterpiece, a castle on a hill",
        "lib/n.png\tNovelAI\t3141592\t28\t5.0\tk_euler_ancestral\t832x1216\tStable Diffusion XL\t"
        "1girl, cherry blossoms",
        "lib/plain.png\tno-recipe\t-\t-\t-\t-\t1x1\t-\t-",
        "lib/sub/b.jpg\tAUTOMATIC1111\t1234\t30\t6.5\tDPM++ 2M\t512x768\tv1-5-pruned-emaonly\t"
        "masterpiece, a castle on a hill",
        "lib/sub/c.png\tComfyUI\t156680208\t20\t8.0\teuler\t512x512\tv1-5-pruned-emaonly.safetensors\t"
        "beautiful scenery, a lake",
    ]
    assert "skipped 2 file(s) that are not images" in r.stderr
    lines = [json.loads(line) for line in cli("info", "--json", "lib").stdout.splitlines()]
    assert [(d["file"], (d["recipe"] or {}).get("seed")) for d in lines] == [
        ("lib/a.png", 1234),
        ("lib/n.png", 3141592),
        ("lib/plain.png", None),
        ("lib/sub/b.jpg", 1234),
        ("lib/sub/c.png", 156680208),
    ]


def test_several_files_a_damaged_one_is_named_and_the_rest_shown(cli):
    png("a.png", {"parameters": A1111})
    Path("cut.png").write_bytes(Path("a.png").read_bytes()[:60])
    r = cli("info", "a.png", "cut.png")
    assert r.exit_code == 2 and r.stdout.startswith("a.png\tAUTOMATIC1111\t1234") and len(r.stdout.splitlines()) == 1
    assert "cut.png: damaged or unreadable image" in r.stderr


# --- genai imagine --recipe ---------------------------------------------------------------------


def _toy(cli, *args):
    r = cli("imagine", "--model", "toy", "--json", *args)
    assert r.exit_code == 0, r
    return [json.loads(line) for line in r.stdout.splitlines()]


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@pytest.fixture
def original(cli, one_torch_thread):
    """A toy image made with explicit settings; other tools' files carry its recipe below."""
    return _toy(
        cli,
        "a yellow heart on a black background",
        "--negative",
        "a green circle",
        "--seed",
        "11",
        "--steps",
        "4",
        "--guidance",
        "6",
        "--scheduler",
        "euler-a",
        "-o",
        "orig",
    )[0]


def _as(tool: str, rec: dict, sampler: str) -> Path:
    """The recipe of `rec` (a genai imagine --json record) written as `tool` writes it."""
    p, n, seed, steps, cfg = rec["prompt"], rec["negative"], rec["seed"], rec["steps"], rec["guidance"]
    if tool == "comfyui":
        return png(
            "comfy.png",
            {
                "prompt": comfy_prompt(p, n, seed, steps, cfg, sampler, "normal", 32, 32, "toy"),
                "workflow": COMFY_WORKFLOW,
            },
            size=(32, 32),
        )
    if tool == "a1111-jpeg":
        text = (
            f"{p}\nNegative prompt: {n}\n"
            f"Steps: {steps}, Sampler: {sampler}, CFG scale: {cfg}, Seed: {seed}, Size: 32x32, Model: toy"
        )
        return exif_image("a1111.jpg", text, size=(32, 32))
    if tool == "invokeai":
        return png(
            "invoke.png",
            {"invokeai_metadata": invokeai_meta(p, n, seed, steps, cfg, sampler, 32, 32, {"name": "toy"})},
            size=(32, 32),
        )
    if tool == "novelai":
        return png("nai.png", novelai_chunks(p, n, seed, steps, cfg, sampler, 32, 32, "toy 0F1E2D3C"), size=(32, 32))
    raise ValueError(tool)


@pytest.mark.parametrize(
    "tool, sampler",
    [
        ("comfyui", "euler_ancestral"),
        ("a1111-jpeg", "Euler a"),
        ("invokeai", "euler_a"),
        ("novelai", "k_euler_ancestral"),
    ],
)
def test_recipe_from_another_tool_regenerates_the_same_image(cli, original, tool, sampler):
    path = _as(tool, original, sampler)
    r = cli("imagine", "--model", "toy", "--recipe", str(path), "--json", "-o", "again")
    assert r.exit_code == 0, r
    got = json.loads(r.stdout)
    assert (got["prompt"], got["negative"], got["seed"], got["steps"], got["guidance"], got["scheduler"]) == (
        original["prompt"],
        original["negative"],
        11,
        4,
        6.0,
        "euler-a",
    )
    assert np.array_equal(_pixels(got["path"]), _pixels(original["path"]))
    assert "warning" not in r.stderr, r.stderr  # everything in these recipes was honoured


def test_recipe_flags_override_and_config_sits_under(cli, original, tmp_path):
    path = _as("comfyui", original, "euler_ancestral")
    Path("c.yaml").write_text("image:\n  steps: 2\n  guidance: 1.0\n  negative: a red star\n")
    r = cli(
        "imagine",
        "--model",
        "toy",
        "--recipe",
        str(path),
        "--config",
        "c.yaml",
        "--seed",
        "5",
        "--json",
        "-o",
        "o",
        "a blue circle on a white background",
    )
    assert r.exit_code == 0, r
    got = json.loads(r.stdout)
    # the flags win (seed, prompt); the recipe beats the config file (steps, guidance, negative)
    assert (got["prompt"], got["seed"], got["steps"], got["guidance"], got["negative"]) == (
        "a blue circle on a white background",
        5,
        4,
        6.0,
        "a green circle",
    )


def test_recipe_values_genai_cannot_honour_are_listed_and_ignored(cli, original):
    graph = comfy_prompt(original["prompt"], "", 2**40, 3, 7.0, "heun", "karras", 512, 512, "sdxl.safetensors")
    graph["10"] = {
        "class_type": "LoraLoader",
        "inputs": {"lora_name": "x.safetensors", "model": ["4", 0], "clip": ["4", 1]},
    }
    png("odd.png", {"prompt": graph})
    r = cli("imagine", "--model", "toy", "--recipe", "odd.png", "--json", "-o", "o")
    assert r.exit_code == 0, r
    warnings = [line for line in r.stderr.splitlines() if line.startswith("warning: recipe odd.png: ignored")]
    assert len(warnings) == 6, r.stderr
    for needle in (
        "sampler 'heun'",
        "seed 1099511627776",
        "size 512x512",
        "model 'sdxl.safetensors'",
        "ComfyUI nodes LoraLoader",
        "Karras",
    ):
        assert any(needle in w for w in warnings), (needle, r.stderr)
    got = json.loads(r.stdout)
    assert got["steps"] == 3 and got["width"] == 32 and got["scheduler"] == "default" and got["seed"] != 2**40


def test_recipe_model_is_only_reported_without_model(cli, original, tmp_path):
    path = _as("comfyui", original, "euler_ancestral")
    Path("c.yaml").write_text("image:\n  model: toy\n")
    r = cli("imagine", "--recipe", str(path), "--config", "c.yaml", "-o", "o", "--json")
    assert r.exit_code == 0, r
    assert "the recipe's model is toy; using toy (choose one with --model)" in r.stderr


def test_recipe_bad_files(cli, tmp_path):
    Image.new("RGB", (1, 1)).save("plain.png")
    r = cli("imagine", "--model", "toy", "--recipe", "plain.png")
    assert r.exit_code == 2 and "plain.png: no recipe in this file" in r.stderr and r.stdout == ""
    r = cli("imagine", "--model", "toy", "--recipe", "missing.png")
    assert r.exit_code == 2 and "missing.png" in r.stderr


def test_comfyui_model_behind_a_lora_loader(cli):
    graph = comfy_prompt(ckpt="sd_xl_base_1.0.safetensors")
    graph["10"] = {
        "class_type": "LoraLoader",
        "inputs": {"lora_name": "x.safetensors", "strength_model": 0.8, "model": ["4", 0], "clip": ["4", 1]},
    }
    graph["3"]["inputs"]["model"] = ["10", 0]
    assert recipe(cli, png("lora.png", {"prompt": graph}))["model"] == "sd_xl_base_1.0.safetensors"


@pytest.mark.parametrize(
    "generator, sampler, schedule, expected, ignored",
    [
        ("AUTOMATIC1111", "Euler a", None, "euler-a", 0),
        ("AUTOMATIC1111", "DPM++ 2M Karras", None, "dpm++2m", 1),
        ("AUTOMATIC1111", "DPM++ 2M", "Karras", "dpm++2m", 1),
        ("AUTOMATIC1111", "DPM++ 2M", "Automatic", "dpm++2m", 0),
        ("AUTOMATIC1111", "PLMS", None, "pndm", 0),
        ("AUTOMATIC1111", "Heun", None, None, 1),
        ("ComfyUI", "euler_ancestral", "normal", "euler-a", 0),
        ("ComfyUI", "dpmpp_2m", "exponential", "dpm++2m", 1),
        ("ComfyUI", "uni_pc", "karras", None, 2),
        ("InvokeAI", "dpmpp_2m_k", None, "dpm++2m", 1),
        ("InvokeAI", "lms", None, "lms", 0),
        ("NovelAI", "k_euler", "native", "euler", 0),
        ("NovelAI", "ddim", "native", "ddim", 0),
        ("genai", "DPM++ 2M", "default", "default", 0),
        ("genai", "Euler a", "euler-a", "euler-a", 0),
    ],
)
def test_sampler_names_map_to_genai_schedulers(generator, sampler, schedule, expected, ignored):
    from genai_cli.image import recipes

    got, problems = recipes.scheduler_for({"generator": generator, "sampler": sampler, "scheduler": schedule})
    assert (got, len(problems)) == (expected, ignored), problems


def test_several_files_with_a_safetensors_file(cli):
    from safetensors.numpy import save_file

    save_file({"a": np.zeros((2, 3), np.float32)}, "w.safetensors")
    png("a.png", {"parameters": A1111})
    r = cli("info", "w.safetensors", "a.png")
    assert r.exit_code == 0, r
    assert r.stdout.splitlines()[0] == "w.safetensors\tsafetensors\t-\t-\t-\t-\t-\t-\t1 tensor"


def test_folder_through_a_pipe_as_a_real_process(genai_exe):
    Path("lib").mkdir()
    png("lib/c.png", {"prompt": comfy_prompt()})
    exif_image("lib/a.webp", A1111)
    Path("lib/x.txt").write_text("x")
    r = genai_exe("info", "--json", "lib")
    assert r.exit_code == 0, r
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(d["file"], d["recipe"]["generator"], d["recipe"]["seed"]) for d in got] == [
        ("lib/a.webp", "AUTOMATIC1111", 1234),
        ("lib/c.png", "ComfyUI", 156680208),
    ]
    assert "skipped 1 file(s) that are not images" in r.stderr and "skipped" not in r.stdout


def test_fooocus_jpeg_with_json_in_usercomment(cli):
    exif_image("f.jpg", json.dumps(FOOOCUS))
    rec = recipe(cli, "f.jpg")
    assert (rec["generator"], rec["prompt"], rec["seed"], rec["width"], rec["height"]) == (
        "Fooocus",
        "a cat on a sofa",
        1234567,
        1152,
        896,
    )
