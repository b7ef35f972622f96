"""The attention heatmap PNG, written atomically, never over an existing file unless asked."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def heatmap(
    weights: Any, tokens: list[str], title: str, path: Path, recipe: dict[str, Any], force: bool = False
) -> Path:
    """Draw `weights` [T, T] (row: the token that looks, column: the token looked at) to `path`.

    The PNG carries its recipe: the settings as JSON in a `genai` text chunk, with `command: attention`, which
    `genai info` reads back. No AUTOMATIC1111 `parameters` chunk: this is a figure, not a generated image, and
    image tools would show its text as a prompt."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    w = np.asarray(weights, dtype=np.float32)  # [T, T]
    n = w.shape[0]
    labels = [_label(t) for t in tokens]
    side = min(16.0, max(5.0, 0.32 * n + 2.5))  # inches: ~0.3 inch per token keeps labels readable
    fig, ax = plt.subplots(figsize=(side + 1.2, side), dpi=110)
    masked = np.ma.masked_where(np.triu(np.ones_like(w, dtype=bool), k=1), w)  # causal: nothing above
    cmap = matplotlib.colormaps["viridis"].with_extremes(bad="#f2f2f2")  # masked cells: light grey
    norm = matplotlib.colors.PowerNorm(
        gamma=0.5, vmin=0.0, vmax=float(max(w.max(), 1e-6))
    )  # sqrt: small weights stay visible
    im = ax.imshow(masked, cmap=cmap, norm=norm, interpolation="nearest")
    fontsize = 10 if n <= 24 else 8 if n <= 48 else 6
    ax.set_xticks(range(n), labels, rotation=90, fontsize=fontsize, family="monospace")
    ax.set_yticks(range(n), labels, fontsize=fontsize, family="monospace")
    ax.set_xlabel("attended-to token (key)")
    ax.set_ylabel("attending token (query)")
    ax.set_title(title, fontsize=11)
    if n <= 16:  # small maps: print the weights in the cells
        for i in range(n):
            for j in range(i + 1):
                ax.text(
                    j,
                    i,
                    f"{w[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if w[i, j] < 0.36 * w.max() else "black",
                )
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    fig.tight_layout()
    from genai_cli.files import save_figure

    path.parent.mkdir(parents=True, exist_ok=True)
    return save_figure(fig, path, force, recipe=recipe)


def _label(token: str) -> str:
    """A token as an axis label: leading space shown as '␣', newlines as '\\n'."""
    text = token.replace("\n", "\\n").replace("\t", "\\t")
    if text.startswith(" "):
        text = "␣" + text[1:]
    return text if text.strip() else repr(token)
