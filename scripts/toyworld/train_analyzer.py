"""Train the toy-world analyzer: a small CNN reading shape, colour and background off an image.

    # writes genai_cli/toyworld/data/analyzer.safetensors:
    nice -n 19 .venv/bin/python scripts/toyworld/train_analyzer.py
    # + the night sky: data/analyzer-sky.safetensors:
    nice -n 19 .venv/bin/python scripts/toyworld/train_analyzer.py --sky

Data: fresh renders of every drawable scene (the held-out shape included), drawn twice: at 32x32, the
size of the diffusion model's training data (so of what it generates), and at 64x64 box-filtered to
32x32, like a larger image the analyzer is shown. Train and test images come from different seeds.
A little Gaussian noise is added while training (not when testing), so that the verdicts hold
on generated images, which are never as clean as renders. Fixed seed, CPU, one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genai_cli.conv.cnn import torch_module
from genai_cli.toyworld import analyzer as A
from genai_cli.toyworld import dataset as D

SEED = 0  # init, batches, noise
TRAIN_PER_SCENE = 60  # renders per (shape, colour, background) to train on (161 scenes)
TEST_PER_SCENE = 20  # ... and to measure accuracy on (another seed: other positions, sizes, jitter)
RENDER_SIZES = (32, 64)  # each scene is drawn at both; 64 is box-filtered to the analyzer's 32x32
EPOCHS = 15  # passes over the training images
BATCH = 128  # images per step
LR = 3e-3  # Adam learning rate
NOISE = 0.05  # training-time Gaussian noise, std drawn uniformly in 0..NOISE per image (pixels in 0..1)
SKY_TRAIN_PER_SCENE = 150  # --sky: renders per (family, colour) to train on (30 sky scenes)
SKY_TEST_PER_SCENE = 40  # ... and to measure accuracy on


def labels_of(ds: D.Dataset, heads: dict = A.HEADS) -> np.ndarray:
    """(N, heads) label indices; -1 where a head does not apply (the shape heads on a sky image, and back)."""
    cols = [ds.shape, ds.colour, ds.background]
    if "family" in heads:
        n = len(ds)
        cols += [
            ds.family if ds.family is not None else np.zeros(n, np.int64),
            ds.sky_colour if ds.sky_colour is not None else np.full(n, -1, np.int64),
        ]
    return np.stack(cols, 1)


def accuracy(model, x: torch.Tensor, y: np.ndarray, heads: dict = A.HEADS) -> dict:
    """Per head, over the images it applies to; `all`: every applicable head right."""
    slices = A.head_slices(heads)
    with torch.no_grad():
        z = torch.cat([model(x[i : i + 512]) for i in range(0, len(x), 512)]).numpy()
    right = np.stack([(z[:, s].argmax(1) == y[:, k]) | (y[:, k] < 0) for k, s in enumerate(slices.values())], 1)
    per = {name: float(right[y[:, k] >= 0, k].mean()) for k, name in enumerate(slices)}
    per["all"] = float(right.all(1).mean())
    return {k: round(v, 4) for k, v in per.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", type=Path, default=A.PATH)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument(
        "--sky",
        action="store_true",
        help="also read the night sky (family and sky colour heads); "
        "default --out: genai_cli/toyworld/data/analyzer-sky.safetensors",
    )
    parser.add_argument(
        "--render-sizes",
        default=",".join(map(str, RENDER_SIZES)),
        help="sizes each scene is drawn at, comma-separated (data/analyzer.safetensors was made with 64)",
    )
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.render_sizes.split(","))
    heads = A.SKY_HEADS if args.sky else A.HEADS
    layers = A.layers_for(heads)
    if args.sky and args.out == A.PATH:
        args.out = A.SKY_PATH
    sky_train, sky_test = (SKY_TRAIN_PER_SCENE, SKY_TEST_PER_SCENE) if args.sky else (0, 0)
    from safetensors.numpy import save_file

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    t0 = time.time()
    train = [D.build(TRAIN_PER_SCENE, n, seed=SEED + 1 + 10 * k, sky_per_scene=sky_train) for k, n in enumerate(sizes)]
    test = [D.build(TEST_PER_SCENE, n, seed=SEED + 2 + 10 * k, sky_per_scene=sky_test) for k, n in enumerate(sizes)]
    xt = torch.from_numpy(np.concatenate([A.to_input(ds.images) for ds in train]))
    yt = np.concatenate([labels_of(ds, heads) for ds in train])
    xv = torch.from_numpy(np.concatenate([A.to_input(ds.images) for ds in test]))
    yv = np.concatenate([labels_of(ds, heads) for ds in test])
    test_shapes = np.concatenate([ds.shape for ds in test])
    print(f"rendered {len(xt)} train + {len(xv)} test images in {time.time() - t0:.1f}s", flush=True)

    model = torch_module(layers)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=args.epochs * ((len(xt) + BATCH - 1) // BATCH))
    gen = torch.Generator().manual_seed(SEED)
    ytt = torch.from_numpy(yt)
    slices = list(A.head_slices(heads).values())
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), BATCH):
            idx = perm[start : start + BATCH]
            x = xt[idx]
            sigma = torch.rand(len(x), 1, 1, 1, generator=gen) * NOISE
            x = (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1)
            z = model(x)  # (B, 17), or (B, 29) with the sky
            yb = ytt[idx]
            loss = sum(
                nn.functional.cross_entropy(z[:, s], yb[:, k], ignore_index=-1)
                for k, s in enumerate(slices)
                if (yb[:, k] >= 0).any()
            )
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        print(
            f"epoch {epoch + 1}/{args.epochs} loss {loss.item():.4f} "
            f"test {accuracy(model, xv, yv, heads)} ({time.time() - t0:.0f}s)",
            flush=True,
        )
    acc_test, acc_train = accuracy(model, xv, yv, heads), accuracy(model, xt, yt, heads)
    print(f"test accuracy {acc_test} on {len(xv)} held-out renders; train {acc_train}")

    # one test render of each shape travels in the file as a built-in sample (genai conv layers)
    samples = np.ascontiguousarray(
        np.stack([xv.numpy()[test_shapes == k][0] for k in range(len(A.HEADS["shape"]))])
    )  # (7, 3, 32, 32)
    tensors = {k: np.ascontiguousarray(v.detach().numpy()) for k, v in model.state_dict().items()}
    tensors["samples"] = samples
    tensors["sample_labels"] = np.arange(len(samples), dtype=np.int64)
    labels = [f"{head}:{name}" for head, names in heads.items() for name in names]
    meta = {
        "genai.kind": "cnn",
        "genai.layers": json.dumps(layers),
        "genai.heads": json.dumps(heads),
        "genai.input": json.dumps(
            {"channels": 3, "height": A.INPUT_SIZE, "width": A.INPUT_SIZE, "invert_light_background": False}
        ),
        "genai.labels": json.dumps(labels),
        "genai.description": (
            "toy-world analyzer: shape, colour and background of a toy-world image (3 heads in one output)"
            if not args.sky
            else "toy-world analyzer: shape, colour, background, and the night sky's "
            "family and dominant colour (5 heads in one output)"
        ),
        "genai.accuracy": json.dumps({"test": acc_test, "train": acc_train, "test_images": len(xv)}),
        "genai.recipe": json.dumps(
            {
                "script": "scripts/toyworld/train_analyzer.py",
                "seed": SEED,
                "epochs": args.epochs,
                "batch": BATCH,
                "lr": LR,
                "noise": NOISE,
                "train_per_scene": TRAIN_PER_SCENE,
                "test_per_scene": TEST_PER_SCENE,
                "render_sizes": list(sizes),
                "torch": torch.__version__,
                **({"sky_train_per_scene": sky_train, "sky_test_per_scene": sky_test} if args.sky else {}),
            }
        ),
        "genai.data": "rendered by genai_cli/toyworld (no external data)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
