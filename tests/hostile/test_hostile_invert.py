"""Hostile input to `genai invert`: words the model already has, sizes past the documented limits,
NaN and inf, hostile image folders, damaged and malicious checkpoints, and crashes in the middle of a
checkpoint swap. Every payload is built here; a refused run must exit 2 with one line naming the value
or file, print nothing on stdout, run no code, and leave nothing behind (nor change what was there).

The built-in toy model keeps this fast: its tokenizer reads `red` as `red</w>`, `star` is one token,
`cat` is three, and its text encoder reads 16 tokens.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genai_cli.errors import UsageError
from genai_cli.invert import checkpoint as C
from genai_cli.invert import settings as S
from tests.hostile.conftest import assert_refused, pickle_payload

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TOKEN, INIT = "<moon>", "star"
# fast runs: no validation grid, a checkpoint every step
CONFIG = "invert:\n  validation_prompt: null\n  save_every: 0\n  checkpoint_every: 1\n  batch_size: 2\n  lr: 0.05\n"


def _images(folder: Path, n: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    return folder


@pytest.fixture
def images(tmp_path) -> Path:
    return _images(tmp_path / "moon")


@pytest.fixture
def cfg(tmp_path) -> Path:
    path = tmp_path / "fast.yaml"
    path.write_text(CONFIG)
    return path


def _invert(cli, images, out, cfg, *extra, token=TOKEN, init=INIT):
    return cli(
        "invert",
        "--model",
        "toy",
        "--images",
        str(images),
        "--token",
        token,
        "--init-word",
        init,
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--steps",
        "2",
        *extra,
    )


def _tree(root: Path) -> dict[str, bytes | None]:
    """Every path under root with its bytes (None for folders and other non-files)."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the image folder is read or a weight is loaded."""
    from genai_cli.image import loading
    from genai_cli.invert import data

    def forbidden(*a, **k):
        raise AssertionError("work started before the input was checked")

    monkeypatch.setattr(loading, "load_pipeline", forbidden)
    monkeypatch.setattr(data, "load_folder", forbidden)


# --- words the model already has ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token, named",
    [
        ("red", "'red'"),  # CLIP reads it as red</w>: the run would train a copy no prompt can reach
        ("Red", "'Red'"),  # CLIP lowercases
        ("red</w>", "'red</w>'"),  # the vocabulary entry itself
        ("<|endoftext|>", "<|endoftext|>"),  # a special token
        ("ackgr", "'ackgr'"),  # part of background</w>: an added word would split every "background" in a prompt
    ],
)
def test_a_word_the_model_has_is_refused_before_any_work(cli, images, cfg, tmp_path, no_work, token, named):
    before = _tree(tmp_path)
    r = _invert(cli, images, tmp_path / "out", cfg, token=token)
    line = assert_refused(r, "--token", named)
    assert "IndexError" not in line
    assert _tree(tmp_path) == before


def test_init_word_hint_names_words_of_this_model(cli, images, cfg, tmp_path, no_work):
    r = _invert(cli, images, tmp_path / "out", cfg, init="cat")
    assert_refused(r, "--init-word 'cat'", "3 tokens")
    hint = next(line for line in r.stderr.splitlines() if line.startswith("hint:"))
    offered = [w.strip() for w in hint.split("e.g.")[1].split(",")]
    assert len(offered) == 3 and "cat" not in offered
    from genai_cli.image.loading import TOY_PIPELINE

    words = S.read_words(TOY_PIPELINE)
    assert all(len(words.encode(w)) == 1 for w in offered), offered  # each is one token of the toy model
    assert not (tmp_path / "out").exists()


# --- limits, NaN and inf --------------------------------------------------------------------------------------------


def _most(key: str) -> int:
    """The largest value of invert.KEY: the schema is the one home of every limit."""
    from genai_cli import config

    return int(config.limits("invert", key)[1])


@pytest.mark.parametrize(
    "args, named",
    [
        (["--repeats", "1000000000"], ["--repeats", "1000000000"]),
        (["--repeats", str(_most("repeats") + 1)], ["--repeats"]),
        (["--num-vectors", "15"], ["--num-vectors 15", "16 tokens"]),  # the toy text encoder's context, from its config
        (["--num-vectors", str(_most("num_vectors") + 1)], ["--num-vectors"]),
        (["--steps", str(_most("steps") + 1)], ["--steps"]),
        (["--batch-size", str(_most("batch_size") + 1)], ["--batch-size"]),
        (["--grad-accum", str(_most("grad_accum") + 1)], ["--grad-accum"]),
        (["--resolution", str(_most("resolution") + 8)], ["--resolution"]),
        (["--resolution", "256"], ["--resolution 256", "128"]),  # the toy model's largest size, from its configs
        (["--save-every=-1"], ["--save-every -1"]),
        (["--checkpoint-every", str(_most("steps") + 1)], ["--checkpoint-every"]),
        (["--validate-every=-5"], ["--validate-every -5"]),
        (["--lr", "nan"], ["--lr nan"]),
        (["--lr", "inf"], ["--lr inf"]),
        (["--lr=-inf"], ["--lr -inf"]),
        (["--lr", "1e9"], ["--lr"]),
        (["--flip", "nan"], ["--flip nan"]),
        (["--token", "<" + "x" * 5000 + ">"], ["--token", "characters"]),
        (["--token", "<a\x1b[31m>"], ["--token", "\\x1b"]),  # a control character is shown escaped
        (["--validation-prompt", "a {} and {0} {}"], ["--validation-prompt"]),
    ],
)
def test_sizes_past_the_limits_and_non_finite_numbers_are_refused_before_any_work(
    cli, images, cfg, tmp_path, no_work, args, named
):
    before = _tree(tmp_path)
    r = _invert(cli, images, tmp_path / "out", cfg, *args)
    line = assert_refused(r, *named)
    assert len(line) < 300  # a 5000-character word is not echoed whole
    assert _tree(tmp_path) == before


@pytest.mark.parametrize(
    "yaml_text, key",
    [
        ("invert:\n  repeats: 1000000000\n", "invert.repeats"),
        ("invert:\n  lr: .nan\n", "invert.lr"),
        ("invert:\n  lr: .inf\n", "invert.lr"),
        ("invert:\n  validation_n: 100000\n", "invert.validation_n"),
        ("invert:\n  steps: 100000000\n", "invert.steps"),
    ],
)
def test_limits_hold_for_config_files_too(cli, images, tmp_path, no_work, yaml_text, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml_text)
    before = _tree(tmp_path)
    r = cli(
        "invert",
        "--model",
        "toy",
        "--images",
        str(images),
        "--token",
        TOKEN,
        "--init-word",
        INIT,
        "--out",
        str(tmp_path / "out"),
        "--config",
        str(bad),
    )
    assert_refused(r, "bad.yaml", key)
    assert _tree(tmp_path) == before


def test_the_library_checks_settings_through_the_schema(images, tmp_path):
    """InvertSettings built by hand (no config file, no flag) meet the same limits, named by their flags."""
    for change, shown in (
        ({"steps": 0}, "--steps 0: must be a whole number from 1 to 100000"),
        ({"lr": float("nan")}, "--lr nan: must be a finite number above 0 and at most 10"),
        ({"resolution": 36}, "--resolution 36: must be a multiple of 8 from 8 to 2048"),
        ({"property": "x"}, "--property 'x': input should be 'object' or 'style'"),
    ):
        s = S.InvertSettings(images=images, token=TOKEN, init_word=INIT, out=tmp_path / "out", **change)
        with pytest.raises(UsageError) as e:
            S.check_settings(s)
        assert e.value.message == shown


# --- the image folder -----------------------------------------------------------------------------------------------


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header claiming width x height RGB pixels (30 GB decoded) with a few rows of data."""
    rows = zlib.compress(b"\x00" * (1 + 3 * width) * 4)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + _png_chunk(b"IDAT", rows)
        + _png_chunk(b"IEND", b"")
    )


class Fifo:
    """A FIFO that reports whether anything opened it for reading (a reader would block forever without
    a writer; here a writer thread waits, so a regression fails instead of hanging the test run)."""

    def __init__(self, path: Path):
        self.path = path
        os.mkfifo(path)
        self.opened = threading.Event()
        self.thread = threading.Thread(target=self._writer, daemon=True)
        self.thread.start()

    def _writer(self):
        fd = os.open(self.path, os.O_WRONLY)  # blocks until a reader opens the FIFO
        self.opened.set()
        os.close(fd)

    def close(self) -> bool:
        """Unblock the writer with a reader of our own -> whether someone else had opened it."""
        was = self.opened.is_set()
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        self.thread.join(5)
        os.close(fd)
        return was


def _hostile_files(folder: Path) -> Fifo:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "bomb.png").write_bytes(_bomb_png())
    good = folder / ".good.png"
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(good)
    (folder / "cut.png").write_bytes(good.read_bytes()[:60])  # a truncated PNG
    good.unlink()
    return Fifo(folder / "pipe.png")


def test_a_folder_of_only_hostile_files_is_refused_naming_it(cli, cfg, tmp_path, monkeypatch):
    from genai_cli.image import loading

    folder = tmp_path / "hostile"
    fifo = _hostile_files(folder)
    monkeypatch.setattr(loading, "load_pipeline", lambda *a, **k: pytest.fail("weights loaded"))
    try:
        r = _invert(cli, folder, tmp_path / "out", cfg)
    finally:
        assert not fifo.close(), "the FIFO was opened"
    line = assert_refused(r, f"no usable image in {folder}")
    assert "bomb.png: image too large" in line and "pipe.png: not a regular file" in line and "cut.png: damaged" in line
    assert not (tmp_path / "out").exists()


def test_hostile_files_beside_good_images_are_skipped_with_a_warning(images, monkeypatch):
    """The rule for a folder: unreadable files are skipped with a warning naming them (the command prints
    `skipped NAME: why`), without opening a FIFO or decoding a bomb."""
    import genai_cli.files as files
    from genai_cli.invert.data import load_folder

    fifo = _hostile_files(images)
    caption_fifo = Fifo(images / "img0.txt")  # a FIFO where a caption sidecar would be
    decoded = []
    real = files.open_image

    def spy(path, what="image"):
        im = real(path, what)
        decoded.append(Path(path).name)
        return im

    monkeypatch.setattr(files, "open_image", spy)
    try:
        f = load_folder(images, 32)
    finally:
        assert not fifo.close() and not caption_fifo.close(), "a FIFO was opened"
    assert [ex.path.name for ex in f.examples] == ["img0.png", "img1.png", "img2.png"]
    assert f.examples[0].caption is None
    reasons = {p.name: why for p, why in f.skipped}
    assert set(reasons) == {"bomb.png", "cut.png", "pipe.png", "img0.txt"}
    assert reasons["bomb.png"].startswith("image too large") and reasons["cut.png"].startswith("damaged")
    assert reasons["pipe.png"].startswith("not a regular file")
    assert decoded == ["img0.png", "img1.png", "img2.png"]  # only the good images came back decoded


def test_too_many_files_and_a_huge_caption_are_refused_before_decoding(cli, cfg, tmp_path):
    from genai_cli.invert import data

    crowd = tmp_path / "crowd"
    crowd.mkdir()
    for i in range(data.MAX_IMAGES + 1):
        (crowd / f"{i:05d}.png").write_bytes(b"")
    r = _invert(cli, crowd, tmp_path / "out", cfg)
    assert_refused(r, f"--images {crowd}", str(data.MAX_IMAGES + 1))

    folder = _images(tmp_path / "captioned")
    (folder / "img0.txt").write_text("a {} " + "very " * 2000)
    before = _tree(tmp_path)
    r = _invert(cli, folder, tmp_path / "out", cfg)
    assert_refused(r, str(folder / "img0.txt"), str(data.MAX_CAPTION_BYTES))
    assert _tree(tmp_path) == before


# --- checkpoints: crashes, damage, malice ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def base_run(tmp_path_factory, session_cache):
    """One real 2-step toy run with its checkpoint (copied by each test that damages it)."""
    from typer.testing import CliRunner

    from genai_cli import console
    from genai_cli.app import app

    root = tmp_path_factory.mktemp("invert-base")
    images = _images(root / "moon")
    (root / "fast.yaml").write_text(CONFIG)
    (root / "user.yaml").write_text("# empty\n")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {
            "GENAI_CACHE": str(session_cache),
            "GENAI_CONFIG": str(root / "user.yaml"),
            "HF_HUB_OFFLINE": "1",
            "NO_COLOR": "1",
        }.items():
            mp.setenv(k, v)
        console.reset()
        r = CliRunner().invoke(
            app,
            [
                "invert",
                "--model",
                "toy",
                "--images",
                str(images),
                "--token",
                TOKEN,
                "--init-word",
                INIT,
                "--out",
                str(root / "run"),
                "--config",
                str(root / "fast.yaml"),
                "--steps",
                "2",
            ],
            catch_exceptions=False,
        )
        console.reset()
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in (root / "run").iterdir()) == ["checkpoint", "learned_embeds.safetensors"]
    return root


def _copy_run(base_run: Path, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The base run's images, config and output folder, copied to tmp_path -> (images, cfg, out)."""
    shutil.copytree(base_run / "moon", tmp_path / "moon")
    shutil.copy(base_run / "fast.yaml", tmp_path / "fast.yaml")
    shutil.copytree(base_run / "run", tmp_path / "run")
    (tmp_path / "run" / "learned_embeds.safetensors").unlink()  # as after a Ctrl-C: only the checkpoint
    return tmp_path / "moon", tmp_path / "fast.yaml", tmp_path / "run"


def _record(folder: Path, name: str, data: bytes) -> None:
    """Replace a checkpoint file and record its new size in state.json, as a careful attacker would."""
    (folder / name).write_bytes(data)
    state = json.loads((folder / C.STATE).read_text())
    state["files"][name] = len(data)
    (folder / C.STATE).write_text(json.dumps(state))


def _torch_pickle(canary: Path) -> bytes:
    """torch.save's zip format around an optimiser state whose unpickling would run os.system."""
    import io

    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    buf = io.BytesIO()
    torch.save({"state": {0: {"step": Evil()}}, "param_groups": []}, buf)
    return buf.getvalue()


def _safetensors(tensors: dict) -> bytes:
    from safetensors.torch import save

    return save(tensors)


def _damage(kind: str, ck: Path, canary: Path) -> str:
    """Damage the checkpoint folder `ck` in one way -> the file the error must name."""
    import torch

    vec, opt = ck / C.VECTORS, ck / C.OPTIMIZER
    if kind == "truncated":
        vec.write_bytes(vec.read_bytes()[: vec.stat().st_size // 2])
        return C.VECTORS
    if kind == "random bytes":
        _record(ck, C.VECTORS, np.random.default_rng(1).bytes(vec.stat().st_size))
        return C.VECTORS
    if kind == "pickle payload":
        _record(ck, C.OPTIMIZER, pickle_payload(canary))
        return C.OPTIMIZER
    if kind == "torch pickle payload":
        _record(ck, C.OPTIMIZER, _torch_pickle(canary))
        return C.OPTIMIZER
    if kind == "nan vectors":
        _record(ck, C.VECTORS, _safetensors({"vectors": torch.full((1, 64), float("nan"))}))
        return "nan"
    if kind == "inf optimiser":
        state = torch.load(opt, weights_only=True)
        state["state"][0]["exp_avg"][0, 0] = float("inf")
        import io

        buf = io.BytesIO()
        torch.save(state, buf)
        _record(ck, C.OPTIMIZER, buf.getvalue())
        return "inf"
    if kind == "wrong shape":
        _record(ck, C.VECTORS, _safetensors({"vectors": torch.zeros(1, 10)}))
        return C.VECTORS
    if kind == "state random bytes":
        (ck / C.STATE).write_bytes(np.random.default_rng(2).bytes(300))
        return C.STATE
    if kind == "state huge":
        (ck / C.STATE).write_bytes(b" " * (C.MAX_STATE_BYTES + 1))
        return C.STATE
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "truncated",
        "random bytes",
        "pickle payload",
        "torch pickle payload",
        "nan vectors",
        "inf optimiser",
        "wrong shape",
        "state random bytes",
        "state huge",
    ],
)
def test_a_damaged_checkpoint_is_refused_on_resume(cli, base_run, tmp_path, canary, kind):
    images, cfg, out = _copy_run(base_run, tmp_path)
    named = _damage(kind, out / C.CHECKPOINT, canary)
    before = _tree(tmp_path)
    r = cli(
        "invert",
        "--model",
        "toy",
        "--images",
        str(images),
        "--token",
        TOKEN,
        "--init-word",
        INIT,
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--steps",
        "3",
        "--resume",
    )
    assert_refused(r, named, str(out / C.CHECKPOINT))
    assert _tree(tmp_path) == before  # nothing written, the damaged checkpoint kept as it was


def test_an_a1111_embedding_with_a_pickle_payload_is_refused(tmp_path, canary):
    """Wherever invert's embeddings module reads a .pt (AUTOMATIC1111 layout), it stays weights_only."""
    from genai_cli.errors import UsageError
    from genai_cli.invert import embeddings as E

    for i, payload in enumerate((pickle_payload(canary), _torch_pickle(canary))):
        path = tmp_path / f"evil{i}.pt"
        path.write_bytes(payload)
        with pytest.raises(UsageError, match=f"evil{i}.pt"):
            E.read(path)


class Died(BaseException):
    """The process dies here (not an Exception: no handler of ours may catch it)."""


def _die_at(monkeypatch, k: int) -> list[str]:
    """Make the k-th file-system step of a checkpoint save die (a rename, a removal, an fsync); a removal dies
    half way, after deleting one file. Returns the log of steps."""
    log: list[str] = []
    real_rename, real_rmtree, real_fsync = Path.rename, shutil.rmtree, C._fsync

    def step(what: str) -> bool:
        log.append(what)
        return len(log) - 1 == k

    def rename(self, target):
        if step(f"rename {self.name} -> {Path(target).name}"):
            raise Died
        return real_rename(self, target)

    def rmtree(path, ignore_errors=False):
        if Path(path).exists() and step(f"rmtree {Path(path).name}"):
            files = sorted(p for p in Path(path).iterdir())
            if files:
                files[0].unlink()
            raise Died
        return real_rmtree(path, ignore_errors=ignore_errors)

    def fsync(path):
        if step(f"fsync {Path(path).name}"):
            raise Died
        return real_fsync(path)

    monkeypatch.setattr(Path, "rename", rename)
    monkeypatch.setattr(C.shutil, "rmtree", rmtree)
    monkeypatch.setattr(C, "_fsync", fsync)
    return log


def test_a_crash_at_any_moment_of_a_checkpoint_swap_leaves_the_newest_complete_one(tmp_path, monkeypatch):
    import torch

    settings = {"token": TOKEN}

    def vec(step):
        return torch.full((1, 4), float(step))

    def opt(step):
        return {
            "state": {0: {"step": torch.tensor(float(step)), "exp_avg": vec(step)}},
            "param_groups": [{"params": [0]}],
        }

    base = tmp_path / "base"
    C.save(base, 1, vec(1), opt(1), settings, "test")
    with monkeypatch.context() as mp:  # a dry run counts the steps of the second save
        steps = _die_at(mp, -1)
        C.save(tmp_path / "dry", 0, vec(0), None, settings, "test")
        shutil.rmtree(tmp_path / "dry")
        steps.clear()
        C.save(base, 1, vec(1), opt(1), settings, "test")
        n = len(steps)
        complete_at = next(i for i, s in enumerate(steps) if s.startswith(f"rename {C.STATE}.part"))
    assert n >= 6, steps
    for k in range(n):
        work = tmp_path / f"crash-{k}"
        shutil.copytree(base, work)
        with monkeypatch.context() as mp:
            log = _die_at(mp, k)
            with pytest.raises(Died):
                C.save(work, 2, vec(2), opt(2), settings, "test")
        folder, state = C.find(work)
        want = 2 if k > complete_at else 1  # once the new state.json is in place, the new checkpoint counts
        assert state["step"] == want, (k, log, sorted(p.name for p in work.iterdir()))
        vectors, optimizer_state = C.load(folder, state, (1, 4))
        assert torch.equal(vectors, vec(want)) and torch.equal(optimizer_state["state"][0]["exp_avg"], vec(want))
        # the next save finishes or discards what the crash left, and never loses the newest
        C.save(work, 3, vec(3), opt(3), settings, "test")
        assert sorted(p.name for p in work.iterdir()) == [C.CHECKPOINT], (k, log)
        assert C.find(work)[1]["step"] == 3


def test_resume_finds_a_checkpoint_whichever_rename_came_last(cli, base_run, tmp_path):
    """The state the old two-rename swap left when it died between its renames: only checkpoint.old/.
    A fresh run refuses to touch it; --resume continues from it; --force starts again."""
    images, cfg, out = _copy_run(base_run, tmp_path)
    (out / C.CHECKPOINT).rename(out / C.OLD)
    before = _tree(tmp_path)
    fresh = cli(
        "invert",
        "--model",
        "toy",
        "--images",
        str(images),
        "--token",
        TOKEN,
        "--init-word",
        INIT,
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--steps",
        "3",
    )
    assert_refused(fresh, f"{out} already holds a textual-inversion run")
    assert _tree(tmp_path) == before  # checkpoint.old kept

    r = cli(
        "invert",
        "--model",
        "toy",
        "--images",
        str(images),
        "--token",
        TOKEN,
        "--init-word",
        INIT,
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--steps",
        "3",
        "--resume",
    )
    assert r.exit_code == 0, r
    assert "resuming at step 2" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == [C.CHECKPOINT, "learned_embeds.safetensors"]
    assert C.find(out)[1]["step"] == 3

    forced = cli(
        "invert",
        "--model",
        "toy",
        "--images",
        str(images),
        "--token",
        TOKEN,
        "--init-word",
        INIT,
        "--out",
        str(out),
        "--config",
        str(cfg),
        "--steps",
        "1",
        "--force",
    )
    assert forced.exit_code == 0, forced
    assert C.find(out)[1]["step"] == 1 and sorted(p.name for p in out.iterdir()) == [
        C.CHECKPOINT,
        "learned_embeds.safetensors",
    ]


def test_a_run_that_fails_before_its_first_file_leaves_no_folder(cli, images, cfg, tmp_path, monkeypatch):
    from genai_cli.errors import GenaiError
    from genai_cli.invert import train

    def boom(self, step):
        raise GenaiError("the device went away")

    monkeypatch.setattr(train.Run, "train_step", boom)
    r = _invert(cli, images, tmp_path / "out", cfg)
    assert r.exit_code == 1 and "the device went away" in r.stderr and r.stdout == ""
    assert not (tmp_path / "out").exists()


# --- remote code --------------------------------------------------------------------------------------------------


def test_the_tokenizer_read_before_loading_runs_no_code_of_the_folder(tmp_path, canary):
    """A tokenizer folder that asks for its own code (auto_map + a .py file) is read as plain CLIP data."""
    from genai_cli.image.loading import TOY_PIPELINE

    tok = tmp_path / "model" / "tokenizer"
    tok.mkdir(parents=True)
    data = json.loads((TOY_PIPELINE / "tokenizer" / "tokenizer.json").read_text())
    (tok / "vocab.json").write_text(json.dumps(data["model"]["vocab"]))
    merges = [" ".join(m) if isinstance(m, list) else m for m in data["model"]["merges"]]
    (tok / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    config = json.loads((TOY_PIPELINE / "tokenizer" / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    (tok / "tokenizer_config.json").write_text(json.dumps(config))
    (tok / "evil.py").write_text(f"import os\nos.system('touch {canary}')\nclass EvilTokenizer: pass\n")
    words = S.read_words(tmp_path / "model")
    toy = S.read_words(TOY_PIPELINE)
    for text in ("red", "a red star on a blue background", TOKEN, "cat", "ackgr"):
        assert words.encode(text) == toy.encode(text), text  # the same tokenizer, read by transformers
