"""Words on a plane: PCA of their vectors to 2-D, with arrows for analogy pairs.

With pairs (china beijing russia moscow ...), each arrow goes from the first word of a pair
to the second: parallel arrows of similar length are the word2vec country -> capital picture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genai_cli.errors import UsageError
from genai_cli.vectors.store import Vectors


def pca_2d(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of X [n, dim] projected on their first two principal components -> ([n, 2], explained ratio [2])."""
    Xc = X - X.mean(axis=0)
    U, S, Vt = np.linalg.svd(Xc, full_matrices=False)
    coords = Xc @ Vt[:2].T
    if coords.shape[1] < 2:  # 1-D input: pad
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    var = S**2
    ratio = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    return coords, np.pad(ratio, (0, 2 - len(ratio)))


def plot_words(
    vs: Vectors,
    words: list[str],
    out: Path,
    pairs: bool = False,
    force: bool = False,
    fresh_name: bool = False,
    title: str | None = None,
    recipe: dict | None = None,
) -> dict:
    if len(words) < 2:
        raise UsageError("plot needs at least two words")
    if pairs and len(words) % 2:
        raise UsageError(
            f"--pairs needs an even number of words, got {len(words)}", hint="e.g. china beijing russia moscow"
        )
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out must end in .png: {out}")
    if out.is_dir():
        raise UsageError(f"--out is a folder: {out}", hint="give a file name ending in .png")
    if out.exists() and not force and not fresh_name:
        raise UsageError(f"{out} exists", hint="use --force to overwrite it, or another --out")
    if not out.parent.exists():
        raise UsageError(f"folder does not exist: {out.parent}")
    rows = [vs.require(w) for w in words]
    X = np.asarray(vs.vectors[rows], dtype=np.float64)  # [n, dim]
    coords, ratio = (X[:, :2], np.array([1.0, 0.0])) if vs.dim == 2 else pca_2d(X)

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 6), dpi=120)
    ax.scatter(coords[:, 0], coords[:, 1], s=30, color="#1f77b4", zorder=3)
    for (x, y), w in zip(coords, words):
        ax.annotate(w, (x, y), xytext=(5, 4), textcoords="offset points", fontsize=11, zorder=4)
    if pairs:
        for i in range(0, len(words), 2):
            (x0, y0), (x1, y1) = coords[i], coords[i + 1]
            ax.annotate(
                "",
                xy=(x1, y1),
                xytext=(x0, y0),
                arrowprops=dict(arrowstyle="->", color="#d62728", lw=1.4, shrinkA=4, shrinkB=4),
                zorder=2,
            )
    if vs.dim == 2:
        ax.set_xlabel("dimension 1")
        ax.set_ylabel("dimension 2")
    else:
        ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
        ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
    ax.set_title(title or f"{len(words)} words from {vs.name}" + (" (PCA to 2-D)" if vs.dim != 2 else ""))
    ax.grid(alpha=0.3)
    ax.margins(0.15)
    fig.tight_layout()
    from genai_cli.files import save_figure

    out = save_figure(
        fig, out, force, recipe=recipe
    )  # with fresh_name, an existing file gets a new name, never replaced
    return {
        "path": str(out),
        "words": words,
        "coords": coords.round(6).tolist(),
        "explained_variance": ratio.round(6).tolist(),
    }
