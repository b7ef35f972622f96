"""The skeleton: help, version, config layering, the error boundary, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from genai_cli import __version__


def test_version(cli):
    r = cli("--version")
    assert r.exit_code == 0
    assert r.stdout.strip() == f"genai {__version__}"


def test_help_lists_groups(cli):
    r = cli("--help")
    assert r.exit_code == 0
    for name in (
        "config",
        "embed",
        "conv",
        "generate",
        "chat",
        "next",
        "attention",
        "imagine",
        "diffuse",
        "info",
        "toy",
    ):
        assert name in r.stdout


def test_unknown_command_is_usage_error(cli):
    r = cli("no-such-command")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "no-such-command" in r.stderr


def test_config_show_defaults_match_schema(cli):
    """configs/default.yaml and the pydantic schema hold the same defaults."""
    from genai_cli.config import default_config_path
    from genai_cli.schema import GenaiConfig

    r = cli("config", "show", "--json")
    assert r.exit_code == 0, r
    shown = json.loads(r.stdout)
    assert shown == GenaiConfig().model_dump(mode="json")
    assert yaml.safe_load(default_config_path().read_text()) == shown


def test_every_default_key_has_a_comment():
    from genai_cli.config import default_config_path

    for line in default_config_path().read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        key, _, value = stripped.partition(":")
        if value.strip():  # a leaf key (sections have nothing after the colon)
            assert "#" in value, f"default.yaml: {key} has no comment"


def test_config_layers_last_wins(cli, tmp_path, monkeypatch):
    user = tmp_path / "user.yaml"
    user.write_text("embed:\n  topn: 7\n  method: mul\n")
    monkeypatch.setenv("GENAI_CONFIG", str(user))
    extra = tmp_path / "extra.yaml"
    extra.write_text("embed:\n  topn: 3\n")
    r = cli("config", "show", "--json", "--config", str(extra))
    assert r.exit_code == 0, r
    shown = json.loads(r.stdout)["embed"]
    assert shown["topn"] == 3  # --config beats the user config
    assert shown["method"] == "mul"  # the user config beats the defaults
    assert shown["restrict"] == 300000  # the defaults fill the rest
    r = cli("config", "show")
    assert yaml.safe_load(r.stdout)["embed"]["topn"] == 7


def test_config_unknown_key_names_key_and_file(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("embed:\n  train:\n    epoch: 3\n")
    r = cli("config", "show", "--config", str(bad))
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "embed.train.epoch" in r.stderr and "unknown key" in r.stderr and str(bad) in r.stderr


def test_config_bad_value_names_key_and_file(cli, tmp_path, monkeypatch):
    user = tmp_path / "user.yaml"
    user.write_text("embed:\n  method: cubic\n")
    monkeypatch.setenv("GENAI_CONFIG", str(user))
    r = cli("config", "show")
    assert r.exit_code == 2
    assert "embed.method" in r.stderr and str(user) in r.stderr and "cubic" in r.stderr


def test_config_not_yaml(cli, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("embed: [unclosed\n")
    r = cli("config", "show", "--config", str(bad))
    assert r.exit_code == 2
    assert "not valid YAML" in r.stderr and "line" in r.stderr


def test_config_missing_file(cli, tmp_path):
    r = cli("config", "show", "--config", str(tmp_path / "nope.yaml"))
    assert r.exit_code == 2
    assert "nope.yaml" in r.stderr


def test_config_cache_sees_edits(cli, tmp_path):
    """The JSON cache of the merged config is keyed by the files' mtimes and sizes."""
    import os

    f = tmp_path / "c.yaml"
    f.write_text("embed:\n  topn: 4\n")
    assert json.loads(cli("config", "show", "--json", "-c", str(f)).stdout)["embed"]["topn"] == 4
    f.write_text("embed:\n  topn: 55\n")
    os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))
    assert json.loads(cli("config", "show", "--json", "-c", str(f)).stdout)["embed"]["topn"] == 55


def test_config_path_prints_the_file_to_edit(cli, tmp_path, monkeypatch):
    """One line on stdout: the user's config file, whether or not it exists yet."""
    import os

    r = cli("config", "path")
    assert r.exit_code == 0 and r.stdout == os.environ["GENAI_CONFIG"] + "\n" and r.stderr == "", r
    todo = tmp_path / "later" / "genai.yaml"  # $GENAI_CONFIG may name a file still to be made
    monkeypatch.setenv("GENAI_CONFIG", str(todo))
    r = cli("config", "path")
    assert r.exit_code == 0 and r.stdout == f"{todo}\n", r
    monkeypatch.delenv("GENAI_CONFIG")  # then the platform file, e.g. $XDG_CONFIG_HOME/genai/config.yaml
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    r = cli("config", "path")
    assert r.exit_code == 0 and r.stdout.strip() == str(config_file := _platform_config(tmp_path)), r
    assert not config_file.exists()


def _platform_config(tmp_path: Path) -> Path:
    import platformdirs

    if sys.platform.startswith("linux"):
        return tmp_path / "xdg" / "genai" / "config.yaml"
    return Path(platformdirs.user_config_dir("genai", appauthor=False)) / "config.yaml"


def test_config_path_works_with_an_editor(tmp_path):
    """`$EDITOR "$(genai config path)"` opens (here: creates) the user's config file."""
    import os
    import shutil

    exe = shutil.which("genai", path=str(Path(sys.executable).parent)) or shutil.which("genai")
    target = tmp_path / "my config.yaml"  # a space, as in macOS's "Application Support"
    r = subprocess.run(
        ["sh", "-c", '$EDITOR "$("$GENAI" config path)"'],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "EDITOR": "touch", "GENAI": str(exe), "GENAI_CONFIG": str(target)},
    )
    assert r.returncode == 0 and target.is_file() and r.stderr == "", r


def test_config_path_all_and_json(cli, tmp_path, monkeypatch):
    """--all: labelled lines for the user file, the defaults, each layer in force and the cache; --json: all of them."""
    import os

    from genai_cli.config import default_config_path

    extra = tmp_path / "extra.yaml"
    extra.write_text("embed:\n  topn: 3\n")
    user, cache = os.environ["GENAI_CONFIG"], os.environ["GENAI_CACHE"]
    r = cli("config", "path", "--all", "-c", str(extra))
    assert r.exit_code == 0, r
    assert r.stdout.splitlines() == [
        f"user config: {user}",
        f"defaults:    {default_config_path()}",
        f"layer:       {default_config_path()}",
        f"layer:       {user}",
        f"layer:       {extra}",
        f"cache:       {cache}",
    ]
    got = json.loads(cli("config", "path", "--json", "-c", str(extra)).stdout)
    assert got == {
        "user_config": user,
        "user_config_exists": True,
        "defaults": str(default_config_path()),
        "layers": [str(default_config_path()), user, str(extra)],
        "cache_dir": cache,
    }

    todo = tmp_path / "todo.yaml"  # not created yet: named and marked, and not a layer
    monkeypatch.setenv("GENAI_CONFIG", str(todo))
    r = cli("config", "path", "--all")
    assert r.exit_code == 0 and r.stdout.splitlines()[0] == f"user config: {todo} (not created yet)", r
    assert f"layer:       {todo}" not in r.stdout
    got = json.loads(cli("config", "path", "--json").stdout)
    assert got["user_config_exists"] is False and got["layers"] == [str(default_config_path())]

    r = cli("config", "path", "-c", str(tmp_path / "nope.yaml"))  # a bad --config is refused in every form
    assert r.exit_code == 2 and "nope.yaml" in r.stderr and r.stdout == ""


def _imported_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


HEAVY = ("torch", "transformers", "diffusers", "gensim", "accelerate", "matplotlib", "scipy", "pydantic")


def test_help_imports_nothing_heavy():
    mods = _imported_modules(
        "import sys\nsys.argv=['genai','--help']\nfrom genai_cli.app import app\n"
        "try:\n    app(prog_name='genai')\nexcept SystemExit:\n    pass"
    )
    assert not [m for m in HEAVY if m in mods]


def test_platform_dirs_match_platformdirs(monkeypatch, tmp_path):
    """genai applies the XDG rule itself on Linux (for startup time); it must agree with platformdirs."""
    import platformdirs

    from genai_cli import config

    monkeypatch.delenv("GENAI_CACHE")
    monkeypatch.delenv("GENAI_CONFIG")
    for xdg in (None, str(tmp_path / "xdg")):
        for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME"):
            if xdg is None:
                monkeypatch.delenv(var, raising=False)
            else:
                monkeypatch.setenv(var, xdg)
        assert config.cache_dir() == Path(platformdirs.user_cache_dir("genai", appauthor=False))
        assert config.user_config_file() == Path(platformdirs.user_config_dir("genai", appauthor=False)) / "config.yaml"


def test_help_shows_the_configured_defaults(cli):
    """A flag's config key is shown as its current value (tests/test_command_surface.py checks every one)."""
    for args, shown in (
        (["imagine", "--help"], "[default: 25]"),
        (["invert", "--help"], "[default: 3000]"),
        (["embed", "analogy", "--help"], "[default: 10; 1<=x<=10000]"),
    ):
        r = cli(*args)
        assert r.exit_code == 0 and shown in r.stdout and "(config:" not in r.stdout, args


@pytest.mark.parametrize(
    "args",
    [
        ("embed", "analogy", "paris", "france", "england"),
        ("toy", "render", "a red star on a blue background", "--out", "{tmp}"),
        ("imagine", "--model", "toy", "--steps", "1", "--out", "{tmp}", "a red star on a blue background"),
        ("generate", "--max-tokens", "1", "--seed", "1", "hello"),
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_a_command_reads_the_configuration_once(cli, tmp_path, monkeypatch, args):
    """However many sections a command asks for (its own, runtime ...), the layers are read once per process."""
    from genai_cli import config

    reads = []
    real = config._read
    monkeypatch.setattr(config, "_read", lambda *a: reads.append(a) or real(*a))
    monkeypatch.setattr(config, "_LOADED", {})
    r = cli(*[a.replace("{tmp}", str(tmp_path)) for a in args])
    assert r.exit_code == 0, r
    assert len(reads) == 1, reads
