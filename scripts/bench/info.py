#!/usr/bin/env python
"""Benchmark: `genai info` on a folder of images against sd-parsers' ParserManager on the same files.

    python scripts/bench/info.py [--images 200] [--size 512] [--rounds 3]

Writes a folder of PNGs (random pixels, so they do not compress away), half with an AUTOMATIC1111
`parameters` chunk and half with a ComfyUI `prompt` + `workflow` pair, then, in one process and
interleaved (A B A B ...):
    anchor  sd_parsers.ParserManager().parse(path) for each file (its default settings)
    genai   genai_cli.image.inspect.describe(path) for each file (what `genai info FOLDER` does
            per file: checks, CRCs, text limits, normalised recipe)
and the whole command, each a fresh process: `python -c 'loop over ParserManager'` versus
`genai info FOLDER > /dev/null`. Prints per-image medians and the ratio genai / anchor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def make_folder(folder: Path, n: int, size: int) -> list[Path]:
    import numpy as np
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from tests.test_info import A1111, COMFY_WORKFLOW, comfy_prompt

    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size, size, 3), np.uint8)
    paths = []
    for i in range(n):
        info = PngInfo()
        if i % 2:
            info.add_text("parameters", A1111)
        else:
            info.add_text("prompt", json.dumps(comfy_prompt(seed=i)))
            info.add_text("workflow", json.dumps(COMFY_WORKFLOW))
        p = folder / f"img{i:05d}.png"
        Image.fromarray(np.roll(base, i, 0)).save(p, pnginfo=info)
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--size", type=int, default=512, help="image side in pixels")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()

    from sd_parsers import ParserManager

    from genai_cli.image import inspect

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_folder(folder, args.images, args.size)
        pm = ParserManager()
        anchor, genai = [], []
        for _ in range(args.rounds + 1):  # the first round warms up
            t = time.perf_counter()
            found = [pm.parse(p) for p in paths]
            anchor.append((time.perf_counter() - t) / len(paths))
            t = time.perf_counter()
            ours = [inspect.describe(p) for p in paths]
            genai.append((time.perf_counter() - t) / len(paths))
        assert all(found) and all(d["recipe"] for d in ours)
        a, g = statistics.median(anchor[1:]), statistics.median(genai[1:])
        print(f"{args.images} PNGs of {args.size}x{args.size}, half A1111, half ComfyUI")
        print(f"per image  sd-parsers ParserManager  median {a * 1000:7.2f} ms")
        print(f"per image  genai info                median {g * 1000:7.2f} ms")
        print(f"per image  ratio genai/sd-parsers    {g / a:.2f}")

        loop = (
            "import sys; from pathlib import Path; from sd_parsers import ParserManager; pm = ParserManager()\n"
            "for p in sorted(Path(sys.argv[1]).iterdir()): r = pm.parse(p); print(p, r.generator.value, r.full_prompt)"
        )
        genai_exe = Path(sys.executable).with_name("genai")

        def run(cmd: list[str]) -> float:
            t = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            return time.perf_counter() - t

        whole_a = statistics.median(run([sys.executable, "-c", loop, str(folder)]) for _ in range(3))
        whole_g = statistics.median(run([str(genai_exe), "info", str(folder)]) for _ in range(3))
        print(
            f"whole command, {args.images} images: sd-parsers script {whole_a:.2f} s, genai info {whole_g:.2f} s, "
            f"ratio {whole_g / whole_a:.2f}"
        )


if __name__ == "__main__":
    main()
