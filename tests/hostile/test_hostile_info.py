"""`genai info` on hostile files: terminal escapes, bombs, truncation, odd file types, bad headers.

Every refusal is exit 2 with one `error:` line naming the file; nothing from a file reaches the
terminal unescaped (JSON output keeps the exact values)."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from tests.hostile.conftest import assert_refused

# what a file may try to send to a terminal
NASTY = {
    "ESC clear screen": "\x1b[2J\x1b[H",
    "BEL": "\x07",
    "CR overwrite": "safe\rEVIL",
    "OSC title": "\x1b]0;pwned\x07",
    "C1 CSI": "\u009b31m",
    "bidi override": "abc\u202edcba",
    "newline forging a field": "x\nSeed: 666",
}
RAW_CONTROLS = ["\x1b", "\x07", "\r", "\u009b", "\u202e"]


def _no_raw_controls(text: str) -> None:
    for c in RAW_CONTROLS:
        assert c not in text, repr(c)


def _png(path: str, chunks: dict[str, str], size=(4, 4), itxt: bool = False) -> Path:
    info = PngInfo()
    for k, v in chunks.items():
        (info.add_itxt if itxt else info.add_text)(k, v)
    Image.new("RGB", size, "white").save(path, pnginfo=info)
    return Path(path)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@pytest.mark.parametrize("itxt", [False, True], ids=["tEXt", "iTXt"])
def test_png_chunks_are_escaped_in_text_and_exact_in_json(cli, itxt):
    chunks = {f"note {i}": v for i, v in enumerate(NASTY.values())}
    chunks["parameters"] = (
        "a fox \x1b]0;pwned\x07 in snow\nNegative prompt: \u202eblurry\n"
        "Steps: 3, Sampler: Euler\x07, CFG scale: 7, Seed: 1"
    )
    _png("nasty.png", chunks, itxt=itxt)
    r = cli("info", "nasty.png")
    assert r.exit_code == 0, r
    _no_raw_controls(r.stdout)
    assert "prompt: a fox \\x1b]0;pwned\\x07 in snow" in r.stdout
    assert "negative prompt: \\u202eblurry" in r.stdout and "Sampler: Euler\\x07" in r.stdout
    assert "note 2: safe\\rEVIL" in r.stdout and "note 6: x\\nSeed: 666" in r.stdout
    assert not any(line.startswith("Seed: 666") for line in r.stdout.splitlines())  # no forged line
    got = json.loads(cli("info", "--json", "nasty.png").stdout)
    assert got["text"] == {k: v for k, v in chunks.items() if k != "parameters"}  # exact
    assert got["recipe"]["prompt"] == "a fox \x1b]0;pwned\x07 in snow" and got["recipe"]["negative"] == "\u202eblurry"


def test_a_forged_genai_figure_is_escaped_and_replays_nothing(cli):
    """A `genai` chunk claiming to be one of genai's figures: its command and model are escaped on the terminal,
    a non-text command is not taken for one, and --recipe refuses it before any model loads."""
    fig = {"command": "conv apply\x1b]0;pwned\x07\nprompt: forged", "model": "m\x1b[2J", "seed": "1; rm -rf /"}
    _png("fig.png", {"genai": json.dumps(fig)})
    r = cli("info", "fig.png")
    assert r.exit_code == 0, r
    _no_raw_controls(r.stdout)
    assert "command: genai conv apply\\x1b]0;pwned\\x07\\nprompt: forged\n" in r.stdout
    assert not any(line.startswith("prompt:") for line in r.stdout.splitlines())  # no forged line
    got = json.loads(cli("info", "--json", "fig.png").stdout)["recipe"]
    assert got["seed"] is None and got["extras"]["command"] == fig["command"]  # exact in JSON; no seed from text
    r = cli("imagine", "--model", "toy", "--recipe", "fig.png")
    assert r.exit_code == 2 and r.stdout == "" and "not a generated image" in r.stderr
    _no_raw_controls(r.stderr)
    _png("odd.png", {"genai": json.dumps({"command": ["conv"], "seed": 1})})
    assert json.loads(cli("info", "--json", "odd.png").stdout)["recipe"] is None  # not a figure, not a crash


def test_safetensors_metadata_keys_and_values_are_escaped(cli):
    from safetensors.numpy import save_file

    meta = {f"k{i}{v}": f"v{v}" for i, v in enumerate(NASTY.values())}
    save_file({"t\x1b[2J": np.zeros(2, np.float32)}, "nasty.safetensors", metadata=meta)
    r = cli("info", "nasty.safetensors")
    assert r.exit_code == 0, r
    _no_raw_controls(r.stdout)
    assert "metadata k0\\x1b[2J\\x1b[H: v\\x1b[2J\\x1b[H" in r.stdout and "t\\x1b[2J" in r.stdout
    assert "metadata k3\\x1b]0;pwned\\x07: v\\x1b]0;pwned\\x07" in r.stdout
    assert json.loads(cli("info", "--json", "nasty.safetensors").stdout)["metadata"] == meta


def test_escaped_file_names_in_lines_and_errors(cli, tmp_path):
    _png("ok.png", {"parameters": "a\nSteps: 1, Sampler: x, CFG scale: 1"})
    evil = tmp_path / "x\x1b]0;t\x07.png"
    evil.write_bytes(b"")
    r = cli("info", "ok.png", str(evil))
    assert r.exit_code == 2 and "ok.png\tAUTOMATIC1111" in r.stdout
    _no_raw_controls(r.stdout + r.stderr)
    assert "x\\x1b]0;t\\x07.png: empty file" in r.stderr
    fifo = tmp_path / "p\x1b[2J.png"
    os.mkfifo(fifo)
    r = cli("info", str(fifo))
    assert_refused(r, "p\\x1b[2J.png")
    _no_raw_controls(r.stderr)


def test_truncated_png(cli):
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save("full.png")
    data = Path("full.png").read_bytes()
    Path("cut.png").write_bytes(data[: len(data) // 2])
    assert_refused(cli("info", "cut.png"), "cut.png")


@pytest.mark.parametrize("zip_kind", ["zTXt", "iTXt"])
def test_text_chunk_bomb(cli, zip_kind):
    info = PngInfo()
    bomb = "A" * (4 * 1024 * 1024)  # 4 MB that compresses to a few KB
    if zip_kind == "zTXt":
        info.add_text("parameters", bomb, zip=True)
    else:
        info.add_itxt("parameters", bomb, zip=True)
    Image.new("RGB", (4, 4)).save("bomb.png", pnginfo=info)
    assert os.path.getsize("bomb.png") < 100_000
    assert_refused(cli("info", "bomb.png"), "bomb.png")


def test_huge_png_header(cli):
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100)
    Path("huge.png").write_bytes(
        b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    )
    line = assert_refused(cli("info", "huge.png"), "huge.png")
    assert "too large" in line


def test_fifo_folderlike_and_empty_files(cli, tmp_path):
    os.mkfifo("pipe.png")
    assert_refused(cli("info", "pipe.png"), "pipe.png")  # refused without opening it (no hang)
    Path("empty.png").write_bytes(b"")
    assert "empty" in assert_refused(cli("info", "empty.png"), "empty.png")
    Path("empty.safetensors").write_bytes(b"")
    assert_refused(cli("info", "empty.safetensors"), "empty.safetensors")


def test_a_folder_of_nothing_readable_is_not_an_error(cli):
    Path("d").mkdir()
    os.mkfifo("d/pipe.png")  # skipped: not a regular file, never opened
    Path("d/notes.txt").write_text("hi")
    r = cli("info", "d")
    assert r.exit_code == 0 and r.stdout == "" and "skipped 1 file(s) that are not images" in r.stderr, r


@pytest.mark.parametrize("suffix", [".png", ".safetensors", ".jpg", ".webp"])
def test_random_bytes(cli, suffix):
    rng = np.random.default_rng(1)
    Path("r" + suffix).write_bytes(rng.bytes(5000))
    assert_refused(cli("info", "r" + suffix), "r" + suffix)
    # the same garbage behind a real signature
    magic = {".png": b"\x89PNG\r\n\x1a\n", ".jpg": b"\xff\xd8\xff\xe0", ".webp": b"RIFF\0\0\0\0WEBP"}
    magic[".safetensors"] = struct.pack("<Q", 4000) + b"{"
    Path("m" + suffix).write_bytes(magic[suffix] + rng.bytes(5000))
    assert_refused(cli("info", "m" + suffix), "m" + suffix)


@pytest.mark.parametrize(
    "header, needle",
    [
        (struct.pack("<Q", 2**62) + b"{}", "header too large"),
        (struct.pack("<Q", 10_000) + b'{"a": 1}', "the file is"),
        (struct.pack("<Q", 9) + b"{not json", "not a valid safetensors"),
        (struct.pack("<Q", 4) + b"{\xff\xfe}", "not UTF-8"),
        (struct.pack("<Q", 2006) + b'{"a":' + b"[" * 1000 + b"]" * 1000 + b"}", "nested too deep"),
        (struct.pack("<Q", 40) + b'{"x": {"dtype": "F32", "shape": [1], "data_offsets": [0, 99]}}'[:40], "not a valid"),
    ],
)
def test_bad_safetensors_headers(cli, header, needle):
    Path("bad.safetensors").write_bytes(header)
    line = assert_refused(cli("info", "bad.safetensors"), "bad.safetensors")
    assert needle in line


@pytest.mark.parametrize("key", ["prompt", "workflow", "genai", "invokeai_metadata", "Comment", "sd-metadata"])
def test_metadata_json_nested_too_deep(cli, key):
    deep = '{"a": ' * 5000 + "1" + "}" * 5000
    _png("deep.png", {key: deep, "prompt": deep} if key == "workflow" else {key: deep})
    assert "nested too deep" in assert_refused(cli("info", "deep.png"), "deep.png")


def test_metadata_json_too_large(cli):
    big = json.dumps({"1": {"class_type": "Note", "inputs": {"text": "x" * (2 * 1024 * 1024)}}})
    _png("big.png", {"prompt": big})
    assert "too large" in assert_refused(cli("info", "big.png"), "big.png")


def test_escaped_strings_cannot_hide_brackets_from_the_depth_check(cli):
    # brackets inside strings do not count; escaped quotes do not end a string
    ok = json.dumps({"text": "[" * 5000 + '\\" {{{'})
    _png("ok.png", {"Comment": ok})
    assert cli("info", "ok.png").exit_code == 0
    # a quadratic-time trap for a naive string scanner: thousands of escaped quotes, unterminated
    trap = '{"a": "' + '\\"' * 200_000
    _png("trap.png", {"prompt": trap})
    r = cli("info", "trap.png")
    assert r.exit_code == 0 and "recipe: none" in r.stdout, r


def test_comfyui_graph_with_too_many_nodes(cli):
    graph = {str(i): {"class_type": "Note", "inputs": {}} for i in range(3000)}
    _png("many.png", {"prompt": json.dumps(graph)})
    assert "too large" in assert_refused(cli("info", "many.png"), "many.png")


def test_a_long_comfyui_chain_does_not_crash(cli):
    # a chain of 1500 nodes: a recursive walker would hit Python's recursion limit
    graph = {"0": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["1", 0]}}}
    for i in range(1, 1500):
        graph[str(i)] = {"class_type": "Reroute", "inputs": {"x": [str(i + 1), 0]}}
    graph["9999"] = {
        "class_type": "KSampler",
        "inputs": {
            "seed": 5,
            "steps": 3,
            "cfg": 7,
            "sampler_name": "euler",
            "scheduler": "normal",
            "positive": ["1499", 0],
            "negative": ["0", 0],
            "model": ["1499", 0],
        },
    }
    _png("chain.png", {"prompt": json.dumps(graph)})
    r = cli("info", "chain.png")
    assert r.exit_code == 0 and "Traceback" not in r.stderr, r


@pytest.mark.parametrize("name", ["cut.jpg", "cut.webp"])
def test_truncated_jpeg_and_webp_with_a_recipe(cli, name):
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9286] = b"UNICODE\0" + "a fox\nSteps: 3, Sampler: Euler, CFG scale: 7, Seed: 1".encode(
        "utf-16-be"
    )
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save("full" + name[3:], exif=exif)
    data = Path("full" + name[3:]).read_bytes()
    Path(name).write_bytes(data[: len(data) * 2 // 3])
    assert_refused(cli("info", name), name)
    assert_refused(cli("imagine", "--model", "toy", "--recipe", name), name)


def test_recipe_from_a_hostile_file_is_refused_before_any_model_loads(cli):
    deep = '{"a": ' * 5000 + "1" + "}" * 5000
    _png("deep.png", {"prompt": deep})
    line = assert_refused(cli("imagine", "--model", "toy", "--recipe", "deep.png"), "deep.png")
    assert "nested too deep" in line


def test_recipe_text_with_controls_is_escaped_on_stderr(cli):
    _png("evil.png", {"parameters": "a fox\nSteps: 3, Sampler: Heun\x1b]0;pwned\x07, CFG scale: 7, Seed: 1"})
    # a config that names a model which is not there: the run stops (exit 1) after the recipe's report
    Path("c.yaml").write_text("image:\n  model: /nonexistent-model-folder\n")
    r = cli("imagine", "--recipe", "evil.png", "--config", "c.yaml")
    assert "ignored sampler 'Heun\\x1b]0;pwned\\x07'" in r.stderr
    _no_raw_controls(r.stderr)


def test_png_text_chunk_with_a_bad_crc_or_no_iend(cli):
    _png("ok.png", {"parameters": "a fox\nSteps: 3, Sampler: Euler, CFG scale: 7, Seed: 1"})
    data = bytearray(Path("ok.png").read_bytes())
    i = data.index(b"tEXt") + 6
    data[i] ^= 0x01  # one bit of the text flipped: its CRC no longer matches
    Path("crc.png").write_bytes(bytes(data))
    assert_refused(cli("info", "crc.png"), "crc.png")
    good = Path("ok.png").read_bytes()
    Path("noend.png").write_bytes(good[: good.index(b"IEND") - 4])  # cut just before IEND
    assert_refused(cli("info", "noend.png"), "noend.png")


def test_png_chunks_before_ihdr_are_refused(cli):
    body = b"parameters\0x"
    Path("first.png").write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"tEXt", body) + _chunk(b"IEND", b""))
    assert_refused(cli("info", "first.png"), "first.png")
