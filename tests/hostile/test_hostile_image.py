"""Hostile input for the image commands: imagine, diffuse, toy render (issue 11).

Every payload is built here, at test time. Each test checks the contract for bad input
(`assert_refused`: exit 2, empty stdout, one `error:` line naming the file or value) and what
the input did NOT do: no canary, nothing overwritten, no output folder or temp file left behind.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.hostile.conftest import assert_refused, pickle_payload

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if the pipeline's weights are loaded: the input must be refused before that."""
    from genai_cli.image import loading

    def refuse(*a, **k):
        raise AssertionError("weights were loaded for a bad input")

    monkeypatch.setattr(loading, "load_pipeline", refuse)


@pytest.fixture
def picture(tmp_path) -> Path:
    from PIL import Image

    path = tmp_path / "pic.png"
    Image.new("RGB", (40, 30), (200, 30, 30)).save(path)
    return path


def _leftovers(folder: Path) -> list[str]:
    """Temp or probe files a run could leave behind."""
    return sorted(p.name for p in folder.rglob("*") if ".tmp" in p.name or p.name.startswith(".genai-probe"))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header claims width x height pixels (a decompression bomb's header), with no real data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
    return path


# --- remote code: a model folder that would run code of its own ------------------------------


def _hostile_pipeline(tiny: Path, dest: Path, canary: Path, kind: str) -> tuple[Path, str]:
    """A copy of the tiny pipeline made hostile in one way; returns (folder, the file the error must name)."""
    folder = dest / f"evil-{kind}"
    shutil.copytree(tiny, folder)
    code = f"import pathlib\npathlib.Path({str(canary)!r}).touch()\n"
    index = json.loads((folder / "model_index.json").read_text())
    if kind == "custom-pipeline-py":  # the classic: a custom pipeline module beside model_index.json
        index["_class_name"] = ["my_pipeline", "MyPipeline"]
        (folder / "my_pipeline.py").write_text(code + "class MyPipeline: pass\n")
        named = "my_pipeline.py"
    elif kind == "custom-component-py":  # diffusers imports unet/my_unet.py for ["my_unet", "MyUNet"]
        index["unet"] = ["my_unet", "MyUNet"]
        (folder / "unet" / "my_unet.py").write_text(code + "class MyUNet: pass\n")
        named = "my_unet.py"
    elif kind == "custom-library":  # a component from a module that is not diffusers / transformers
        index["unet"] = ["evil_module", "UNet2DConditionModel"]
        named = "model_index.json"
    elif kind == "class-name-list":
        index["_class_name"] = ["evil_module", "EvilPipeline"]
        named = "model_index.json"
    elif kind == "auto-map-config":  # transformers' remote-code switch in the text encoder's config
        cfg = json.loads((folder / "text_encoder" / "config.json").read_text())
        cfg["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
        (folder / "text_encoder" / "config.json").write_text(json.dumps(cfg))
        named = "config.json"
    elif kind == "auto-map-tokenizer":
        cfg = json.loads((folder / "tokenizer" / "tokenizer_config.json").read_text())
        cfg["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
        (folder / "tokenizer" / "tokenizer_config.json").write_text(json.dumps(cfg))
        named = "tokenizer_config.json"
    else:
        raise ValueError(kind)
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder, named


@pytest.mark.parametrize(
    "kind",
    [
        "custom-pipeline-py",
        "custom-component-py",
        "custom-library",
        "class-name-list",
        "auto-map-config",
        "auto-map-tokenizer",
    ],
)
def test_a_model_folder_that_needs_remote_code_is_refused(genai_exe, tiny, tmp_path, canary, kind):
    folder, named = _hostile_pipeline(tiny, tmp_path, canary, kind)
    out = tmp_path / "never-made"
    # a consent prompt (transformers' "Do you wish to run the custom code?") would read this "y"
    r = genai_exe("imagine", "--model", str(folder), "a red fox", "--steps", "1", "-o", str(out), input="y\n")
    line = assert_refused(r, named, "remote code")
    assert str(folder) in line
    assert not out.exists()


def test_every_loader_is_told_trust_remote_code_false(tiny, monkeypatch, tmp_path):
    """The folder and single-file loaders pass trust_remote_code=False explicitly, and so does the tokenizer."""
    import diffusers
    import transformers

    from genai_cli.errors import GenaiError
    from genai_cli.image import loading

    seen = []

    def record(name):
        def fake(*args, **kwargs):
            seen.append((name, kwargs.get("trust_remote_code", "missing")))
            raise OSError("stop here")

        return fake

    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "from_pretrained", record("folder"))
    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "from_single_file", record("single-file"))
    monkeypatch.setattr(transformers.CLIPTokenizer, "from_pretrained", record("tokenizer"))
    source = loading.locate(str(tiny))
    for call in (
        lambda: loading.load_pipeline(source, None),
        lambda: loading.load_tokenizer(source),
        lambda: loading.load_pipeline(
            loading.ModelSource("x", tmp_path / "x.safetensors", "single-file"), None, str(tiny)
        ),
    ):
        with pytest.raises(GenaiError):  # the stand-in loaders' OSError, reported as genai's own error
            call()
    assert seen == [("folder", False), ("tokenizer", False), ("single-file", False)]


def test_single_file_config_folder_is_vetted_too(cli, tiny, tmp_path, canary):
    """--single-file-config names a folder whose configs diffusers reads: it passes the same checks."""
    folder, named = _hostile_pipeline(tiny, tmp_path, canary, "custom-component-py")
    from genai_cli.image import loading

    with pytest.raises(Exception) as e:
        loading.load_pipeline(loading.ModelSource("x", tmp_path / "x.safetensors", "single-file"), None, str(folder))
    assert "remote code" in str(e.value) and named in str(e.value)


# --- scheduler JSON -------------------------------------------------------------------------


BAD_SCHEDULERS = {
    "not-json": "{ this is not json",
    "nan": '{"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_start": NaN, "beta_end": 0.012}',
    "huge-timesteps": '{"_class_name": "DDIMScheduler", "num_train_timesteps": 1000000000000}',
    "deep-nesting": '{"_class_name": "DDIMScheduler", "x": ' + "[" * 100000 + "]" * 100000 + "}",
    "not-a-scheduler-class": '{"_class_name": "os.system", "num_train_timesteps": 1000}',
    "a-list": "[1, 2, 3]",
    "binary": None,
}


def _write_scheduler(path: Path, kind: str) -> None:
    text = BAD_SCHEDULERS[kind]
    if text is None:
        path.write_bytes(b"\xff\xfe\x00garbage\x80")
    else:
        path.write_text(text)


@pytest.mark.parametrize("kind", list(BAD_SCHEDULERS))
def test_imagine_refuses_a_bad_scheduler_json(cli, tiny, tmp_path, no_loading, kind):
    folder = tmp_path / "model"
    shutil.copytree(tiny, folder)
    _write_scheduler(folder / "scheduler" / "scheduler_config.json", kind)
    r = cli("imagine", "--model", str(folder), "a fox", "-o", str(tmp_path / "out"))
    assert_refused(r, "scheduler_config.json", "a bad scheduler JSON")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", list(BAD_SCHEDULERS))
def test_diffuse_refuses_a_bad_scheduler_json(cli, picture, tmp_path, kind):
    sched = tmp_path / f"{kind}.json"
    _write_scheduler(sched, kind)
    r = cli("diffuse", str(picture), "--schedule", str(sched), "-o", str(tmp_path / "out"))
    assert_refused(r, f"{kind}.json", "a bad scheduler JSON")
    assert not (tmp_path / "out").exists()


# --- learned embeddings (imagine --embedding) -------------------------------------------------


def test_a1111_pt_embedding_with_a_pickle_payload_runs_nothing(cli, tiny, tmp_path, canary, no_loading):
    import torch

    raw = tmp_path / "raw.pt"  # a bare pickle
    raw.write_bytes(pickle_payload(canary))

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    zipped = tmp_path / "a1111.pt"  # torch's zip format, in AUTOMATIC1111's layout, the payload as the vectors
    torch.save({"string_to_param": {"*": Payload()}, "name": "evil", "string_to_token": {"*": 265}}, zipped)
    for path in (raw, zipped):
        r = cli("imagine", "--model", str(tiny), "--embedding", str(path), "a fox", "-o", str(tmp_path / "out"))
        assert_refused(r, path.name, "cannot read it")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_embedding_vectors_with_nan_or_inf_are_refused(cli, tiny, tmp_path, no_loading, value):
    import torch
    from safetensors.torch import save_file

    vectors = torch.zeros(2, 32)
    vectors[1, 3] = value
    path = tmp_path / "bad-vectors.safetensors"
    save_file({"<thing>": vectors}, str(path))
    r = cli("imagine", "--model", str(tiny), "--embedding", str(path), "a <thing>", "-o", str(tmp_path / "out"))
    assert_refused(r, "bad-vectors.safetensors", "NaN or infinite")


@pytest.mark.parametrize("token", ["red", "Red", "star", "background"])
def test_a_learned_word_may_not_hijack_an_existing_word(cli, tmp_path, no_loading, token):
    """The toy vocabulary stores `red` as `red</w>`: a learned `red` must still be refused, before any weight loads."""
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "hijack.safetensors"
    save_file({token: torch.zeros(1, 64)}, str(path))
    r = cli(
        "imagine",
        "--model",
        "toy",
        "--embedding",
        str(path),
        "a red star on a blue background",
        "-o",
        str(tmp_path / "out"),
    )
    assert_refused(r, "hijack.safetensors", repr(token), "already has a token")
    assert not (tmp_path / "out").exists()


def test_word_taken_follows_the_tokenizer_not_the_vocabulary_spelling():
    from genai_cli.image import loading
    from genai_cli.invert.embeddings import word_taken

    tok = loading.load_tokenizer(loading.toy())
    assert [word_taken(tok, w) for w in ("red", "RED", "red</w>", "circle")] == [True, True, True, True]
    assert [word_taken(tok, w) for w in ("<moon>", "<my-cat>", "zq")] == [False, False, False]


# --- unbounded work ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,named",
    [
        (["--n", "1000000000"], "--n"),
        (["--n", "10001"], "10000"),
        (["--width", "100000"], "--width"),
        (["--height", "16384"], "--height"),
        (["--batch-size", "100000"], "--batch-size"),
        (["--steps", "100000"], "--steps"),
    ],
)
def test_imagine_counts_and_sizes_are_bounded_before_loading(cli, tmp_path, no_loading, args, named):
    r = cli("imagine", "--model", "toy", "a red star on a blue background", *args, "-o", str(tmp_path / "out"))
    assert_refused(r, named)
    assert not (tmp_path / "out").exists()


def test_jobs_are_planned_lazily_and_shared_as_accelerate_would():
    import itertools

    from accelerate import PartialState  # noqa: F401  (the split we match is accelerate's)

    from genai_cli import distributed
    from genai_cli.image import generate

    jobs = generate.plan_jobs(["a", "b"], 10**9, base_seed=2**32 - 1, start_index=7)
    first = list(itertools.islice(jobs, 3))  # a billion jobs: only those asked for exist
    assert [(j.index, j.prompt_no, j.image_no, j.seed) for j in first] == [
        (7, 0, 0, 2**32 - 1),
        (8, 0, 1, 0),
        (9, 0, 2, 1),
    ]
    tail = list(generate.plan_jobs(["a", "b"], 10**9, 0, 0, first=2 * 10**9 - 1))
    assert [(j.prompt, j.image_no, j.seed) for j in tail] == [("b", 10**9 - 1, (2 * 10**9 - 1) % 2**32)]

    class St:
        def __init__(self, i, n):
            self.process_index, self.num_processes = i, n

    for total, procs in [(10, 3), (2, 4), (7, 7), (0, 2)]:
        parts = [distributed.share(St(i, procs), total) for i in range(procs)]
        ours = [list(range(a, b)) for a, b in parts]
        items = list(range(total))  # accelerate's split_between_processes, written out
        per, extra = divmod(total, procs)
        theirs, at = [], 0
        for i in range(procs):
            size = per + (1 if i < extra else 0)
            theirs.append(items[at : at + size])
            at += size
        assert ours == theirs


@pytest.mark.parametrize(
    "args,named",
    [
        (["--n", "0"], "--n 0: must be a whole number from 2 to 64"),
        (["--n", "1000000"], "--n"),
        (["--steps", ",".join(["1"] * 100)], "--steps"),
        (["--size", "100000"], "--size"),
    ],
)
def test_diffuse_counts_are_bounded(cli, picture, tmp_path, args, named):
    r = cli("diffuse", str(picture), *args, "-o", str(tmp_path / "out"))
    assert_refused(r, named)
    assert not (tmp_path / "out").exists()


# --- images read from files: bombs and FIFOs ----------------------------------------------------


def test_diffuse_refuses_a_decompression_bomb(cli, tmp_path):
    bomb = _png_header_only(tmp_path / "bomb.png", 100000, 100000)
    r = cli("diffuse", str(bomb), "-o", str(tmp_path / "out"))
    assert_refused(r, "bomb.png", "too large")
    assert not (tmp_path / "out").exists()


def test_fifos_are_refused_wherever_a_file_is_read(genai_exe, picture, tmp_path, canary):
    """A FIFO would block a reader forever; every file flag refuses it at once (the timeout guards the test)."""
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for name in ("pipe.json", "pipe.txt", "pipe.safetensors"):
        os.mkfifo(tmp_path / name)
    cases = [
        ["diffuse", str(fifo)],
        ["diffuse", str(picture), "--schedule", str(tmp_path / "pipe.json")],
        ["imagine", "--model", "toy", "--prompts-file", str(tmp_path / "pipe.txt")],
        ["imagine", "--model", "toy", "--embedding", str(tmp_path / "pipe.safetensors"), "a red star"],
        ["imagine", "--model", str(tmp_path / "pipe.safetensors"), "a red star"],
    ]
    for args in cases:
        r = genai_exe(*args, "-o", str(tmp_path / "out"), timeout=120)
        assert_refused(r, "pipe.")
        assert "not a regular file" in r.stderr
    assert not (tmp_path / "out").exists()


# --- toy render --captions: nothing overwritten ---------------------------------------------------


def test_toy_captions_never_overwrite_an_existing_text_file(cli, tmp_path):
    out = tmp_path / "renders"
    out.mkdir()
    name = "a-red-star-on-a-blue-background-s1-000"
    (out / f"{name}.txt").write_text("my own notes")
    r = cli("toy", "render", "a red star on a blue background", "--n", "1", "--seed", "1", "--captions", "-o", str(out))
    assert r.exit_code == 0, r
    assert (out / f"{name}.txt").read_text() == "my own notes"
    assert not (out / f"{name}.png").exists()  # the pair moved on together
    png = Path(r.stdout.strip())
    assert png.name == f"{name}-1.png"
    assert png.with_suffix(".txt").read_text() == "a red {} on a blue background\n"
    # an existing image is not replaced either, and its caption stays with it
    r2 = cli(
        "toy", "render", "a red star on a blue background", "--n", "1", "--seed", "1", "--captions", "-o", str(out)
    )
    assert Path(r2.stdout.strip()).name == f"{name}-2.png"
    assert (out / f"{name}.txt").read_text() == "my own notes"
    # --force replaces both
    r3 = cli(
        "toy",
        "render",
        "a red star on a blue background",
        "--n",
        "1",
        "--seed",
        "1",
        "--captions",
        "--force",
        "-o",
        str(out),
    )
    assert Path(r3.stdout.strip()).name == f"{name}.png"
    assert (out / f"{name}.txt").read_text() == "a red {} on a blue background\n"
    assert _leftovers(tmp_path) == []


# --- NaN and inf in float flags ------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_guidance_must_be_finite(cli, tmp_path, no_loading, value):
    r = cli(
        "imagine", "--model", "toy", "a red star on a blue background", "--guidance", value, "-o", str(tmp_path / "out")
    )
    assert_refused(r, "--guidance", "finite")
    assert not (tmp_path / "out").exists()


def test_guidance_nan_in_a_config_file_is_refused(cli, tmp_path, no_loading):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("image:\n  guidance: .nan\n")
    r = cli("imagine", "--model", "toy", "a red star on a blue background", "--config", str(cfg))
    assert_refused(r, "guidance")


# --- clear errors: binary prompts file, closed and empty stdin --------------------------------------


def test_binary_prompts_file_is_named(cli, tmp_path, no_loading):
    path = tmp_path / "prompts.bin"
    path.write_bytes(bytes(range(256)) * 4)
    r = cli("imagine", "--model", "toy", "--prompts-file", str(path), "-o", str(tmp_path / "out"))
    assert_refused(r, "prompts.bin", "not UTF-8")
    assert not (tmp_path / "out").exists()


def _closed_stdin(*args: str) -> subprocess.CompletedProcess:
    """Run `genai ARGS <&-` (stdin closed, as a shell does it)."""
    import shlex
    import sys

    exe = Path(sys.executable).with_name("genai")
    cmd = " ".join(shlex.quote(a) for a in [str(exe), *args]) + " <&-"
    return subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)


class _R:
    def __init__(self, p):
        self.exit_code, self.stdout, self.stderr = p.returncode, p.stdout, p.stderr

    def __repr__(self):
        return f"R({self.exit_code}, {self.stdout!r}, {self.stderr!r})"


def test_closed_stdin_is_no_input_not_a_crash(tmp_path):
    for args, named in [
        (["imagine", "--model", "toy"], "no prompt given"),
        (["imagine", "--model", "toy", "-"], "stdin is closed"),
        (["toy", "render"], "give a CAPTION"),
        (["toy", "render", "-"], "stdin is closed"),
    ]:
        r = _R(_closed_stdin(*args, "-o", str(tmp_path / "out")))
        assert "isatty" not in r.stderr, r
        assert_refused(r, named)
    assert not (tmp_path / "out").exists()


def test_empty_stdin_says_no_input_was_given(cli, tmp_path, no_loading):
    r = cli("imagine", "--model", "toy", "-o", str(tmp_path / "out"), input="")
    assert_refused(r, "no prompt given", "stdin was empty")
    r = cli("toy", "render", "-", "--seed", "1", "-o", str(tmp_path / "out"), input="\n\n")
    assert_refused(r, "no caption given", "stdin was empty")
    assert not (tmp_path / "out").exists()


# --- the offline hint -----------------------------------------------------------------------------


@pytest.mark.parametrize("offline", [True, False])
def test_offline_hint_mentions_hf_hub_offline_only_when_it_is_set(cli, monkeypatch, tmp_path, offline):
    from genai_cli import models
    from genai_cli.errors import GenaiError

    if not offline:
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def not_cached(*a, **k):  # what the hub says for a model that is not in the cache (no network is used)
        raise GenaiError("image model someorg/somemodel is not in the local Hugging Face cache")

    monkeypatch.setattr(models, "hub_snapshot", not_cached)
    r = cli("imagine", "--model", "someorg/somemodel", "a fox", "-o", str(tmp_path / "out"))
    assert r.exit_code == 1 and r.stdout == ""
    assert ("unset HF_HUB_OFFLINE" in r.stderr) == offline, r
    assert not (tmp_path / "out").exists()


# --- failed runs leave no folder; long input is not echoed whole -----------------------------------


def test_failed_runs_leave_no_empty_output_folder(cli, tiny, tmp_path, no_loading):
    import torch
    from safetensors.torch import save_file

    taken = tmp_path / "red.safetensors"
    save_file({"red": torch.zeros(1, 64)}, str(taken))
    out = tmp_path / "a" / "b" / "c"
    for args in (
        ["imagine", "--model", "toy", "--embedding", str(taken), "a red star"],
        ["imagine", "--model", "toy", "x", "--scheduler", "nope"],
        ["diffuse", str(tmp_path / "missing.png")],
        ["toy", "render", "a red banana on a blue background"],
    ):
        r = cli(*args, "-o", str(out))
        assert r.exit_code == 2, r
    assert not (tmp_path / "a").exists()
    assert _leftovers(tmp_path) == []


def test_a_100kb_word_is_not_echoed_whole(cli, tmp_path, no_loading):
    word = "x" * 100_000
    for args in (
        ["imagine", "--model", "toy", f"a {word} star"],
        ["imagine", "--model", "toy", "a star", "--scheduler", word],
        ["imagine", "--model", word, "a star"],
        ["toy", "render", f"a red {word} on a blue background"],
        ["diffuse", "x.png", "--steps", word],
    ):
        r = cli(*args, "-o", str(tmp_path / "out"))
        line = assert_refused(r)
        assert len(r.stderr) < 600, (args[:2], len(r.stderr))
        assert "100000 characters" in line or "100004 characters" in line or "longer than" in line, line
    r = cli(
        "toy", "render", "-", "--seed", "1", "-o", str(tmp_path / "out"), input=f"a red {word} on a blue background\n"
    )
    assert r.exit_code == 2 and len(r.stderr) < 600, r


@pytest.mark.parametrize("damage", ["truncated", "random-bytes"])
def test_a_damaged_weight_file_in_a_model_folder_is_named(cli, tiny, tmp_path, damage):
    """A garbage or cut-off .safetensors inside a diffusers folder: exit 2 naming the folder,
    not a raw SafetensorError."""
    model = tmp_path / "damaged-model"
    shutil.copytree(tiny, model)
    weights = model / "unet" / "diffusion_pytorch_model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 3] if damage == "truncated" else os.urandom(len(data)))
    out = tmp_path / "out"
    r = cli("imagine", "a cat", "--model", str(model), "--steps", "2", "--out", str(out))
    assert r.exit_code == 2, r
    assert r.stdout == "", r
    assert "Traceback" not in r.stderr and "SafetensorError:" not in r.stderr, r
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "damaged-model" in errors[0], r
    assert not out.exists()  # nothing written, no empty folder
