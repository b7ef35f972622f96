"""Hostile input to generate / chat / next / attention.

A model folder that asks transformers to run its own code (`auto_map` + a .py file) must be
refused before transformers sees it: no "[y/N]" question on stdout, no line of piped stdin
taken as consent, the payload never imported.
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import pytest

from tests.hostile.conftest import assert_refused

COMMANDS = [("generate", "hello"), ("chat",), ("next", "hello"), ("attention", "hello")]


def _payload(folder: Path, canary: Path) -> None:
    """A module that creates the canary as soon as it is imported (as transformers would to
    build the auto_map classes)."""
    (folder / "evil_model.py").write_text(
        f"import pathlib\npathlib.Path({str(canary)!r}).write_text('code ran')\n"
        "from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast\n"
        "class EvilConfig(LlamaConfig):\n    model_type = 'evil'\n"
        "class EvilModel(LlamaForCausalLM):\n    config_class = EvilConfig\n"
        "class EvilTokenizer(PreTrainedTokenizerFast):\n    pass\n"
    )


def _config_route(folder: Path, canary: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "llama",
                "architectures": ["EvilModel"],
                "auto_map": {"AutoConfig": "evil_model.EvilConfig", "AutoModelForCausalLM": "evil_model.EvilModel"},
            }
        )
    )
    _payload(folder, canary)
    return folder / "config.json"


def _tokenizer_route(folder: Path, canary: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 300, "hidden_size": 32}))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "EvilTokenizer",
                "auto_map": {"AutoTokenizer": [None, "evil_model.EvilTokenizer"]},
            }
        )
    )
    _payload(folder, canary)
    return folder / "tokenizer_config.json"


@pytest.mark.parametrize("route", [_config_route, _tokenizer_route], ids=["config.json", "tokenizer_config.json"])
@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_remote_code_refused_with_consent_piped(genai_exe, tmp_path, canary, route, command):
    """`y` on stdin is never read as consent: exit 2 naming the file and the reason, stdout empty."""
    bad_file = route(tmp_path / "remote-code-model", canary)
    r = genai_exe(*command, "--model", str(bad_file.parent), input="y\nyes\n", timeout=120)
    line = assert_refused(r, str(bad_file), "auto_map")
    assert "own Python code" in line
    assert not canary.exists()
    assert "[y/N]" not in r.stdout + r.stderr


def test_unknown_model_type_refused(cli, tmp_path, canary):
    """A model_type transformers does not know would need the folder's own code: refused by name."""
    folder = tmp_path / "odd-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "evil-arch"}))
    _payload(folder, canary)
    line = assert_refused(
        cli("generate", "hi", "--model", str(folder), input="y\n"), str(folder / "config.json"), "evil-arch"
    )
    assert "does not know" in line


@pytest.mark.parametrize("content", ["[1, 2]", "{not json", "\udcff"], ids=["array", "broken", "binary"])
def test_malformed_config_json(cli, tmp_path, content):
    folder = tmp_path / "broken-model"
    folder.mkdir()
    (folder / "config.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    assert_refused(cli("generate", "hi", "--model", str(folder)), str(folder / "config.json"))


@pytest.mark.parametrize("stdin", [None, ""], ids=["closed", "empty"])
@pytest.mark.parametrize("command", ["chat", "generate", "next"])
def test_no_input_on_stdin_is_exit_2(genai_exe, command, stdin):
    """`genai chat </dev/null` (and a closed stdin, `<&-`) says that no input was given."""
    import os
    import shutil
    import subprocess
    import sys

    if stdin is None:
        exe = shutil.which("genai", path=str(Path(sys.executable).parent))
        p = subprocess.run(
            [exe, command], stdin=None, capture_output=True, text=True, timeout=120, preexec_fn=lambda: os.close(0)
        )
        r = type("R", (), {"exit_code": p.returncode, "stdout": p.stdout, "stderr": p.stderr})()
        assert_refused(r, "given", "stdin is closed")
    else:
        assert_refused(genai_exe(command, input=stdin), "given", "stdin was empty")


@pytest.mark.parametrize("flag", ["--temperature", "--top-p", "--repetition-penalty"])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_non_finite_sampling_values(cli, flag, value):
    assert_refused(cli("generate", "hi", flag, value), flag, value)


# --- GGUF files for the llama.cpp engine: checked in Python before native code reads them ---


def _builtin_gguf() -> Path:
    from genai_cli.text.model import gguf_path

    return gguf_path()


@pytest.mark.parametrize("keep", [100_000, 0.5], ids=["cut-in-header", "cut-in-tensor-data"])
def test_truncated_gguf_refused(cli, tmp_path, keep):
    src = _builtin_gguf().read_bytes()
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(src[: keep if isinstance(keep, int) else int(len(src) * keep)])
    line = assert_refused(cli("generate", "hi", "--model", str(bad), input="y\n"), str(bad), "truncated")
    assert "the file has" in line


def test_random_bytes_gguf_refused(cli, tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(os.urandom(4096))
    assert_refused(cli("generate", "hi", "--model", str(bad)), str(bad), "not a GGUF")
    for command in ("chat",):
        assert_refused(cli(command, "--model", str(bad), input="hello\n"), str(bad))


@pytest.mark.parametrize(
    "header, needle",
    [
        (b"GGUF" + struct.pack("<IQQ", 1, 0, 0), "version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 2**62, 0), "tensors"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**40), "string of"),
        (
            b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 4) + b"key." + struct.pack("<IIQ", 9, 8, 2**40),
            "elements",
        ),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 4) + b"key." + struct.pack("<I", 99), "value type"),
    ],
    ids=["old-version", "tensor-count", "huge-string", "huge-array", "bad-type"],
)
def test_crafted_gguf_headers_refused(cli, tmp_path, header, needle):
    bad = tmp_path / "crafted.gguf"
    bad.write_bytes(header + b"\0" * 64)
    assert_refused(cli("generate", "hi", "--model", str(bad)), str(bad), needle)


def _tiny_gguf(path: Path, arch: str, tensor_bytes_cut: int = 0) -> Path:
    import numpy as np
    from gguf import GGUFWriter

    w = GGUFWriter(str(path), arch)
    w.add_context_length(64)
    w.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    if tensor_bytes_cut:
        data = path.read_bytes()
        path.write_bytes(data[:-tensor_bytes_cut])
    return path


def test_gguf_with_tensor_data_past_the_end(cli, tmp_path):
    bad = _tiny_gguf(tmp_path / "short.gguf", "llama", tensor_bytes_cut=16)
    assert_refused(cli("generate", "hi", "--model", str(bad)), str(bad), "truncated")


def test_gguf_of_unknown_architecture(cli, tmp_path):
    pytest.importorskip("llama_cpp")
    bad = _tiny_gguf(tmp_path / "odd.gguf", "notanarch")
    assert_refused(cli("generate", "hi", "--model", str(bad)), str(bad), "notanarch", "architecture")


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--engine", "bogus"], "--engine"),
        (["--threads", "0"], "--threads"),
        (["--threads", "5000"], "--threads"),
    ],
)
def test_bad_engine_and_threads(cli, args, needle):
    assert_refused(cli("generate", "hi", *args), needle)


def test_engine_llama_cpp_needs_a_gguf_file(cli, tmp_path):
    folder = tmp_path / "folder-model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "llama"}))
    assert_refused(
        cli("generate", "hi", "--model", str(folder), "--engine", "llama.cpp"), "--engine llama.cpp", str(folder)
    )
