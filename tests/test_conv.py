"""`genai conv`: the talk's numbers, agreement with torch, figures, the shipped CNN, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from genai_cli.conv import cnn, demo, kernels, ops

TALK_ROWS = [[-132, 58, 119, 64], [-185, 74, 176, 46]]


def torch_conv(image: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: int = 0) -> np.ndarray:
    x = torch.from_numpy(np.asarray(image, np.float64))[None, None]  # (1, 1, H, W)
    w = torch.from_numpy(np.asarray(kernel, np.float64))[None, None]  # (1, 1, kh, kw)
    return F.conv2d(x, w, stride=stride, padding=padding)[0, 0].numpy()


# --- the talk's demo --------------------------------------------------------------------


def test_demo_json_reproduces_the_talk_and_torch(cli):
    r = cli("conv", "demo", "--json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["kernel"] == [[1, 0, -1], [1, 0, -1], [1, 0, -1]]
    assert out["feature_map"][:2] == TALK_ROWS
    assert out["pooled"][0] == [74, 176]
    grid = np.array(out["input"])
    assert grid.shape == (6, 6) and grid.min() >= 0 and grid.max() <= 255
    # the whole 4x4 map and 2x2 pooled map are what torch computes from the same grid
    expected = torch_conv(grid, out["kernel"])
    np.testing.assert_array_equal(np.array(out["feature_map"]), expected)
    pooled = F.max_pool2d(torch.from_numpy(expected)[None, None], 2)[0, 0].numpy()
    np.testing.assert_array_equal(np.array(out["pooled"]), pooled)
    assert "conv height: floor((6 + 2*0 - 3) / 1) + 1 = 4" in out["sizes"]


def test_demo_tables_and_explain(cli):
    r = cli("conv", "demo", "--explain", "1", "2")
    assert r.exit_code == 0, r
    text = r.stdout
    lines = [" ".join(line.split()) for line in text.splitlines()]
    # feature map rows, and beside them the pooled rows
    assert "0 -132 58 119 64 0 74 176" in lines, text
    assert "1 -185 74 176 46 1 72 87" in lines, text
    # the explanation of cell (1, 2): window rows 1-3, columns 2-4 of the grid, times the kernel
    g = demo.TALK_GRID
    win = g[1:4, 2:5]
    assert text.strip().endswith("= 176")
    assert f"({win[0, 0]}×1) + ({win[0, 1]}×0) + ({win[0, 2]}×-1)" in text
    assert int((win * kernels.named("vertical-edges")).sum()) == 176
    assert "floor((n + 2p - k) / s) + 1" in text
    assert r.stderr == ""


def test_demo_explain_json(cli):
    r = cli("conv", "demo", "--explain", "0", "0", "--json")
    ex = json.loads(r.stdout)["explain"]
    assert ex["sum"] == -132
    assert np.sum(ex["products"]) == -132
    assert ex["window"] == demo.TALK_GRID[:3, :3].tolist()


def test_demo_with_padding_and_stride_follows_the_formula(cli):
    r = cli("conv", "demo", "--json", "--padding", "1", "--stride", "2")
    out = json.loads(r.stdout)
    n = ops.output_size(6, 3, 1, 2)
    assert n == 3 and np.array(out["feature_map"]).shape == (3, 3)
    np.testing.assert_array_equal(np.array(out["feature_map"]), torch_conv(demo.TALK_GRID, out["kernel"], 2, 1))


@pytest.mark.parametrize(
    "args",
    [
        ("--explain", "4", "0"),
        ("--explain", "0", "-1"),
        ("--stride", "0"),
        ("--padding", "-1"),
        ("--pool", "median"),
        ("--pool-size", "5"),
    ],
)
def test_demo_bad_input_is_exit_2(cli, args):
    r = cli("conv", "demo", *args)
    assert r.exit_code == 2, r
    assert r.stdout == ""
    assert args[1] in r.stderr or args[-1] in r.stderr


# --- the NumPy ops against torch --------------------------------------------------------


@pytest.mark.parametrize(
    "shape,kshape,stride,padding",
    [
        ((6, 6), (3, 3), 1, 0),
        ((17, 23), (3, 3), 2, 1),
        ((20, 9), (5, 2), 3, 2),
        ((8, 8), (1, 1), 1, 0),
        ((9, 12), (4, 4), 1, 3),
        ((5, 5), (5, 5), 1, 0),
    ],
)
def test_correlate2d_matches_torch(shape, kshape, stride, padding):
    rng = np.random.default_rng(0)
    image = rng.normal(size=shape)
    kernel = rng.normal(size=kshape)
    kernel[0, 0] = 0.0  # the zero-skip path
    ours = ops.correlate2d(image, kernel, stride, padding)
    ref = torch_conv(image, kernel, stride, padding)
    assert (
        ours.shape
        == ref.shape
        == (
            ops.output_size(shape[0], kshape[0], padding, stride),
            ops.output_size(shape[1], kshape[1], padding, stride),
        )
    )
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-12)


def test_correlate2d_float32_integers_are_exact():
    rng = np.random.default_rng(1)
    image = rng.integers(0, 256, (64, 48)).astype(np.float32)
    for name in ("vertical-edges", "sobel-x", "laplacian", "emboss"):
        k = kernels.named(name).astype(np.float32)
        np.testing.assert_array_equal(ops.correlate2d(image, k), torch_conv(image, k))


@pytest.mark.parametrize("shape,size", [((4, 4), 2), ((7, 9), 2), ((10, 11), 3), ((5, 5), 1)])
def test_pooling_matches_torch(shape, size):
    x = np.random.default_rng(2).normal(size=(3, *shape))
    t = torch.from_numpy(x)[None]
    np.testing.assert_array_equal(ops.pool2d(x, size, "max"), F.max_pool2d(t, size)[0].numpy())
    np.testing.assert_allclose(ops.pool2d(x, size, "avg"), F.avg_pool2d(t, size)[0].numpy(), rtol=1e-12)


def test_conv2d_multichannel_matches_torch():
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(4, 11, 13)), rng.normal(size=(6, 4, 3, 3)), rng.normal(size=6)
    for stride, padding in ((1, 1), (2, 0), (3, 2)):
        ref = F.conv2d(
            torch.from_numpy(x)[None], torch.from_numpy(w), torch.from_numpy(b), stride=stride, padding=padding
        )[0]
        np.testing.assert_allclose(ops.conv2d(x, w, b, stride, padding), ref.numpy(), rtol=1e-10, atol=1e-10)


# --- kernels ----------------------------------------------------------------------------


def test_named_kernels_listed(cli):
    r = cli("conv", "kernels", "--json")
    named = json.loads(r.stdout)
    for name in (
        "vertical-edges",
        "horizontal-edges",
        "sobel-x",
        "sobel-y",
        "laplacian",
        "sharpen",
        "box-blur",
        "gaussian-blur",
        "emboss",
    ):
        assert name in named
    assert named["vertical-edges"]["values"] == [[1, 0, -1]] * 3
    assert abs(np.sum(named["gaussian-blur"]["values"]) - 1) < 1e-12
    assert abs(np.sum(named["box-blur"]["values"]) - 1) < 1e-12


def test_sobel_sign_matches_scipy():
    from scipy import ndimage

    x = np.random.default_rng(4).normal(size=(12, 12))
    np.testing.assert_allclose(ops.correlate2d(x, kernels.named("sobel-x")), ndimage.sobel(x, axis=1)[1:-1, 1:-1])
    np.testing.assert_allclose(ops.correlate2d(x, kernels.named("sobel-y")), ndimage.sobel(x, axis=0)[1:-1, 1:-1])


def test_kernel_files_yaml_csv_and_values(tmp_path):
    (tmp_path / "k.yaml").write_text("kernel:\n  - [1, 2]\n  - [3, 4.5]\n")
    (tmp_path / "l.yml").write_text("- [0, 1]\n- [1, 0]\n")
    (tmp_path / "k.csv").write_text("# my kernel\n1, 0, -1\n2,0,-2\n")
    np.testing.assert_array_equal(kernels.load_file(tmp_path / "k.yaml"), [[1, 2], [3, 4.5]])
    np.testing.assert_array_equal(kernels.load_file(tmp_path / "l.yml"), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(kernels.load_file(tmp_path / "k.csv"), [[1, 0, -1], [2, 0, -2]])
    np.testing.assert_array_equal(kernels.parse_values("1,0,-1; 1 0 -1;1,0,-1"), [[1, 0, -1]] * 3)


# --- apply ------------------------------------------------------------------------------


@pytest.fixture
def edge_png(tmp_path) -> Path:
    """A 40x30 grey image: left 200, right 50 (a bright-to-dark vertical edge at column 15)."""
    a = np.full((40, 30), 50, np.uint8)
    a[:, :15] = 200
    path = tmp_path / "edge.png"
    Image.fromarray(a).save(path)
    return path


def test_apply_writes_figure_and_prints_only_its_path(cli, edge_png, tmp_path):
    r = cli("conv", "apply", str(edge_png), "--kernel", "vertical-edges")
    assert r.exit_code == 0, r
    path = Path(r.stdout.strip())
    assert r.stdout == f"{path}\n"
    assert path.name == "conv-edge-vertical-edges.png" and path.is_file()
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > 600 and im.height > 200
        recipe = json.loads(im.text["genai"])
        assert "parameters" not in im.text  # a JSON `parameters` chunk is Fooocus's: image tools misread it
    assert recipe["kernel"] == "vertical-edges" and recipe["stride"] == 1
    assert not list(tmp_path.glob(".*tmp*"))  # no temp file left


def test_apply_json_values(cli, edge_png):
    r = cli(
        "conv",
        "apply",
        str(edge_png),
        "--kernel-values",
        "1,0,-1;1,0,-1;1,0,-1",
        "--stride",
        "2",
        "--padding",
        "1",
        "--pool",
        "avg",
        "--pool-size",
        "3",
        "--json",
    )
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    fh, fw = ops.output_size(40, 3, 1, 2), ops.output_size(30, 3, 1, 2)
    assert out["feature_shape"] == [fh, fw] == [20, 15]
    assert out["pooled_shape"] == [ops.output_size(fh, 3, 0, 3), ops.output_size(fw, 3, 0, 3)]
    # the image's own numbers, through torch: the edge gives 3*150 = 450; zero padding gives -600
    a = np.asarray(Image.open(edge_png), np.float64)
    ref = torch_conv(a, [[1, 0, -1]] * 3, 2, 1)
    assert out["feature_max"] == ref.max() == 450
    assert out["feature_min"] == ref.min()
    assert out["kernel"] == "custom" and out["pool"] == "avg"


def test_apply_rgb_and_sample_photo(cli):
    r = cli("conv", "apply", "--channels", "rgb", "-k", "laplacian", "--pool", "none", "--json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["image"] == "sample:china.jpg"
    assert out["channels"] == ["red", "green", "blue"] and out["input_shape"] == [427, 640]
    assert out["pooled_shape"] is None
    assert Path(out["path"]).is_file()
    assert "CC BY 2.0" in r.stderr


def test_apply_never_overwrites_without_force(cli, edge_png):
    first = cli("conv", "apply", str(edge_png)).stdout.strip()
    before = Path(first).read_bytes()
    second = cli("conv", "apply", str(edge_png), "-k", "vertical-edges").stdout.strip()
    assert second != first and Path(second).name == "conv-edge-vertical-edges-1.png"
    assert Path(first).read_bytes() == before
    third = cli("conv", "apply", str(edge_png), "-o", first, "--force").stdout.strip()
    assert third == first


def test_apply_explain_goes_to_stderr(cli, edge_png):
    r = cli("conv", "apply", str(edge_png), "--explain", "--padding", "2", "--stride", "3")
    assert r.exit_code == 0
    assert "floor((40 + 2*2 - 3) / 3) + 1 = 14" in r.stderr
    assert "floor" not in r.stdout


def test_apply_kernel_from_config_file(cli, edge_png, tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("conv:\n  kernel: sobel-y\n  pool: none\n")
    out = json.loads(cli("conv", "apply", str(edge_png), "--json", "-c", str(cfg)).stdout)
    assert out["kernel"] == "sobel-y" and out["pooled_shape"] is None
    assert out["feature_min"] == out["feature_max"] == 0  # no horizontal edge in the image


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--kernel-values", "1,0;1"], "not rectangular"),
        (["--kernel-values", "1,x,-1;1,0,-1"], "'x'"),
        (["--kernel-values", "1,nan"], "'nan'"),
        (["--kernel-values", ""], "empty"),
        (["--stride", "0"], "stride"),
        (["--padding", "-1"], "padding"),
        (["--kernel", "no-such-kernel"], "no-such-kernel"),
        (["--kernel", "sobel-x", "--kernel-values", "1"], "not both"),
        (["--pool", "median"], "median"),
        (["--channels", "cmyk"], "cmyk"),
        (["--pool-size", "0"], "--pool-size 0"),
    ],
)
def test_apply_bad_arguments_exit_2(cli, edge_png, args, needle):
    r = cli("conv", "apply", str(edge_png), *args)
    assert r.exit_code == 2, r
    assert r.stdout == ""
    assert needle in r.stderr
    assert not list(Path.cwd().glob("conv-*.png"))


def test_apply_bad_images_exit_2(cli, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all\n")
    r = cli("conv", "apply", str(text))
    assert r.exit_code == 2 and "notes.png" in r.stderr and "not an image" in r.stderr
    r = cli("conv", "apply", str(tmp_path / "missing.jpg"))
    assert r.exit_code == 2 and "missing.jpg" in r.stderr
    small = tmp_path / "small.png"
    Image.fromarray(np.zeros((2, 2), np.uint8)).save(small)
    r = cli("conv", "apply", str(small))
    assert r.exit_code == 2 and "larger than the padded image" in r.stderr
    assert cli("conv", "apply", str(small), "--padding", "1", "--pool", "none").exit_code == 0


def test_apply_bad_kernel_files_exit_2(cli, edge_png, tmp_path):
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("1,0,-1\n1,0\n")
    r = cli("conv", "apply", str(edge_png), "-k", str(ragged))
    assert r.exit_code == 2 and "not rectangular" in r.stderr and "ragged.csv" in r.stderr
    words = tmp_path / "words.yaml"
    words.write_text("kernel: [[1, two], [3, 4]]\n")
    r = cli("conv", "apply", str(edge_png), "-k", str(words))
    assert r.exit_code == 2 and "'two'" in r.stderr
    big = tmp_path / "big.yaml"
    big.write_text("".join("- [" + ",".join(["1"] * 50) + "]\n" for _ in range(50)))
    r = cli("conv", "apply", str(edge_png), "-k", str(big))
    assert r.exit_code == 2 and "50x50" in r.stderr


# --- layers: the shipped CNN ------------------------------------------------------------


def _torch_model(net: cnn.CNN) -> torch.nn.Sequential:
    model = cnn.torch_module(net.layers)
    model.load_state_dict({k: torch.from_numpy(v) for k, v in net.params.items()})
    return model.eval()


def test_builtin_cnn_numpy_forward_matches_torch_and_recorded_accuracy():
    from sklearn.datasets import load_digits

    net = cnn.load("digits-cnn")
    model = _torch_model(net)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    for i in range(0, 1797, 97):  # NumPy forward == torch forward
        ours = cnn.forward(net, x[i]).logits
        np.testing.assert_allclose(ours, logits[i], rtol=1e-4, atol=1e-4)
    # the accuracy written in the file is the held-out accuracy of these weights (same split as the script)
    order = np.random.default_rng(0).permutation(len(x))
    test = order[: net.accuracy["test_images"]]
    acc = (logits[test].argmax(1) == digits.target[test]).mean()
    assert round(float(acc), 4) == net.accuracy["test"] and acc > 0.95
    assert net.conv_layers[0]["out"] == 8


def test_layers_figure_and_json(cli):
    r = cli("conv", "layers", "--layer", "2", "--sample", "7", "--json")
    assert r.exit_code == 0, r
    out = json.loads(r.stdout)
    assert out["prediction"] == "7" and out["probability"] > 0.5
    assert out["conv_layers"] == [[8, 8, 8], [16, 8, 8], [16, 4, 4]]
    assert out["feature_shape"] == [16, 8, 8] and out["filters_shape"] == [8, 1, 3, 3]
    assert Path(out["path"]).is_file() and out["path"].endswith("L2.png")
    r = cli("conv", "layers")
    assert r.exit_code == 0 and Path(r.stdout.strip()).is_file()
    assert "predicts 3" in r.stderr


def test_layers_on_an_image_file(cli, tmp_path):
    """A built-in digit drawn dark on light and enlarged: prepare() shrinks and inverts it back."""
    net = cnn.load("digits-cnn")
    digit = net.samples[5, 0]  # (8, 8) in 0..1, light ink on dark
    big = np.kron(255 * (1 - digit), np.ones((12, 12)))  # (96, 96) dark ink on light paper
    path = tmp_path / "five.png"
    Image.fromarray(big.astype(np.uint8)).save(path)
    np.testing.assert_allclose(cnn.prepare(net, big)[0], digit, atol=1 / 255 + 1e-6)
    out = json.loads(cli("conv", "layers", str(path), "--json").stdout)
    assert out["prediction"] == "5" and out["input"] == str(path)


def test_layers_bad_input_exit_2(cli, tmp_path):
    assert cli("conv", "layers", "--layer", "4").exit_code == 2
    r = cli("conv", "layers", "--layer", "0")
    assert r.exit_code == 2 and "--layer 0" in r.stderr
    r = cli("conv", "layers", "--model", "resnet-9000")
    assert r.exit_code == 2 and "resnet-9000" in r.stderr
    r = cli("conv", "layers", "--sample", "10")
    assert r.exit_code == 2 and "--sample 10" in r.stderr
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 20)
    r = cli("conv", "layers", "--model", str(bad))
    assert r.exit_code == 2 and "bad.safetensors" in r.stderr


# --- the installed entry point and lazy imports ------------------------------------------


def test_entry_point_pipes(genai_exe):
    r = genai_exe("conv", "demo", "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["pooled"][0] == [74, 176]
    r = genai_exe("conv", "apply", "--stride", "0")
    assert r.exit_code == 2 and r.stdout == "" and "stride" in r.stderr and "Traceback" not in r.stderr


def test_conv_help_imports_nothing_heavy():
    import subprocess
    import sys

    # (not pydantic: typer 0.29 itself imports it to coerce a sub-group's --help flag, for every group)
    heavy = ("torch", "matplotlib", "scipy", "numpy", "PIL", "sklearn", "safetensors")
    for argv in (
        ["genai", "conv", "--help"],
        ["genai", "conv", "apply", "--help"],
        ["genai", "conv", "layers", "--help"],
    ):
        code = (
            f"import sys, json\nsys.argv={argv!r}\nfrom genai_cli.app import app\n"
            "try:\n    app(prog_name='genai')\nexcept SystemExit:\n    pass\n"
            "print(json.dumps(sorted(sys.modules)))"
        )
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
        assert not [m for m in heavy if m in mods], argv


def test_layers_shows_the_toy_analyzer_on_a_colour_image(cli, tmp_path):
    """The toy model's judge is a CNN too: RGB input, three heads (shape, colour, background) read separately."""
    from PIL import Image

    from genai_cli.toyworld import render, world

    img = tmp_path / "star.png"
    Image.fromarray(
        render.render(world.parse_caption("a red star on a blue background"), 32, render.image_rng(0, 0))
    ).save(img)
    r = cli("conv", "layers", str(img), "--model", "toy-analyzer", "-o", str(tmp_path / "an.png"), "--json")
    assert r.exit_code == 0, r
    rec = json.loads(r.stdout)
    assert rec["prediction"] == "star, red, blue" and rec["probability"] > 0.9
    assert rec["input_shape"] == [3, 32, 32] and rec["filters_shape"] == [16, 3, 3, 3]
    assert (tmp_path / "an.png").stat().st_size > 10_000


def test_apply_core_convolves_each_channel_on_its_own_then_pools(tmp_path):
    """genai_cli.conv.apply.convolve, the core of `genai conv apply`: each RGB channel is convolved with the kernel
    on its own (as torch does one input channel), pooled, and every output size is explained; nothing printed."""
    from genai_cli.conv import apply as A
    from genai_cli.errors import UsageError

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (13, 17, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "p.png")
    c = A.convolve(
        tmp_path / "p.png", None, "1,0,-1;2,0,-2;1,0,-1", channels="rgb", stride=2, padding=1, pool="max", pool_size=2
    )
    assert c.names == ["red", "green", "blue"] and c.planes.shape == (3, 13, 17) and c.label == "custom"
    for i in range(3):
        np.testing.assert_allclose(c.features[i], torch_conv(rgb[..., i], c.kernel, 2, 1), atol=1e-3)
        want = F.max_pool2d(torch.from_numpy(c.features[i])[None, None], 2)[0, 0].numpy()
        np.testing.assert_allclose(c.pooled[i], want)
    assert [s.text() for s in c.sizes][0].startswith("conv height") and len(c.sizes) == 4
    assert c.explain()[0] == "output sizes: floor((n + 2p - k) / s) + 1"
    record = c.to_json()
    assert record["feature_shape"] == [7, 9] and record["pooled_shape"] == [3, 4] and record["input_shape"] == [13, 17]
    gray = A.convolve(tmp_path / "p.png", "sobel-x")
    assert gray.names == ["gray"] and gray.pooled is None and len(gray.sizes) == 2
    with pytest.raises(UsageError, match="--channels must be gray or rgb"):
        A.convolve(tmp_path / "p.png", "sobel-x", channels="cmyk")
