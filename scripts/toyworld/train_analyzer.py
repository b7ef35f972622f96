"""Train the toy-world analyzer: a small CNN reading shape, colour and background off an image.

    nice -n 19 .venv/bin/python scripts/toyworld/train_analyzer.py   # writes genai_cli/toyworld/data/analyzer.safetensors

Data: fresh renders of every drawable scene (the held-out shape included), 64x64 box-filtered to
32x32 like every image the analyzer will see; train and test images come from different seeds.
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
RENDER_SIZE = 64  # rendered at the dataset size, then box-filtered to the analyzer's 32x32
EPOCHS = 15  # passes over the training images
BATCH = 128  # images per step
LR = 3e-3  # Adam learning rate
NOISE = 0.05  # training-time Gaussian noise, std drawn uniformly in 0..NOISE per image (pixels in 0..1)


def labels_of(ds: D.Dataset) -> np.ndarray:
    return np.stack([ds.shape, ds.colour, ds.background], 1)  # (N, 3)


def accuracy(model, x: torch.Tensor, y: np.ndarray) -> dict:
    slices = A.head_slices()
    with torch.no_grad():
        z = torch.cat([model(x[i : i + 512]) for i in range(0, len(x), 512)]).numpy()
    per = {name: float((z[:, s].argmax(1) == y[:, k]).mean()) for k, (name, s) in enumerate(slices.items())}
    all_right = np.all(np.stack([z[:, s].argmax(1) == y[:, k] for k, s in enumerate(slices.values())]), 0)
    per["all"] = float(all_right.mean())
    return {k: round(v, 4) for k, v in per.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", type=Path, default=A.PATH)
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    args = parser.parse_args()
    from safetensors.numpy import save_file

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    t0 = time.time()
    train = D.build(TRAIN_PER_SCENE, RENDER_SIZE, seed=SEED + 1)
    test = D.build(TEST_PER_SCENE, RENDER_SIZE, seed=SEED + 2)
    xt, yt = torch.from_numpy(A.to_input(train.images)), labels_of(train)
    xv, yv = torch.from_numpy(A.to_input(test.images)), labels_of(test)
    print(f"rendered {len(train)} train + {len(test)} test images in {time.time() - t0:.1f}s", flush=True)

    model = torch_module(A.LAYERS)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, LR, total_steps=args.epochs * ((len(xt) + BATCH - 1) // BATCH))
    gen = torch.Generator().manual_seed(SEED)
    ytt = torch.from_numpy(yt)
    slices = list(A.head_slices().values())
    for epoch in range(args.epochs):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), BATCH):
            idx = perm[start : start + BATCH]
            x = xt[idx]
            sigma = torch.rand(len(x), 1, 1, 1, generator=gen) * NOISE
            x = (x + sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1)
            z = model(x)  # (B, 17)
            loss = sum(nn.functional.cross_entropy(z[:, s], ytt[idx, k]) for k, s in enumerate(slices))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        print(f"epoch {epoch + 1}/{args.epochs} loss {loss.item():.4f} test {accuracy(model, xv, yv)} ({time.time() - t0:.0f}s)", flush=True)
    acc_test, acc_train = accuracy(model, xv, yv), accuracy(model, xt, yt)
    print(f"test accuracy {acc_test} on {len(xv)} held-out renders; train {acc_train}")

    # one test render of each shape travels in the file as a built-in sample (genai conv layers)
    samples = np.ascontiguousarray(np.stack([xv.numpy()[test.shape == k][0] for k in range(len(A.HEADS["shape"]))]))  # (7, 3, 32, 32)
    tensors = {k: np.ascontiguousarray(v.detach().numpy()) for k, v in model.state_dict().items()}
    tensors["samples"] = samples
    tensors["sample_labels"] = np.arange(len(samples), dtype=np.int64)
    labels = [f"{head}:{name}" for head, names in A.HEADS.items() for name in names]
    meta = {
        "genai.kind": "cnn",
        "genai.layers": json.dumps(A.LAYERS),
        "genai.heads": json.dumps(A.HEADS),
        "genai.input": json.dumps({"channels": 3, "height": A.INPUT_SIZE, "width": A.INPUT_SIZE, "invert_light_background": False}),
        "genai.labels": json.dumps(labels),
        "genai.description": "toy-world analyzer: shape, colour and background of a toy-world image (3 heads in one output)",
        "genai.accuracy": json.dumps({"test": acc_test, "train": acc_train, "test_images": len(xv)}),
        "genai.recipe": json.dumps({"script": "scripts/toyworld/train_analyzer.py", "seed": SEED, "epochs": args.epochs,
                                    "batch": BATCH, "lr": LR, "noise": NOISE, "train_per_scene": TRAIN_PER_SCENE,
                                    "test_per_scene": TEST_PER_SCENE, "render_size": RENDER_SIZE, "torch": torch.__version__}),
        "genai.data": "rendered by genai_cli/toyworld (no external data)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(f".{args.out.name}.tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes) in {time.time() - t0:.0f}s")


if __name__ == "__main__":
    main()
