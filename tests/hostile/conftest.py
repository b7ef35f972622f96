"""Shared tools of the adversarial suite (tests/hostile/).

Every hostile test builds its payload at test time and asserts what the file did *not* do:

* `canary` is a path that a payload would create if any of its code ran;
* `assert_refused(result, *names)` checks the contract for bad input: exit code 2 (or the one
  given), nothing on stdout, and one `error:` line on stderr (an optional `hint:` line may follow)
  that names the file or value, with no traceback;
* `pickle_payload(path)` is a pickle whose loading would create the canary file by a plain
  `os.system` route; tests add their own routes beside it.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest


@pytest.fixture
def canary(tmp_path) -> Path:
    """A file that must never exist: payloads try to create it."""
    path = tmp_path / "CANARY-code-ran"
    yield path
    assert not path.exists(), f"a hostile payload ran code: {path} exists"


def assert_refused(result, *names: str, code: int = 2) -> str:
    """Exit `code`, empty stdout, and exactly one `error:` line naming each of `names`. Returns the line."""
    assert result.exit_code == code, result
    assert result.stdout == "", result
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr, result
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, result
    others = [line for line in lines if not line.startswith(("error:", "hint:"))]
    assert not others, f"stderr has more than the error and its hint: {result}"
    for name in names:
        assert name in errors[0], f"{name!r} not named in {errors[0]!r}"
    return errors[0]


class _System:
    """Unpickling this runs `os.system(command)`."""

    def __init__(self, command: str):
        self.command = command

    def __reduce__(self):
        import os

        return (os.system, (self.command,))


def pickle_payload(canary: Path, protocol: int = 2) -> bytes:
    """A pickle whose loading creates `canary` through os.system."""
    return pickle.dumps(_System(f"touch {canary}"), protocol=protocol)
