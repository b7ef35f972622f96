"""genai invert (textual inversion) and imagine --embedding, on the tiny pipeline (no download)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

INIT = "the"  # one token in the tiny pipeline's tokenizer (t+h -> th, th+e</w> -> the</w>)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def images(tmp_path) -> Path:
    """Three small images of a concept, plus the clutter real folders have."""
    folder = tmp_path / "concept"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
    (folder / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (folder / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "notes.md").write_text("my cat photos\n")
    return folder


def _invert(cli, tiny, images, out, *extra, seed: str | None = "0"):
    """A tiny run; seed None: no --seed (invert.seed, runtime.seed, else a random one)."""
    return cli(
        "invert",
        "--model",
        str(tiny),
        "--images",
        str(images),
        "--token",
        "<thing>",
        "--init-word",
        INIT,
        "--out",
        str(out),
        "--batch-size",
        "2",
        "--grad-accum",
        "2",
        "--lr",
        "0.05",
        "--save-every",
        "0",
        "--checkpoint-every",
        "0",
        *(["--seed", seed] if seed is not None else []),
        *extra,
    )


def _vectors(path):
    from safetensors.torch import load_file

    return load_file(str(path))["<thing>"]


# --- the image folder ------------------------------------------------------------------------------------


def test_folder_keeps_only_readable_images_and_applies_exif(tmp_path):
    from genai_cli.invert.data import load_folder

    folder = tmp_path / "mixed"
    folder.mkdir()
    # a portrait photo stored landscape with EXIF orientation 6 (rotate 90 degrees clockwise to view)
    stored = np.zeros((20, 40, 3), dtype=np.uint8)
    stored[:, :20] = (255, 0, 0)  # left half red as stored; after the rotation it is the top half
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(stored).save(folder / "phone.jpg", exif=exif.tobytes(), quality=95)
    Image.fromarray(np.full((10, 10, 3), 200, np.uint8)).save(folder / "plain.webp")
    (folder / "fake.jpg").write_text("not really a jpeg")
    good = folder / "plain2.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(good)
    (folder / "broken.png").write_bytes(good.read_bytes()[:40])  # a truncated PNG
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / "Thumbs.db").write_bytes(b"junk")
    (folder / "orphan.txt").write_text("a {} caption for no image")
    (folder / "sub").mkdir()

    f = load_folder(folder, 16)
    assert [ex.path.name for ex in f.examples] == ["phone.jpg", "plain.webp", "plain2.png"]
    assert {p.name for p, _ in f.skipped} == {"fake.jpg", "broken.png", "orphan.txt"}
    phone = f.examples[0].pixels  # (3, 16, 16) in [-1, 1]
    assert phone.shape == (3, 16, 16)
    assert phone[0, 2, 8] > 0.8 and phone[1, 2, 8] < -0.8  # top is red: the EXIF rotation was applied
    assert phone[0, 13, 8] < -0.8  # bottom is black


def test_folder_without_images_is_a_clear_error(cli, tiny, tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / "readme.txt").write_text("nothing here")
    r = _invert(cli, tiny, folder, tmp_path / "out", "--steps", "1")
    assert r.exit_code == 2
    assert "no usable image" in r.stderr and "readme.txt" in r.stderr
    assert r.stdout == "" and not (tmp_path / "out").exists()


def test_caption_sidecars_replace_templates(tmp_path):
    from genai_cli.invert.data import load_folder

    folder = tmp_path / "c"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "a.png")
    (folder / "a.txt").write_text("a red {} on a white background\n")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "b.png")
    f = load_folder(folder, 8)
    assert [ex.caption for ex in f.examples] == ["a red {} on a white background", None]
    assert f.skipped == []
    (folder / "b.txt").write_text("no placeholder here")
    from genai_cli.errors import UsageError

    with pytest.raises(UsageError, match="has no {}"):
        load_folder(folder, 8)


# --- a run end to end ---------------------------------------------------------------------------------------


def test_invert_writes_an_embedding_diffusers_loads(cli, tiny, images, tmp_path):
    import torch
    from diffusers import StableDiffusionPipeline
    from safetensors import safe_open

    out = tmp_path / "run"
    r = _invert(
        cli, tiny, images, out, "--steps", "4", "--json", "--validation-prompt", "a photo of <thing>", seed=None
    )
    assert r.exit_code == 0, r
    rec = json.loads(r.stdout)
    # no seed anywhere: a random one, recorded on stderr, in the JSON record, the embedding and the checkpoint
    assert f"seed {rec['seed']} (random; --seed {rec['seed']} repeats this run)" in r.stderr
    assert json.loads((out / "checkpoint" / "state.json").read_text())["settings"]["seed"] == rec["seed"]
    assert rec["path"] == str(out / "learned_embeds.safetensors") and rec["steps"] == 4 and rec["processes"] == 1
    assert "skipped .DS_Store" not in r.stderr and "skipped notes.md: not an image" in r.stderr
    assert rec["validation"] == [str(out / "validation" / "step-000004.png")] and Path(rec["validation"][0]).is_file()

    with safe_open(rec["path"], "pt") as f:
        assert list(f.keys()) == ["<thing>"]
        meta = f.metadata()
        vec = f.get_tensor("<thing>")
    assert meta["genai.init_word"] == INIT and meta["genai.steps"] == "4" and meta["genai.base_model"] == tiny.name
    assert meta["genai.seed"] == str(rec["seed"])
    assert vec.shape == (1, 32) and vec.dtype == torch.float32

    pipe = StableDiffusionPipeline.from_pretrained(str(tiny), safety_checker=None, requires_safety_checker=False)
    init = pipe.text_encoder.get_input_embeddings().weight[pipe.tokenizer.convert_tokens_to_ids("the</w>")].detach()
    assert not torch.allclose(vec[0], init)  # it learned something
    pipe.load_textual_inversion(rec["path"])  # diffusers' own loader, unchanged
    tid = pipe.tokenizer.convert_tokens_to_ids("<thing>")
    assert torch.equal(pipe.text_encoder.get_input_embeddings().weight[tid].detach(), vec[0])


def test_frozen_weights_stay_unchanged(tiny, images, tmp_path, monkeypatch):
    """Train through the library, keep the pipeline it trained, compare every frozen tensor with a fresh load."""
    import torch

    from genai_cli import runtime
    from genai_cli.image import loading
    from genai_cli.invert.train import InvertSettings, invert

    seen = {}
    real = loading.load_pipeline

    def keep(*a, **k):
        seen["pipe"] = real(*a, **k)
        return seen["pipe"]

    monkeypatch.setattr(loading, "load_pipeline", keep)
    s = InvertSettings(
        images=images,
        token="<thing>",
        init_word=INIT,
        model=str(tiny),
        out=tmp_path / "o",
        steps=3,
        lr=0.5,
        batch_size=2,
        grad_accum=1,
        save_every=0,
        checkpoint_every=0,
    )
    res = invert(s, runtime.setup("cpu", "fp32", None))
    trained = seen["pipe"]
    fresh = real(loading.locate(str(tiny)), torch.float32)
    for name in ("unet", "vae", "text_encoder"):
        got = {k: v for k, v in getattr(trained, name).state_dict().items() if not k.endswith(".vectors")}
        got = {k.replace("token_embedding.table.", "token_embedding."): v for k, v in got.items()}
        want = getattr(fresh, name).state_dict()
        assert got.keys() == want.keys(), name
        assert all(torch.equal(got[k], want[k]) for k in want), name
    learned = _vectors(res.embedding)
    table = fresh.text_encoder.get_input_embeddings().weight
    init = table[fresh.tokenizer.convert_tokens_to_ids("the</w>")]
    assert (learned[0] - init).abs().max() > 0.1  # while the new vector moved (lr 0.5, 3 steps)


def test_resume_gives_the_uninterrupted_result(cli, tiny, images, tmp_path, monkeypatch):
    whole = tmp_path / "whole"
    assert _invert(cli, tiny, images, whole, "--steps", "4", seed="7").exit_code == 0

    # interrupted (Ctrl-C) after step 2, then resumed
    from genai_cli.invert import train

    real_step = train.Run.train_step

    def interrupt_at_3(self, step):
        if step == 2:
            raise KeyboardInterrupt
        return real_step(self, step)

    parts = tmp_path / "parts"
    monkeypatch.setattr(train.Run, "train_step", interrupt_at_3)
    r = _invert(cli, tiny, images, parts, "--steps", "4", seed="7")
    assert r.exit_code == 130 and "--resume" in r.stderr
    state = json.loads((parts / "checkpoint" / "state.json").read_text())
    assert state["step"] == 2 and not (parts / "learned_embeds.safetensors").exists()
    monkeypatch.setattr(train.Run, "train_step", real_step)

    again = _invert(cli, tiny, images, parts, "--steps", "4")  # without --resume: refused, nothing lost
    assert again.exit_code == 2 and "--resume" in again.stderr
    other = _invert(cli, tiny, images, parts, "--steps", "4", "--resume", "--lr", "0.01")
    assert other.exit_code == 2 and "lr" in other.stderr
    r = _invert(cli, tiny, images, parts, "--steps", "4", "--resume", seed=None)  # no --seed: the run's own, 7
    assert r.exit_code == 0, r
    assert "resuming at step 2" in r.stderr and "seed 7 (from checkpoint)" in r.stderr
    assert np.array_equal(
        _vectors(parts / "learned_embeds.safetensors").numpy(), _vectors(whole / "learned_embeds.safetensors").numpy()
    )


def test_nan_loss_stops_and_keeps_the_last_good_embedding(cli, tiny, images, tmp_path, monkeypatch):
    import torch

    from genai_cli.invert import train

    good = tmp_path / "good"
    assert _invert(cli, tiny, images, good, "--steps", "2").exit_code == 0
    real_loss = train.diffusion_loss
    calls = {"n": 0}

    def nan_from_step_3(*a, **k):
        calls["n"] += 1
        loss = real_loss(*a, **k)
        return loss * float("nan") if calls["n"] > 4 else loss  # 2 micro-batches per step: step 3 goes NaN

    monkeypatch.setattr(train, "diffusion_loss", nan_from_step_3)
    bad = tmp_path / "bad"
    r = _invert(cli, tiny, images, bad, "--steps", "5")
    assert r.exit_code == 1
    assert "the loss became nan at step 3" in r.stderr and "kept the embedding of step 2" in r.stderr
    kept = _vectors(bad / "learned_embeds.safetensors")
    assert torch.isfinite(kept).all()
    assert torch.equal(kept, _vectors(good / "learned_embeds.safetensors"))


def test_a1111_format_and_imagine_embedding(cli, tiny, images, tmp_path):
    import torch

    out = tmp_path / "run"
    r = _invert(cli, tiny, images, out, "--steps", "2", "--format", "a1111")
    assert r.exit_code == 0, r
    pt = out / "thing.pt"
    assert r.stdout.split() == [str(out / "learned_embeds.safetensors"), str(pt)]
    data = torch.load(pt, weights_only=True)  # plain tensors and strings: loads without trusting code
    assert data["name"] == "<thing>" and torch.equal(
        data["string_to_param"]["*"], _vectors(out / "learned_embeds.safetensors")
    )

    imgs = []
    for emb in (out / "learned_embeds.safetensors", pt):
        g = cli(
            "imagine",
            "--model",
            str(tiny),
            "--embedding",
            str(emb),
            "a photo of <thing>",
            "--steps",
            "2",
            "--seed",
            "5",
            "-o",
            str(tmp_path / "gen"),
            "--json",
        )
        assert g.exit_code == 0, g
        rec = json.loads(g.stdout)
        imgs.append(np.asarray(Image.open(rec["path"])))
        assert "learned word <thing>" in g.stderr
        info = json.loads(cli("info", rec["path"], "--json").stdout)
        assert info["genai"]["embeddings"] == [{"token": "<thing>", "path": str(emb)}]
    assert np.array_equal(imgs[0], imgs[1])  # both layouts give the same word
    plain = cli(
        "imagine",
        "--model",
        str(tiny),
        "a photo of <thing>",
        "--steps",
        "2",
        "--seed",
        "5",
        "-o",
        str(tmp_path / "plain"),
    )
    assert not np.array_equal(np.asarray(Image.open(plain.stdout.strip())), imgs[0])  # the word matters


def test_imagine_embedding_errors(cli, tiny, tmp_path):
    import torch
    from safetensors.torch import save_file

    wide = tmp_path / "wide.safetensors"
    save_file({"<wide>": torch.zeros(1, 768)}, str(wide))
    r = cli(
        "imagine", "--model", str(tiny), "--embedding", str(wide), "a <wide>", "--steps", "1", "-o", str(tmp_path / "g")
    )
    assert r.exit_code == 2 and "768 wide" in r.stderr and "takes 32" in r.stderr and r.stdout == ""

    taken = tmp_path / "the.safetensors"
    save_file({"the</w>": torch.zeros(1, 32)}, str(taken))
    r = cli(
        "imagine", "--model", str(tiny), "--embedding", str(taken), "a b", "--steps", "1", "-o", str(tmp_path / "g")
    )
    assert r.exit_code == 2 and "already has a token 'the</w>'" in r.stderr

    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pt"
    torch.save({"<e>": Evil()}, evil)
    r = cli(
        "imagine", "--model", str(tiny), "--embedding", str(evil), "a <e>", "--steps", "1", "-o", str(tmp_path / "g")
    )
    assert r.exit_code == 2 and "cannot read it" in r.stderr

    missing = cli("imagine", "--model", str(tiny), "--embedding", str(tmp_path / "nope.safetensors"), "a")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    assert not list((tmp_path / "g").glob("*.png"))  # nothing generated


@pytest.mark.parametrize(
    "args, message",
    [
        (["--token", "two words"], "one word without spaces"),
        (["--init-word", "zzqx"], "tokens for this model"),
        (["--token", "the</w>"], "already has the token"),
        (["--steps", "0"], "--steps 0: must be a whole number from 1 to"),
        (["--resolution", "30"], "multiple of 8"),
        (["--resume"], "no checkpoint"),
        (["--preset", "huge"], "unknown --preset"),
        (["--validation-prompt", "a cat"], "does not use the new word"),
        (["--model", "./no-such-folder"], "no-such-folder"),
    ],
)
def test_bad_input_is_a_clear_error(cli, tiny, images, tmp_path, args, message):
    base = {"--token": "<thing>", "--init-word": INIT, "--model": str(tiny)}
    flags = dict(base)
    extra = []
    i = 0
    while i < len(args):
        if args[i] in flags and i + 1 < len(args):
            flags[args[i]] = args[i + 1]
            i += 2
        else:
            extra.append(args[i])
            i += 1
    argv = ["invert", "--images", str(images), "--out", str(tmp_path / "o"), "--steps", "1"]
    for k, v in flags.items():
        argv += [k, v]
    r = cli(*argv, *extra)
    assert r.exit_code == 2, r
    assert message in r.stderr and r.stdout == ""
    assert not (tmp_path / "o" / "learned_embeds.safetensors").exists()


def test_two_processes_end_with_the_same_embedding(tiny, images, tmp_path):
    """torchrun with 2 CPU processes (gloo, data parallel): one output, and the processes agree."""
    out = tmp_path / "dist"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    p = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "genai_cli",
            "invert",
            "--model",
            str(tiny),
            "--images",
            str(images),
            "--token",
            "<thing>",
            "--init-word",
            INIT,
            "--out",
            str(out),
            "--steps",
            "3",
            "--batch-size",
            "1",
            "--grad-accum",
            "1",
            "--lr",
            "0.05",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    records = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    assert len(records) == 1  # only process 0 reports
    assert records[0]["processes"] == 2 and records[0]["steps"] == 3
    assert "the 2 processes ended with the same embedding (checked)" in p.stderr
    vec = _vectors(out / "learned_embeds.safetensors")
    assert vec.shape == (1, 32) and bool(np.isfinite(vec.numpy()).all())


def test_invert_help_imports_nothing_heavy():
    code = (
        "import sys\nsys.argv=['genai','invert','--help']\nfrom genai_cli.app import app\n"
        "try:\n    app(prog_name='genai')\nexcept SystemExit:\n    pass\n"
        "import json; print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "--images" in out.stdout
    assert not [m for m in ("torch", "transformers", "diffusers", "accelerate", "PIL", "numpy") if m in mods]


def test_mixed_precision_keeps_the_embedding_in_fp32(tiny, images, tmp_path, monkeypatch):
    """bf16 (the mixed precision a CPU has): U-Net and VAE run in bf16, the learned vectors stay fp32."""
    import torch

    from genai_cli import runtime
    from genai_cli.image import loading
    from genai_cli.invert.train import InvertSettings, invert

    seen = {}
    real = loading.load_pipeline
    monkeypatch.setattr(loading, "load_pipeline", lambda *a, **k: seen.setdefault("pipe", real(*a, **k)))
    s = InvertSettings(
        images=images,
        token="<thing>",
        init_word=INIT,
        model=str(tiny),
        out=tmp_path / "bf",
        steps=2,
        lr=0.05,
        batch_size=2,
        grad_accum=1,
        save_every=0,
        checkpoint_every=0,
    )
    try:
        res = invert(s, runtime.setup("cpu", "bf16", None))
    finally:  # a failed run must not leave bf16 in accelerate's process-wide state for later tests
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state()
    pipe = seen["pipe"]
    assert pipe.unet.dtype == torch.bfloat16 and pipe.vae.dtype == torch.bfloat16
    assert pipe.text_encoder.get_input_embeddings().vectors.dtype == torch.float32
    vec = _vectors(res.embedding)
    assert vec.dtype == torch.float32 and bool(torch.isfinite(vec).all())


def test_multi_vector_word_round_trips_through_diffusers(cli, tiny, images, tmp_path):
    """--num-vectors 2: the word spans two tokens (<thing>, <thing>_1), as diffusers expands it."""
    import torch
    from diffusers import StableDiffusionPipeline

    out = tmp_path / "two"
    r = _invert(cli, tiny, images, out, "--steps", "2", "--num-vectors", "2")
    assert r.exit_code == 0, r
    vec = _vectors(out / "learned_embeds.safetensors")
    assert vec.shape == (2, 32) and not torch.equal(vec[0], vec[1])  # each vector learned its own part
    pipe = StableDiffusionPipeline.from_pretrained(str(tiny), safety_checker=None, requires_safety_checker=False)
    pipe.load_textual_inversion(str(out / "learned_embeds.safetensors"))
    ids = pipe.tokenizer.convert_tokens_to_ids(["<thing>", "<thing>_1"])
    assert torch.equal(pipe.text_encoder.get_input_embeddings().weight[ids].detach(), vec)
    assert pipe.maybe_convert_prompt("a <thing>", pipe.tokenizer) == "a <thing> <thing>_1"
    g = cli(
        "imagine",
        "--model",
        str(tiny),
        "--embedding",
        str(out / "learned_embeds.safetensors"),
        "a <thing>",
        "--steps",
        "1",
        "-o",
        str(tmp_path / "g"),
    )
    assert g.exit_code == 0 and "learned word <thing> (2 vector(s))" in g.stderr


def test_the_early_word_check_reads_the_tokenizer_as_the_pipeline_does(tiny):
    """settings.read_words (no weights, the `tokenizers` library) encodes as the loaded pipeline's tokenizer."""
    from transformers import CLIPTokenizer

    from genai_cli.image.loading import TOY_PIPELINE
    from genai_cli.invert.settings import read_words

    for folder in (tiny, TOY_PIPELINE):
        words = read_words(folder)
        tok = CLIPTokenizer.from_pretrained(str(folder / "tokenizer"))
        texts = [t.replace("</w>", "") for t in tok.get_vocab()] + ["Red", "a photo of <thing>", "the</w>", "x_1"]
        assert [words.encode(t) for t in texts] == [tok.encode(t, add_special_tokens=False) for t in texts]
        assert words.vocab == tok.get_vocab() and words.unk_id == tok.unk_token_id
        assert words.width == 32 if folder == tiny else words.width == 64


@pytest.mark.parametrize(
    "yaml_text, flags, want",
    [
        ("invert:\n  seed: 6\nruntime:\n  seed: 9\n", ["--seed", "5"], "seed 5 (from --seed)"),
        ("invert:\n  seed: 6\nruntime:\n  seed: 9\n", [], "seed 6 (from config)"),
        ("runtime:\n  seed: 9\n", [], "seed 9 (from runtime.seed)"),
    ],
)
def test_the_seed_policy_flag_then_invert_seed_then_runtime_seed(
    cli, images, tmp_path, monkeypatch, yaml_text, flags, want
):
    from genai_cli.errors import GenaiError
    from genai_cli.invert import train

    seen = {}

    def stop(s, runtime, **kwargs):
        seen["seed"] = s.seed
        raise GenaiError("stopped before training")

    monkeypatch.setattr(train, "invert", stop)
    cfg = tmp_path / "seed.yaml"
    cfg.write_text(yaml_text)
    r = cli(
        "invert",
        "--model",
        "toy",
        "--images",
        str(images),
        "--token",
        "<zz>",
        "--init-word",
        "star",
        "--out",
        str(tmp_path / "out"),
        "--config",
        str(cfg),
        *flags,
    )
    assert r.exit_code == 1 and want in r.stderr, r.stderr
    assert seen["seed"] == int(want.split()[1])


def test_init_word_hints_come_from_the_toy_models_own_words(cli, images, tmp_path):
    """--model toy: "cat" is three tokens there, so no hint offers it; each word offered is one toy token."""
    from genai_cli.image.loading import TOY_PIPELINE
    from genai_cli.invert.settings import read_words

    words = read_words(TOY_PIPELINE)
    assert len(words.encode("cat")) == 3
    base = ["invert", "--model", "toy", "--images", str(images), "--token", "<zz>", "--out", str(tmp_path / "out")]
    for extra, before in (
        (["--init-word", "cat"], "e.g. "),
        (["--init-word", "two words"], "one token: "),
        ([], "--init-word "),
    ):  # the last: --init-word missing, the example command's word
        r = cli(*base, *extra)
        assert r.exit_code == 2, r
        hint = next(line for line in r.stderr.splitlines() if line.startswith("hint:"))
        offered = hint.split(before)[-1].split(", ")
        assert "cat" not in offered and offered, hint
        assert all(len(words.encode(w)) == 1 and words.encode(w)[0] != words.unk_id for w in offered), hint
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("model, loads", [("tiny", 1), ("toy", 2)])  # toy: again with its preset under --config
def test_the_command_loads_the_configuration_once(cli, tiny, images, tmp_path, monkeypatch, model, loads):
    from genai_cli import config
    from genai_cli.errors import GenaiError
    from genai_cli.invert import train

    calls = []
    real = config.load
    monkeypatch.setattr(config, "load", lambda *a, **k: calls.append(a) or real(*a, **k))

    def stop(s, runtime, **kwargs):
        raise GenaiError("stopped before training")

    monkeypatch.setattr(train, "invert", stop)
    r = cli(
        "invert",
        "--model",
        str(tiny) if model == "tiny" else model,
        "--images",
        str(images),
        "--token",
        "<zz>",
        "--init-word",
        INIT if model == "tiny" else "star",
        "--out",
        str(tmp_path / "out"),
        "--steps",
        "7",
    )
    assert r.exit_code == 1 and "stopped before training" in r.stderr, r.stderr
    assert len(calls) == loads, calls
