"""fp16 runs use diffusers' fp16 weight variant (`*.fp16.safetensors`) where every component has one.

Fake Hugging Face cache snapshots are built on disk from the tiny pipeline; nothing touches the network
(the one "online" case records what snapshot_download is asked for and serves files from disk)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("one_torch_thread")

REV = "0123456789abcdef0123456789abcdef01234567"
WEIGHTS = ("unet/diffusion_pytorch_model", "vae/diffusion_pytorch_model", "text_encoder/model")


@pytest.fixture(scope="module")
def tiny_both(tiny, tmp_path_factory) -> Path:
    """The tiny pipeline with both its full-precision files and a real fp16 variant (save_pretrained(variant=))."""
    import torch
    from diffusers import StableDiffusionPipeline

    folder = tmp_path_factory.mktemp("both") / "tiny-sd"
    shutil.copytree(tiny, folder)
    from genai_cli.image.loading import _dtype_kwarg

    pipe = StableDiffusionPipeline.from_pretrained(str(tiny), **_dtype_kwarg(torch.float16), local_files_only=True)
    pipe.save_pretrained(str(folder), safe_serialization=True, variant="fp16")
    for w in WEIGHTS:
        assert (folder / f"{w}.fp16.safetensors").is_file()
    return folder


@pytest.fixture
def hub(monkeypatch, tmp_path):
    """A temporary HF hub cache; make(folder, keep) puts a snapshot of `folder` (files for which keep(rel) holds)
    at models--org--tiny/snapshots/REV with refs/main, and returns the snapshot folder."""
    import huggingface_hub.constants as C

    cache = tmp_path / "hf" / "hub"
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setattr(C, "HF_HUB_CACHE", str(cache))

    def make(folder: Path, keep=lambda rel: True) -> Path:
        repo = cache / "models--org--tiny"
        snap = repo / "snapshots" / REV
        for f in folder.rglob("*"):
            rel = f.relative_to(folder).as_posix()
            if f.is_file() and keep(rel):
                (snap / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(f, snap / rel)
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(REV)
        return snap

    return make


def _garbage(snap: Path, suffix: str) -> None:
    """Overwrite the weight files ending in `suffix` with bytes no loader can read."""
    for w in WEIGHTS:
        (snap / f"{w}{suffix}").write_bytes(b"not a safetensors file")


def _load(dtype_name: str):
    import torch

    from genai_cli.image import loading

    dtype = getattr(torch, dtype_name)
    source = loading.fetch_weights(loading.locate("org/tiny"), dtype)
    return source, loading.load_pipeline(loading.locate("org/tiny"), dtype)


def test_fp16_run_loads_the_fp16_files(hub, tiny_both):
    import torch

    snap = hub(tiny_both)
    _garbage(snap, ".safetensors")  # the fp32 files can no longer be read: only the variant can load
    source, pipe = _load("float16")
    assert source.variant == "fp16" and source.path == snap
    assert pipe.unet.dtype == torch.float16 and pipe.text_encoder.dtype == torch.float16


def test_fp32_run_ignores_the_fp16_files(hub, tiny_both):
    import torch

    snap = hub(tiny_both)
    _garbage(snap, ".fp16.safetensors")  # unreadable variant: an fp32 run must never open it
    source, pipe = _load("float32")
    assert source.variant is None
    assert pipe.unet.dtype == torch.float32


def test_fp16_run_without_a_variant_falls_back_to_fp32_files_offline(hub, tiny):
    import torch

    snap = hub(tiny)  # a cache holding only the full-precision files, HF_HUB_OFFLINE=1 (conftest)
    source, pipe = _load("float16")
    assert source.variant is None and source.path == snap
    assert pipe.unet.dtype == torch.float16  # the fp32 files, cast on load; nothing downloaded


def test_partial_fp16_variant_uses_fp32_files(hub, tiny_both):
    snap = hub(tiny_both, keep=lambda rel: rel != "vae/diffusion_pytorch_model.fp16.safetensors")
    source, pipe = _load("float16")
    assert source.variant is None and pipe.vae is not None
    for w in WEIGHTS:  # and without the full-precision files nothing complete is cached: offline, a clear error
        (snap / f"{w}.safetensors").unlink()
    from genai_cli.errors import GenaiError

    with pytest.raises(GenaiError, match="HF_HUB_OFFLINE"):
        _load("float16")


def test_local_folder_uses_the_variant_only_when_complete(tiny, tiny_both, tmp_path):
    import torch

    from genai_cli.image import loading

    assert loading.fetch_weights(loading.locate(str(tiny_both)), torch.float16).variant == "fp16"
    assert loading.fetch_weights(loading.locate(str(tiny_both)), torch.float32).variant is None
    assert loading.fetch_weights(loading.locate(str(tiny)), torch.float16).variant is None
    part = tmp_path / "part"
    shutil.copytree(tiny_both, part)
    (part / "unet" / "diffusion_pytorch_model.fp16.safetensors").unlink()
    assert loading.fetch_weights(loading.locate(str(part)), torch.float16).variant is None
    assert loading.load_pipeline(loading.locate(str(part)), torch.float16).unet.dtype == torch.float16


@pytest.mark.parametrize("dtype_name, expect", [("float16", "fp16"), ("float32", None)])
def test_online_download_asks_for_the_right_weight_files(hub, tiny_both, monkeypatch, dtype_name, expect):
    """Online, an uncached model: locate fetches configs only; the weights asked for follow the precision."""
    import huggingface_hub
    import torch

    from genai_cli.image import loading

    monkeypatch.delenv("HF_HUB_OFFLINE")
    snap = hub(tiny_both, keep=lambda rel: not rel.endswith(".safetensors"))  # the configs, as locate leaves them
    calls = []

    def fake_download(repo_id, revision=None, local_files_only=False, allow_patterns=None, **kw):
        calls.append((repo_id, revision, local_files_only, list(allow_patterns or [])))
        assert repo_id == "org/tiny"
        if not local_files_only:  # "download": copy the matching files into the snapshot
            from fnmatch import fnmatch

            for f in tiny_both.rglob("*"):
                rel = f.relative_to(tiny_both).as_posix()
                if f.is_file() and any(fnmatch(rel, p) for p in allow_patterns):
                    shutil.copy(f, snap / rel)
        return str(snap)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    source = loading.locate("org/tiny")
    assert calls == [("org/tiny", None, True, loading.HUB_CONFIG_PATTERNS)]  # no weights before the dtype is known
    dtype = getattr(torch, dtype_name)
    fetched = loading.fetch_weights(source, dtype)
    downloads = [c for c in calls if not c[2]]
    assert len(downloads) == 1 and downloads[0][1] == REV  # pinned to the vetted snapshot
    patterns = downloads[0][3]
    if expect == "fp16":
        assert "*/diffusion_pytorch_model.fp16.safetensors" in patterns and "*/model.fp16.safetensors" in patterns
        assert "*/diffusion_pytorch_model.safetensors" not in patterns
        assert not (snap / "unet" / "diffusion_pytorch_model.safetensors").exists()
    else:
        assert "*/diffusion_pytorch_model.safetensors" in patterns and not any("fp16" in p for p in patterns)
    assert fetched.variant == expect
    assert loading.load_pipeline(fetched, dtype).unet.dtype == dtype
