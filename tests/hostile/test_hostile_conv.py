"""Hostile input to `genai conv`: sizes past the documented limits, bad kernels, damaged and
malicious images and CNN files. Every payload is built here; each run must end with exit 2 and
one line naming the value or file, print nothing on stdout, run no code, and leave no file or
folder behind (nor change one that was there)."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genai_cli.conv import cnn, limits
from tests.hostile.conftest import assert_refused, pickle_payload


@pytest.fixture
def photo(tmp_path) -> Path:
    """A small real image: a bright square on a dark ground."""
    a = np.zeros((40, 48), np.uint8)
    a[10:30, 12:36] = 200
    path = tmp_path / "photo.png"
    Image.fromarray(a).save(path)
    return path


@pytest.fixture
def keep(tmp_path, photo):
    """An existing output file that a refused run must leave as it was, and a check that
    nothing else appeared in the folder."""
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    before = {p.name for p in tmp_path.rglob("*")}

    def check():
        assert out.read_bytes() == b"precious"
        assert {p.name for p in tmp_path.rglob("*")} == before, "a refused run left something behind"

    check.out = out
    return check


def apply(cli, keep, *args):
    return cli("conv", "apply", *args, "-o", str(keep.out), "--force")


# --- sizes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "flag, value, needle",
    [
        ("--padding", "100000", "padding"),
        ("--stride", "100000", "stride"),
        ("--pool-size", "100000", "out of range"),
        ("--padding", str(limits.MAX_PADDING + 1), "padding"),
        ("--stride", str(limits.MAX_STRIDE + 1), "stride"),
    ],
)
def test_apply_refuses_sizes_past_the_limits_before_reading_the_image(cli, keep, photo, flag, value, needle):
    r = apply(cli, keep, str(photo), flag, value)
    assert_refused(r, needle, value, flag)
    keep()


@pytest.mark.parametrize("flag", ["--padding", "--stride", "--pool-size"])
def test_demo_refuses_sizes_past_the_limits(cli, flag):
    assert_refused(cli("conv", "demo", flag, "100000"), "100000", flag)


def test_huge_kernel_values_are_refused_before_parsing_numbers(cli, keep, photo):
    side = limits.MAX_KERNEL_SIDE + 1
    values = ";".join([",".join(["1"] * side)] * side)
    assert_refused(apply(cli, keep, str(photo), "--kernel-values", values), f"{side}x{side}")
    one_row = ",".join(["1"] * 1_000_000)
    assert_refused(apply(cli, keep, str(photo), "--kernel-values", one_row), "1x1000000")
    keep()


@pytest.mark.parametrize(
    "values, bad", [("1,nan;1,1", "nan"), ("1,inf;1,1", "inf"), ("1,1;-inf,1", "-inf"), ("1e999,1;1,1", "1e999")]
)
def test_non_finite_kernel_values_are_refused(cli, keep, photo, values, bad):
    assert_refused(apply(cli, keep, str(photo), "--kernel-values", values), repr(bad), "finite")
    keep()


def test_work_past_the_limit_is_refused_before_convolving(cli, keep, tmp_path):
    big = tmp_path / "big.png"
    Image.new("L", (2048, 2048)).save(big)
    side = limits.MAX_KERNEL_SIDE
    values = ";".join([",".join(["1"] * side)] * side)  # 64x64 over 4 megapixels: 16 billion multiply-adds
    before = {p.name for p in tmp_path.rglob("*")}
    r = cli("conv", "apply", str(big), "--kernel-values", values, "-o", str(keep.out), "--force")
    assert_refused(r, "multiply-adds", f"{limits.MAX_MULTIPLY_ADDS:,}")
    assert {p.name for p in tmp_path.rglob("*")} == before
    assert keep.out.read_bytes() == b"precious"


def test_image_past_the_conv_pixel_limit_is_refused(cli, keep, tmp_path):
    wide = tmp_path / "wide.png"
    Image.new("1", (5000, 4000)).save(wide)  # 20 megapixels: under Pillow's bomb limit, over conv's
    assert_refused(apply(cli, keep, str(wide)), str(wide), "megapixels")
    wide.unlink()
    keep()


# --- hostile images ----------------------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_bomb(side: int) -> bytes:
    """A valid-looking grey PNG whose header says side x side; its data is a few bytes of zeros."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


@pytest.mark.parametrize("command", ["apply", "layers"])
def test_decompression_bomb_is_refused_from_its_header(cli, keep, tmp_path, command):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_bomb(100_000))
    r = cli("conv", command, str(bomb), "-o", str(keep.out), "--force")
    assert_refused(r, str(bomb), "too large")
    bomb.unlink()
    keep()


@pytest.mark.parametrize("command", ["apply", "layers"])
def test_truncated_png_is_refused(cli, keep, photo, tmp_path, command):
    noise = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)  # does not compress away
    full = tmp_path / "full.png"
    Image.fromarray(noise).save(full)
    cut = tmp_path / "cut.png"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()
    r = cli("conv", command, str(cut), "-o", str(keep.out), "--force")
    assert_refused(r, str(cut))
    cut.unlink()
    keep()


@pytest.mark.parametrize("command", ["apply", "layers"])
def test_fifo_as_image_is_refused_without_blocking(cli, keep, tmp_path, command):
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    r = cli("conv", command, str(fifo), "-o", str(keep.out), "--force")
    assert_refused(r, str(fifo), "not a regular file")
    fifo.unlink()
    keep()


def test_random_bytes_and_a_pickle_as_image_are_refused(cli, keep, tmp_path, canary):
    for name, payload in (("noise.png", os.urandom(4096)), ("evil.jpg", pickle_payload(canary))):
        f = tmp_path / name
        f.write_bytes(payload)
        assert_refused(apply(cli, keep, str(f)), str(f))
        f.unlink()
    keep()


def test_folder_as_image_is_refused(cli, keep, tmp_path):
    d = tmp_path / "pics"
    d.mkdir()
    assert_refused(apply(cli, keep, str(d)), str(d), "folder")
    d.rmdir()
    keep()


# --- hostile kernel files ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, payload, needle",
    [
        ("deep.yaml", "kernel: " + "[" * 20_000 + "]" * 20_000, "nested"),
        (
            "laughs.yaml",
            "kernel: ["
            + ", ".join(
                ["&a [1, 1, 1, 1, 1, 1, 1, 1, 1]"]
                + [f"&{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
            )
            + "]",
            "values",
        ),
        ("evil.yaml", "kernel: !!python/object/apply:os.system ['touch {canary}']", "python"),
        ("binary.csv", bytes(range(256)), "UTF-8"),
        ("huge.csv", "1,0,-1\n" * (limits.MAX_KERNEL_FILE_BYTES // 7 + 1), "larger than"),
        ("nan.yaml", "kernel: [[1, .nan], [1, 1]]", "finite"),
        ("wide.csv", ",".join(["1"] * (limits.MAX_KERNEL_SIDE + 1)) + "\n", f"1x{limits.MAX_KERNEL_SIDE + 1}"),
    ],
)
def test_hostile_kernel_files_are_refused(cli, keep, photo, tmp_path, canary, name, payload, needle):
    f = tmp_path / name
    if isinstance(payload, bytes):
        f.write_bytes(payload)
    else:
        f.write_text(payload.replace("{canary}", str(canary)))
    assert_refused(apply(cli, keep, str(photo), "--kernel", str(f)), str(f), needle)
    f.unlink()
    keep()


def test_fifo_and_folder_as_kernel_file_are_refused(cli, keep, photo, tmp_path):
    fifo = tmp_path / "k.csv"
    os.mkfifo(fifo)
    assert_refused(apply(cli, keep, str(photo), "--kernel", str(fifo)), str(fifo), "not a regular file")
    fifo.unlink()
    d = tmp_path / "kernels"
    d.mkdir()
    assert_refused(apply(cli, keep, str(photo), "--kernel", str(d)), str(d), "folder")
    d.rmdir()
    keep()


# --- hostile CNN files ----------------------------------------------------------------------


def _digits():
    """The built-in CNN's tensors and metadata, to be damaged one way at a time."""
    from safetensors import safe_open

    with safe_open(str(cnn.resolve_path("digits-cnn")), framework="np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def _write_cnn(path: Path, tensors: dict, meta: dict) -> Path:
    from safetensors.numpy import save_file

    save_file(tensors, str(path), metadata=meta)
    return path


def _layers(meta: dict) -> list:
    return json.loads(meta["genai.layers"])


def _with_layers(meta: dict, layers: list) -> dict:
    return {**meta, "genai.layers": json.dumps(layers)}


def _stride0(t, m):
    layers = _layers(m)
    layers[0]["stride"] = 0
    return t, _with_layers(m, layers)


def _bool_kernel(t, m):
    layers = _layers(m)
    layers[0]["kernel"] = True
    return t, _with_layers(m, layers)


def _huge_padding(t, m):
    layers = _layers(m)
    layers[0]["padding"] = 100_000
    return t, _with_layers(m, layers)


def _wrong_weight_shape(t, m):
    return {**t, "conv1.weight": np.zeros((8, 1, 5, 5), np.float32)}, m


def _channel_mismatch(t, m):
    layers = _layers(m)
    layers[2]["in"] = 9
    return t, _with_layers(m, layers)


def _linear_mismatch(t, m):
    layers = _layers(m)
    layers[-1]["in"] = 65
    return t, _with_layers(m, layers)


def _missing_bias(t, m):
    return {k: v for k, v in t.items() if k != "conv2.bias"}, m


def _nan_weights(t, m):
    w = t["conv1.weight"].copy()
    w[0, 0, 0, 0] = np.nan
    return {**t, "conv1.weight": w}, m


def _unknown_layer(t, m):
    return t, _with_layers(m, _layers(m) + [{"type": "exec", "code": "import os"}])


def _too_many_channels(t, m):
    layers = _layers(m)
    layers[0]["out"] = 10**9
    return t, _with_layers(m, layers)


def _bad_sample_labels(t, m):
    return {**t, "sample_labels": np.full(t["sample_labels"].shape, 99, np.int64)}, m


def _labels_do_not_match(t, m):
    return t, {**m, "genai.labels": json.dumps(["a", "b"])}


def _input_too_large(t, m):
    return t, {**m, "genai.input": json.dumps({"channels": 1, "height": 10**6, "width": 8})}


def _meta(key, value):
    return lambda t, m: (t, {**m, key: value})


@pytest.mark.parametrize(
    "damage, needle",
    [
        (_meta("genai.layers", '[{"type": '), "genai.layers"),
        (_meta("genai.layers", "[" * 20_000 + "]" * 20_000), "nested"),
        (_meta("genai.layers", "[NaN]"), "NaN"),
        (_meta("genai.layers", '{"type": "conv2d"}'), "genai.layers"),
        (_meta("genai.layers", "[]"), "genai.layers"),
        (_meta("genai.input", "[" * 20_000 + "]" * 20_000), "genai.input"),
        (_meta("genai.labels", '"0123456789"'), "genai.labels"),
        (_meta("genai.heads", '{"a": ["x"]}'), "genai.heads"),
        (_stride0, "conv1 stride"),
        (_bool_kernel, "conv1 kernel"),
        (_huge_padding, "conv1 padding"),
        (_wrong_weight_shape, "conv1.weight"),
        (_channel_mismatch, "conv2"),
        (_linear_mismatch, "fc"),
        (_missing_bias, "conv2.bias"),
        (_nan_weights, "conv1.weight"),
        (_unknown_layer, "type"),
        (_too_many_channels, "conv1 out"),
        (_bad_sample_labels, "sample_labels"),
        (_labels_do_not_match, "genai.labels"),
        (_input_too_large, "height"),
    ],
)
def test_malformed_cnn_files_are_refused(cli, keep, tmp_path, damage, needle):
    path = _write_cnn(tmp_path / "bad.safetensors", *damage(*_digits()))
    line = assert_refused(
        cli("conv", "layers", "--model", str(path), "-o", str(keep.out), "--force"), str(path), needle
    )
    assert "--stride" not in line
    path.unlink()
    keep()


def test_stride_0_in_a_file_gives_no_flag_hint(cli, tmp_path):
    path = _write_cnn(tmp_path / "s0.safetensors", *_stride0(*_digits()))
    r = cli("conv", "layers", "--model", str(path))
    assert_refused(r, str(path), "stride")
    assert "--stride" not in r.stderr


def test_an_undamaged_copy_still_loads(tmp_path):
    """The checks above refuse the damage, not the format."""
    path = _write_cnn(tmp_path / "copy.safetensors", *_digits())
    net = cnn.load(str(path))
    assert len(net.conv_layers) == 3 and net.samples.shape == (10, 1, 8, 8)


@pytest.mark.parametrize("kind", ["random", "truncated", "pickle", "empty", "header-lies"])
def test_unreadable_cnn_files_are_refused(cli, keep, tmp_path, canary, kind):
    path = tmp_path / "model.safetensors"
    builtin = cnn.resolve_path("digits-cnn").read_bytes()
    if kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "truncated":
        path.write_bytes(builtin[: len(builtin) // 2])
    elif kind == "pickle":
        path.write_bytes(pickle_payload(canary))
    elif kind == "empty":
        path.write_bytes(b"")
    else:  # a header length far past the end of the file
        path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    r = cli("conv", "layers", "--model", str(path), "-o", str(keep.out), "--force")
    assert_refused(r, str(path))
    path.unlink()
    keep()


def test_fifo_and_folder_as_cnn_file_are_refused(cli, tmp_path):
    fifo = tmp_path / "net.safetensors"
    os.mkfifo(fifo)
    assert_refused(cli("conv", "layers", "--model", str(fifo)), str(fifo))
    d = tmp_path / "net-folder"
    d.mkdir()
    assert_refused(cli("conv", "layers", "--model", str(d)), str(d))


# --- nothing left behind ---------------------------------------------------------------------


def test_a_refused_run_creates_no_output_folder(cli, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    out = tmp_path / "new" / "deeper" / "fig.png"
    assert_refused(cli("conv", "apply", str(bad), "-o", str(out)), str(bad))
    assert not (tmp_path / "new").exists()
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"conv:\n  plot_dir: {tmp_path / 'plots'}\n")
    assert_refused(cli("conv", "layers", "--layer", "9", "-c", str(cfg)), "--layer 9")
    assert not (tmp_path / "plots").exists()


def test_a_failed_write_removes_the_folders_it_made(cli, photo, tmp_path):
    out = tmp_path / "new" / "deeper" / ("x" * 300 + ".png")  # the file name is too long to create
    r = cli("conv", "apply", str(photo), "-o", str(out))
    assert_refused(r, "cannot write", code=1)
    assert not (tmp_path / "new").exists()
    ok = tmp_path / "new" / "fig.png"
    assert cli("conv", "apply", str(photo), "-o", str(ok)).exit_code == 0
    assert ok.is_file()


def test_huge_values_from_flags_are_not_echoed_whole(cli, keep, photo):
    junk = "x" * 200_000
    for args in (["--kernel-values", f"1,{junk};1,1"], ["--kernel", junk]):
        line = assert_refused(apply(cli, keep, str(photo), *args), "200000 characters")
        assert len(line) < 300
    line = assert_refused(cli("conv", "layers", "--model", junk), "200000 characters")
    assert len(line) < 300
    keep()
