"""`genai conv`: convolution and max-pooling, made visible.

Thin layer: parse flags, merge them over the config, call genai_cli.conv, render.
numpy, matplotlib and PIL are imported inside the command bodies only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from genai_cli.commands.common import ConfigOpt, ForceOpt, JsonOpt, model_option, out_option, refuse_existing_file

app = typer.Typer(
    help="Convolution and max-pooling, made visible: the talk's 6x6 demo, any image, a real CNN.",
    no_args_is_help=True,
    add_completion=False,
)

StrideOpt = Annotated[
    Optional[int],
    typer.Option("--stride", help="Step of the kernel in pixels. (config: conv.stride)", show_default=False),
]
PaddingOpt = Annotated[
    Optional[int],
    typer.Option("--padding", help="Rings of zeros around the image. (config: conv.padding)", show_default=False),
]
PoolOpt = Annotated[
    Optional[str], typer.Option("--pool", help="max, avg or none. (config: conv.pool)", show_default=False)
]
PoolSizeOpt = Annotated[
    Optional[int],
    typer.Option("--pool-size", help="Pooling window (and stride). (config: conv.pool_size)", show_default=False),
]
OutOpt = Annotated[
    Optional[Path], out_option("PNG path; default: conv-IMAGE-KERNEL.png in conv.plot_dir, a fresh name if it exists.")
]


def _check_flags(**flags) -> None:
    """Flag values against the documented limits (genai_cli/conv/limits.py), naming the flag; values from a
    config file are checked by the schema instead, naming the file and key."""
    from genai_cli.conv import limits
    from genai_cli.errors import UsageError

    ranges = {
        "stride": (1, limits.MAX_STRIDE),
        "padding": (0, limits.MAX_PADDING),
        "pool_size": (1, limits.MAX_POOL_SIZE),
        "layer": (1, limits.MAX_CNN_LAYERS),
    }
    for name, value in flags.items():
        lo, hi = ranges[name]
        if value is not None and not lo <= value <= hi:
            flag = "--" + name.replace("_", "-")
            raise UsageError(
                f"{flag} {value} is out of range: it must be {lo} to {hi}", hint=f"use {flag} {lo} to {hi}"
            )


def _settings(config_file, **flags) -> dict:
    """The conv config section with the given flags on top (flags are checked here and by the core, before any work)."""
    from genai_cli import config
    from genai_cli.errors import UsageError

    _check_flags(**{k: v for k, v in flags.items() if k in ("stride", "padding", "pool_size", "layer")})
    values = config.section("conv", config_file, **flags)
    if values["pool"] not in ("max", "avg", "none"):
        raise UsageError(f"--pool must be max, avg or none, got {values['pool']!r}")
    return values


# --- demo -------------------------------------------------------------------------------


@app.command()
def demo(
    explain: Annotated[
        Optional[tuple[int, int]],
        typer.Option(
            "--explain",
            metavar="ROW COL",
            help="Show the element-wise products and their sum for one output cell (counted from 0).",
            show_default=False,
        ),
    ] = None,
    stride: Annotated[int, typer.Option("--stride", help="Step of the kernel (the talk: 1).")] = 1,
    padding: Annotated[int, typer.Option("--padding", help="Rings of zeros around the grid (the talk: 0).")] = 0,
    pool: Annotated[str, typer.Option("--pool", help="max or avg (the talk: max).")] = "max",
    pool_size: Annotated[int, typer.Option("--pool-size", help="Pooling window and stride (the talk: 2).")] = 2,
    as_json: JsonOpt = False,
) -> None:
    """The talk's example: a 6x6 grid, the vertical-edge filter, the 4x4 output, 2x2 max pooling."""
    from genai_cli import console
    from genai_cli.conv import demo as core
    from genai_cli.errors import UsageError

    if pool not in ("max", "avg"):
        raise UsageError(f"--pool must be max or avg, got {pool!r}")
    _check_flags(stride=stride, padding=padding, pool_size=pool_size)
    result = core.run(stride=stride, padding=padding, pool=pool, pool_size=pool_size)
    cell = core.explain_cell(result, *explain) if explain is not None else None
    if as_json:
        obj = result.to_json()
        if cell is not None:
            obj["explain"] = cell.to_json()
        console.result_json(obj)
        return
    _print_demo(result, cell)


def _matrix_table(title: str, m, highlight: tuple[int, int, int, int] | None = None):
    """A rich table of a matrix with 0-based row/column indices; negatives in red.
    highlight = (row0, col0, rows, cols) marks a block in bold."""
    from rich import box
    from rich.table import Table

    from genai_cli.conv.demo import _num

    table = Table(
        title=title,
        box=box.SIMPLE_HEAD,
        show_header=True,
        header_style="dim",
        title_style="bold",
        pad_edge=False,
        min_width=len(title) + 2,
    )
    table.add_column("", style="dim", justify="right")
    for j in range(m.shape[1]):
        table.add_column(str(j), justify="right")
    for i in range(m.shape[0]):
        cells = []
        for j in range(m.shape[1]):
            v = _num(m[i, j])
            styles = ["red"] if v < 0 else []
            if (
                highlight
                and highlight[0] <= i < highlight[0] + highlight[2]
                and highlight[1] <= j < highlight[1] + highlight[3]
            ):
                styles += ["bold", "reverse"]
            cells.append(f"[{' '.join(styles)}]{v}[/]" if styles else str(v))
        table.add_row(str(i), *cells)
    return table


def _side_by_side(*tables):
    from rich.table import Table

    grid = Table.grid(padding=(0, 4))
    for _ in tables:
        grid.add_column(vertical="top")
    grid.add_row(*tables)
    return grid


def _shape(m) -> str:
    return "x".join(str(s) for s in m.shape)


def _print_demo(result, cell) -> None:
    from genai_cli import console
    from genai_cli.conv.demo import TALK_KERNEL

    hl_in = hl_out = None
    if cell is not None:
        hl_in = (
            cell.row * result.stride - result.padding,
            cell.col * result.stride - result.padding,
            *result.kernel.shape,
        )
        hl_out = (cell.row, cell.col, 1, 1)
    console.print_table(
        _side_by_side(
            _matrix_table(f"input {_shape(result.image)} (grey levels)", result.image, hl_in),
            _matrix_table(f"kernel {TALK_KERNEL} {_shape(result.kernel)}", result.kernel),
        )
    )
    console.print_table(
        _side_by_side(
            _matrix_table(f"feature map {_shape(result.feature)}", result.feature, hl_out),
            _matrix_table(
                f"{result.pool} pool {result.pool_size}x{result.pool_size} -> {_shape(result.pooled)}", result.pooled
            ),
        )
    )
    console.result("output sizes: floor((n + 2p - k) / s) + 1")
    for s in result.sizes:
        console.result("  " + s.text())
    if cell is None:
        return
    from genai_cli.conv.demo import _num

    console.result("")
    console.print_table(
        _side_by_side(
            _matrix_table(f"window under cell ({cell.row}, {cell.col})", cell.window),
            _matrix_table("x kernel", cell.kernel),
            _matrix_table("= products", cell.products),
        )
    )
    terms = " + ".join(f"({_num(w)}×{_num(k)})" for w, k in zip(cell.window.ravel(), cell.kernel.ravel()))
    products = " + ".join(str(_num(p)) if p >= 0 else f"({_num(p)})" for p in cell.products.ravel())
    console.result(f"cell ({cell.row}, {cell.col}) = {terms}")
    console.result(f"            = {products}")
    console.result(f"            = {_num(cell.total)}")


# --- kernels ----------------------------------------------------------------------------


@app.command()
def kernels(as_json: JsonOpt = False) -> None:
    """List the named kernels with their values."""
    from genai_cli import console
    from genai_cli.conv.kernels import KERNELS

    if as_json:
        console.result_json({name: {"values": values, "about": about} for name, (values, about) in KERNELS.items()})
        return
    for name, (values, about) in KERNELS.items():
        rows = "; ".join(",".join(_fmt(v) for v in row) for row in values)
        console.result(f"{name:<17} {rows:<42} {about}")


def _fmt(v: float) -> str:
    from genai_cli.conv.kernels import fmt_value

    return fmt_value(v)


# --- apply ------------------------------------------------------------------------------


@app.command()
def apply(
    image: Annotated[
        Optional[Path],
        typer.Argument(help="Image file (PNG, JPEG ...). Default: the built-in sample photo.", show_default=False),
    ] = None,
    kernel: Annotated[
        Optional[str],
        typer.Option(
            "--kernel",
            "-k",
            help="A named kernel (see `genai conv kernels`) or a YAML/CSV kernel file. (config: conv.kernel)",
            show_default=False,
        ),
    ] = None,
    kernel_values: Annotated[
        Optional[str],
        typer.Option(
            "--kernel-values", help='Kernel rows separated by ";", e.g. "1,0,-1;1,0,-1;1,0,-1".', show_default=False
        ),
    ] = None,
    stride: StrideOpt = None,
    padding: PaddingOpt = None,
    pool: PoolOpt = None,
    pool_size: PoolSizeOpt = None,
    channels: Annotated[
        Optional[str],
        typer.Option(
            "--channels", help="gray, or rgb (each channel on its own). (config: conv.channels)", show_default=False
        ),
    ] = None,
    out: OutOpt = None,
    force: ForceOpt = False,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain", help="Print how each output size follows from floor((n + 2p - k) / s) + 1 (on stderr)."
        ),
    ] = False,
    as_json: JsonOpt = False,
    config_file: ConfigOpt = None,
) -> None:
    """Convolve an image with a kernel; write a figure (input, kernel, feature map, pooled map); print its path."""
    from genai_cli import console
    from genai_cli.conv import apply as A
    from genai_cli.conv import figures, images

    cfg = _settings(
        config_file, kernel=kernel, stride=stride, padding=padding, pool=pool, pool_size=pool_size, channels=channels
    )
    refuse_existing_file(out, force)
    c = A.convolve(
        image,
        kernel if kernel_values is not None else cfg["kernel"],
        kernel_values,
        channels=cfg["channels"],
        stride=cfg["stride"],
        padding=cfg["padding"],
        pool=cfg["pool"],
        pool_size=cfg["pool_size"],
    )  # genai_cli/conv/apply.py: checks, each channel, pooling, sizes
    if explain:
        for line in c.explain():
            console.info(line)
    default = Path(cfg["plot_dir"]).expanduser() / f"conv-{Path(c.image_name).stem}-{c.label}.png"
    path = figures.save(A.figure(c), out.expanduser() if out else default, force, c.recipe(cfg["dpi"]))
    if image is None:
        console.info(f"sample photo: {images.SAMPLE_CREDIT}")
    if as_json:
        console.result_json({"path": str(path), **c.to_json()})
    else:
        console.result(str(path))


# --- layers -----------------------------------------------------------------------------


@app.command()
def layers(
    image: Annotated[
        Optional[Path],
        typer.Argument(
            help="Image to run the network on (resized to its input size). Default: a built-in sample.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[
        Optional[str], model_option("Built-in CNN name or a genai CNN .safetensors file.", "conv.model")
    ] = None,
    layer: Annotated[
        Optional[int],
        typer.Option(
            "--layer",
            "-l",
            help="Which convolution layer's feature maps to show (1 = first). (config: conv.layer)",
            show_default=False,
        ),
    ] = None,
    sample: Annotated[
        int,
        typer.Option(
            "--sample",
            min=0,
            max=9999,
            help="Without IMAGE: which built-in sample input to use (digits-cnn: the digit).",
        ),
    ] = 3,
    out: Annotated[
        Optional[Path],
        out_option(
            "PNG path; default: conv-layers-MODEL-INPUT-LLAYER.png in conv.plot_dir, a fresh name if it exists."
        ),
    ] = None,
    force: ForceOpt = False,
    as_json: JsonOpt = False,
    config_file: ConfigOpt = None,
) -> None:
    """A trained CNN's first-layer filters and one layer's feature maps on an image; write a figure, print its path."""
    import numpy as np

    from genai_cli import console
    from genai_cli.conv import cnn, figures, images
    from genai_cli.errors import UsageError

    cfg = _settings(config_file, model=model, layer=layer)
    refuse_existing_file(out, force)
    net = cnn.load(cfg["model"])
    n_conv = len(net.conv_layers)
    if not 1 <= cfg["layer"] <= n_conv:
        raise UsageError(
            f"--layer {cfg['layer']} is out of range: {net.name} has {n_conv} convolution layers",
            hint=f"use --layer 1 to {n_conv}",
        )
    if image is None:
        if net.samples is None:
            raise UsageError(f"{net.name} carries no sample inputs", hint="give an IMAGE")
        if not 0 <= sample < len(net.samples):
            raise UsageError(f"--sample {sample} is out of range: {net.name} has samples 0 to {len(net.samples) - 1}")
        x = net.samples[sample].astype(np.float32)  # (C, H, W) in 0..1
        truth = (
            net.labels[int(net.sample_labels[sample])] if net.sample_labels is not None and net.labels else str(sample)
        )
        input_name, title = f"sample{sample}", f"built-in sample {sample} (a {truth})"
    else:
        pixels, name = images.load(image, "rgb" if net.input.get("channels", 1) == 3 else "gray")
        x = cnn.prepare(net, pixels)  # (C, H, W) in 0..1
        input_name, title = Path(name).stem, name
    trace = cnn.forward(net, x)
    maps = trace.conv_outputs[cfg["layer"] - 1]  # (C, H', W')
    filters = net.params[f"{net.conv_layers[0]['name']}.weight"]  # (C_out, C_in, kh, kw)
    probs = net.probabilities(trace.logits)  # a softmax per head
    label, confidence = net.predict(trace.logits)
    fig = figures.layers_figure(
        net.name, x, title, filters, cfg["layer"], maps, probs, net.labels, net.accuracy, label, confidence
    )
    recipe = {
        "command": "genai conv layers",
        "model": cfg["model"],
        "layer": cfg["layer"],
        "input": str(image) if image else f"sample:{sample}",
        "dpi": cfg["dpi"],
    }
    default = Path(cfg["plot_dir"]).expanduser() / f"conv-layers-{Path(net.name).stem}-{input_name}-L{cfg['layer']}.png"
    path = figures.save(fig, out.expanduser() if out else default, force, recipe)
    console.info(f"{net.name} predicts {label} ({confidence:.1%})")
    if as_json:
        console.result_json(
            {
                "path": str(path),
                "model": net.name,
                "input": recipe["input"],
                "input_shape": list(x.shape),
                "layer": cfg["layer"],
                "conv_layers": [list(o.shape) for o in trace.conv_outputs],
                "filters_shape": list(filters.shape),
                "feature_shape": list(maps.shape),
                "prediction": label,
                "probability": confidence,
                "accuracy": net.accuracy,
            }
        )
    else:
        console.result(str(path))
