"""PNG figures for `genai conv apply` and `genai conv layers` (matplotlib, Agg backend).

Signed maps (edge filters give negative values) use a diverging colour map centred on
zero, so negative responses show as blue and positive as red; maps with no negative value
use a grey scale. Every panel has a colour bar and a title with its shape. Files are
written to a temp name and renamed; an existing file is kept unless force is set (a fresh
name, stem-1.png, stem-2.png ..., is chosen instead).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

DIVERGING = "RdBu_r"  # negative blue, zero white, positive red
SEQUENTIAL = "gray"  # maps with no negative value, and inputs
CLIP_PERCENTILE = 99.5  # large signed maps: colours saturate at this percentile of |value| (arrows on the bar)


def save(fig, path: Path, force: bool, recipe: dict) -> Path:
    """Write the figure atomically, with its recipe in the PNG's `genai` text chunk (JSON with its `command`, which
    `genai info` reads back); returns the path used.
    Missing folders are created here, as the file is written, and removed again if the write fails."""
    from genai_cli.errors import GenaiError
    from genai_cli.files import save_figure

    made: list[Path] = []
    try:
        _make_folders(path.parent, made)
        return save_figure(
            fig,
            path,
            force,
            recipe=recipe,
            dpi=recipe.get("dpi", 110),
        )
    except BaseException as e:
        import matplotlib.pyplot as plt

        plt.close(fig)
        for folder in reversed(made):  # a failed run leaves no empty folder behind
            try:
                folder.rmdir()
            except OSError:
                break
        if isinstance(e, OSError):
            raise GenaiError(f"cannot write {path}: {e.strerror or e}", hint="choose another --out") from None
        raise


def _make_folders(folder: Path, made: list[Path]) -> None:
    """Create `folder` and its missing parents, appending each one created to `made` (outermost first)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        f.mkdir()
        made.append(f)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _shape(a: np.ndarray) -> str:
    return "×".join(str(s) for s in a.shape)


def colour_limit(maps: list[np.ndarray], clip_percentile: float = CLIP_PERCENTILE) -> tuple[float, bool]:
    """A symmetric colour limit for signed maps: the given percentile of |value| over all maps
    (edge responses are sparse, so the few strongest would wash out the rest), never below 1/4 of the max.
    Returns (limit, clipped)."""
    values = np.abs(np.concatenate([m.ravel() for m in maps]))
    top = float(values.max()) or 1.0
    if values.size < 1000:  # small maps (the demo, a CNN's maps): show every value unclipped
        return top, False
    lim = max(float(np.percentile(values, clip_percentile)), top / 4)
    return lim, lim < top


def _show_map(
    fig, ax, data: np.ndarray, title: str, signed: bool | None = None, vmax: float | None = None, clipped: bool = False
):
    """One 2-D map with a colour bar; diverging around 0 when it has negative values.
    clipped: values beyond +-vmax exist (the colour bar gets arrows)."""
    signed = bool((data < 0).any()) if signed is None else signed
    if signed:
        lim = vmax if vmax is not None else float(np.abs(data).max()) or 1.0
        im = ax.imshow(data, cmap=DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest")
    else:
        im = ax.imshow(
            data,
            cmap=SEQUENTIAL,
            vmin=min(0.0, float(data.min())),
            vmax=vmax if vmax is not None else (float(data.max()) or 1.0),
            interpolation="nearest",
        )
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03, extend=("both" if signed else "max") if clipped else "neither")
    return im


def _fmt(v: float) -> str:
    from genai_cli.conv.kernels import fmt_value

    return fmt_value(v)


def _show_kernel(fig, ax, kernel: np.ndarray, title: str, annotate: bool = True) -> None:
    lim = float(np.abs(kernel).max()) or 1.0
    im = ax.imshow(kernel, cmap=DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest")
    if annotate and max(kernel.shape) <= 7:
        for (r, c), v in np.ndenumerate(kernel):
            ax.text(
                c,
                r,
                _fmt(v),
                ha="center",
                va="center",
                fontsize=11 if max(kernel.shape) <= 3 else 8,
                color="white" if abs(v) > 0.6 * lim else "black",
            )
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)


def apply_figure(
    pixels: np.ndarray,
    channel_names: list[str],
    kernel: np.ndarray,
    kernel_label: str,
    features: list[np.ndarray],
    pooled: list[np.ndarray] | None,
    *,
    image_name: str,
    stride: int,
    padding: int,
    pool: str | None,
    pool_size: int,
    rgb: np.ndarray | None = None,
):
    """Rows: one per channel. Columns: input, kernel, feature map, pooled map (if any).

    pixels: (C, H, W) grey levels; features: C maps (H', W'); pooled: C maps (H'', W'')."""
    plt = _pyplot()
    ncols = 4 if pooled is not None else 3
    nrows = len(features)
    h, w = pixels.shape[1:]
    panel = 3.6 * min(1.6, max(0.6, w / h))  # panel width in inches, following the image's aspect
    fig, axes = plt.subplots(
        nrows,
        ncols,
        figsize=(panel * (ncols - 1) + 3.0, 3.3 * nrows + 0.6),
        width_ratios=[1.0, 0.55] + [1.0] * (ncols - 2),
        squeeze=False,
        layout="constrained",
    )
    signed = any((f < 0).any() for f in features)
    # one colour scale for every channel and the pooled maps
    if signed:
        lim, clipped = colour_limit(features)
    else:
        lim, clipped = max(float(f.max()) for f in features) or 1.0, False
    for i, name in enumerate(channel_names):
        ax = axes[i, 0]
        if rgb is not None and i == 0 and nrows == 1:
            ax.imshow(rgb.astype(np.uint8))
        else:
            _show_map(fig, ax, pixels[i], "", signed=False, vmax=255.0)
        ax.set_title(f"input {name} {h}×{w}", fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        if i == 0:
            _show_kernel(fig, axes[i, 1], kernel, f"kernel {kernel_label}\n{_shape(kernel)}")
        else:
            axes[i, 1].axis("off")
        f = features[i]
        _show_map(
            fig,
            axes[i, 2],
            f,
            f"feature map {_shape(f)}\nstride {stride}, padding {padding}",
            signed=signed,
            vmax=lim,
            clipped=clipped,
        )
        if pooled is not None:
            p = pooled[i]
            _show_map(
                fig,
                axes[i, 3],
                p,
                f"{pool} pool {pool_size}×{pool_size} → {_shape(p)}",
                signed=signed,
                vmax=lim,
                clipped=clipped,
            )
    what = "cross-correlation (as torch conv2d)" + ("; blue < 0 < red" if signed else "")
    if clipped:
        what += f"; colours saturate at ±{lim:.0f} ({CLIP_PERCENTILE}th percentile of |value|)"
    fig.suptitle(f"{image_name} ⋆ {kernel_label}: {what}", fontsize=11)
    return fig


def layers_figure(
    cnn_name: str,
    x: np.ndarray,
    input_title: str,
    filters: np.ndarray,
    layer_index: int,
    maps: np.ndarray,
    probabilities: np.ndarray,
    labels: list[str],
    accuracy: dict,
    prediction: str,
    confidence: float,
):
    """Top: the input and the class probabilities; middle: the first layer's filters; bottom: the chosen layer's maps.

    x: (C, H, W) input in 0..1; filters: (C_out, C_in, kh, kw) of conv layer 1;
    maps: (C, H', W') of the chosen layer."""
    plt = _pyplot()
    n_filters, n_maps = filters.shape[0], maps.shape[0]
    cols = 8
    frows = -(-n_filters // cols)
    mrows = -(-n_maps // cols)
    fig = plt.figure(figsize=(2.0 * cols + 1.0, 3.2 + 2.1 * (frows + mrows) + 1.0), layout="constrained")
    top, mid, bottom = fig.subfigures(3, 1, height_ratios=[3.0, 2.1 * frows + 0.5, 2.1 * mrows + 0.5])

    ax_in, ax_p, _ = top.subplots(1, 3, width_ratios=[1, 1.6, 0.6])
    _.axis("off")
    if x.shape[0] == 3:  # a colour input is shown in colour
        ax_in.imshow(np.clip(x.transpose(1, 2, 0), 0, 1), interpolation="nearest")
        ax_in.set_xticks([])
        ax_in.set_yticks([])
        ax_in.set_title(f"{input_title}\ninput {_shape(x)}", fontsize=9)
    else:
        _show_map(top, ax_in, x[0], f"{input_title}\ninput {_shape(x)}", signed=False, vmax=1.0)
    ax_p.bar(range(len(probabilities)), probabilities, color="tab:blue")
    groups: dict[str, list[int]] = {}  # one group per head ("shape:star" -> "shape"); plain labels: one group
    for i, t in enumerate(labels or [str(i) for i in range(len(probabilities))]):
        groups.setdefault(t.split(":")[0] if ":" in t else "", []).append(i)
    winners = [max(idx, key=lambda i: probabilities[i]) for idx in groups.values()]
    ax_p.bar(winners, probabilities[winners], color="tab:red")
    ticks = labels or [str(i) for i in range(len(probabilities))]
    ax_p.set_xticks(
        range(len(probabilities)),
        [t.split(":")[-1] for t in ticks],
        rotation=90 if len(ticks) > 10 else 0,
        fontsize=8 if len(ticks) > 10 else 10,
    )
    ax_p.set_ylim(0, 1)
    ax_p.set_ylabel("probability" + (" (per head)" if any(":" in t for t in ticks) else ""))
    test = accuracy.get("test")
    test = test.get("all") if isinstance(test, dict) else test  # several heads: all of them right
    acc = f" (held-out accuracy {test:.1%})" if isinstance(test, (int, float)) else ""
    ax_p.set_title(f"{cnn_name} says {prediction}: {confidence:.1%}{acc}", fontsize=10)

    lim = float(np.abs(filters).max()) or 1.0
    axes = mid.subplots(frows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n_filters:
            ax.axis("off")
            continue
        im = ax.imshow(
            filters[i].sum(axis=0) if filters.shape[1] > 1 else filters[i, 0],
            cmap=DIVERGING,
            vmin=-lim,
            vmax=lim,
            interpolation="nearest",
        )
        ax.set_title(f"filter {i}", fontsize=9)
    mid.colorbar(im, ax=axes, fraction=0.02, pad=0.01)
    mid.suptitle(
        f"layer 1: {n_filters} learned filters, {filters.shape[2]}×{filters.shape[3]} each "
        f"(weights {_shape(filters)}; blue < 0 < red)",
        fontsize=11,
    )

    lim = float(np.abs(maps).max()) or 1.0
    axes = bottom.subplots(mrows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n_maps:
            ax.axis("off")
            continue
        im = ax.imshow(maps[i], cmap=DIVERGING, vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(f"map {i}", fontsize=9)
    bottom.colorbar(im, ax=axes, fraction=0.02, pad=0.01)
    bottom.suptitle(
        f"layer {layer_index}: {n_maps} feature maps {_shape(maps[0])} "
        f"(output {_shape(maps)}, before ReLU; blue < 0 < red)",
        fontsize=11,
    )
    return fig
