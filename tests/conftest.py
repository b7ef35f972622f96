"""Shared fixtures: every test runs offline, with its own config and a session-wide cache."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory) -> Path:
    """One cache dir for the whole run, so built stores (GloVe, converted models) are built once."""
    return tmp_path_factory.mktemp("genai-cache")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Small models gain nothing from threads, and on a busy 2-core machine two threads per process spin
    against each other (a 25-step tiny image: 1 s with one thread, 10-30 s with two). Modules that run
    models use it with `pytestmark = pytest.mark.usefixtures("one_torch_thread")`."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> Path:
    """A tiny random-weight Stable Diffusion pipeline saved as a diffusers folder, built once per session."""
    from genai_cli.image.loading import quiet_libraries
    from genai_cli.image.tiny import save_tiny_pipeline

    quiet_libraries()
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny") / "tiny-sd", seed=0)


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, session_cache, tmp_path):
    """No user config, the session cache, no network, no colour; run in a temp dir."""
    monkeypatch.setenv("GENAI_CACHE", str(session_cache))
    monkeypatch.setenv("GENAI_CONFIG", str(_empty_config(tmp_path)))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("GENAI_DEBUG", raising=False)
    monkeypatch.chdir(tmp_path)
    from genai_cli import console

    console.reset()
    yield
    console.reset()


def _empty_config(tmp_path: Path) -> Path:
    path = tmp_path / "user-config.yaml"
    path.write_text("# empty user config for tests\n")
    return path


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str):
        self.exit_code, self.stdout, self.stderr = exit_code, stdout, stderr

    def __repr__(self) -> str:
        return f"Result(exit_code={self.exit_code}, stdout={self.stdout[:500]!r}, stderr={self.stderr[:800]!r})"


@pytest.fixture
def cli():
    """Run the Typer app in-process: cli("embed", "analogy", ..., input="...") -> Result."""
    from typer.testing import CliRunner

    from genai_cli.app import app

    def run(*args: str, input: str | None = None) -> Result:
        from genai_cli import config, console

        console.reset()
        config._LOADED.clear()  # each run reads the configuration anew, as a new process would
        runner = CliRunner()
        r = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        console.reset()
        return Result(r.exit_code, r.stdout, r.stderr)

    return run


@pytest.fixture
def genai_exe():
    """Run the installed `genai` entry point as a real subprocess."""
    exe = shutil.which("genai", path=str(Path(sys.executable).parent)) or shutil.which("genai")
    assert exe, "the genai console script is not installed"

    def run(*args: str, input: str | None = None, env: dict | None = None, timeout: float = 300) -> Result:
        full_env = {**os.environ, **(env or {})}
        p = subprocess.run([exe, *args], input=input, capture_output=True, text=True, env=full_env, timeout=timeout)
        return Result(p.returncode, p.stdout, p.stderr)

    return run
