"""Train the built-in `digits-cnn`: a tiny CNN for scikit-learn's 8x8 handwritten digits.

    .venv/bin/python scripts/train_digits_cnn.py            # writes genai_cli/conv/data/digits-cnn.safetensors

Data: sklearn.datasets.load_digits (1797 images, 8x8, grey 0..16; a copy of the UCI
"Optical Recognition of Handwritten Digits" test set, which ships inside scikit-learn;
no download). Fixed seed, CPU, one thread, ~30 s: the same tensors and metadata every run on one machine.
The layer list is stored in the file's metadata, so genai_cli/conv/cnn.py can rebuild and run
any such network in NumPy without this script.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from genai_cli import models
from genai_cli.conv.cnn import torch_module  # the installed package (bash scripts/setup.sh)

OUT = models.builtin("digits-cnn", "cnn")  # genai_cli/conv/data/digits-cnn.safetensors (genai_cli/models.py)

# The architecture, as data. (C, H, W) after each step in the comments.
LAYERS = [
    {"type": "conv2d", "name": "conv1", "in": 1, "out": 8, "kernel": 3, "stride": 1, "padding": 1},  # (8, 8, 8)
    {"type": "relu"},
    {"type": "conv2d", "name": "conv2", "in": 8, "out": 16, "kernel": 3, "stride": 1, "padding": 1},  # (16, 8, 8)
    {"type": "relu"},
    {"type": "maxpool2d", "size": 2},  # (16, 4, 4)
    {"type": "conv2d", "name": "conv3", "in": 16, "out": 16, "kernel": 3, "stride": 1, "padding": 1},  # (16, 4, 4)
    {"type": "relu"},
    {"type": "maxpool2d", "size": 2},  # (16, 2, 2)
    {"type": "flatten"},  # (64,)
    {"type": "linear", "name": "fc", "in": 64, "out": 10},  # (10,) logits
]
SEED = 0  # everything random (split, init, batches) follows from it
EPOCHS = 60  # passes over the training set
BATCH = 64  # images per step
LR = 3e-3  # Adam learning rate
TEST_FRACTION = 0.25  # held out for the accuracy that is recorded
SCALE = 16.0  # load_digits grey levels run 0..16 (ink is high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    from safetensors.numpy import save_file
    from sklearn.datasets import load_digits

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    digits = load_digits()
    x = (digits.images / SCALE).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in 0..1
    y = digits.target.astype(np.int64)  # (1797,)
    order = np.random.default_rng(SEED).permutation(len(x))
    n_test = int(len(x) * TEST_FRACTION)
    test, train = order[:n_test], order[n_test:]
    xt, yt = torch.from_numpy(x[train]), torch.from_numpy(y[train])

    model = torch_module(LAYERS)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(SEED)
    for _epoch in range(EPOCHS):
        model.train()
        perm = torch.randperm(len(xt), generator=gen)
        for start in range(0, len(xt), BATCH):
            idx = perm[start : start + BATCH]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        pred_test = model(torch.from_numpy(x[test])).argmax(1).numpy()
        pred_train = model(xt).argmax(1).numpy()
    acc_test = float((pred_test == y[test]).mean())
    acc_train = float((pred_train == y[train]).mean())
    print(f"train accuracy {acc_train:.4f}  test accuracy {acc_test:.4f} ({n_test} held-out images)")

    # one held-out example of each digit travels in the file, as built-in inputs
    samples = np.stack([x[test][y[test] == d][0] for d in range(10)])  # (10, 1, 8, 8)
    tensors = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    tensors["samples"] = samples
    tensors["sample_labels"] = np.arange(10, dtype=np.int64)
    meta = {
        "genai.kind": "cnn",
        "genai.layers": json.dumps(LAYERS),
        "genai.input": json.dumps({"channels": 1, "height": 8, "width": 8, "invert_light_background": True}),
        "genai.labels": json.dumps([str(d) for d in range(10)]),
        "genai.description": "tiny CNN for 8x8 handwritten digits (scikit-learn load_digits)",
        "genai.accuracy": json.dumps({"test": round(acc_test, 4), "train": round(acc_train, 4), "test_images": n_test}),
        "genai.recipe": json.dumps(
            {
                "script": "scripts/train_digits_cnn.py",
                "seed": SEED,
                "epochs": EPOCHS,
                "batch": BATCH,
                "lr": LR,
                "test_fraction": TEST_FRACTION,
                "torch": torch.__version__,
            }
        ),
        "genai.data": "sklearn.datasets.load_digits: UCI Optical Recognition of Handwritten Digits (CC BY 4.0)",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(f".tmp{os.getpid()}")
    save_file(tensors, str(tmp), metadata=meta)
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
