"""Hostile config files: every payload is built here, refused with exit 2 and one line naming the file
(and the key where there is one), and leaves nothing behind: no canary, no cache entry, no traceback."""

from __future__ import annotations

import json
import math
import os
import typing

import pytest

from genai_cli import config
from tests.hostile.conftest import assert_refused


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh, empty config cache for the test, so "nothing cached" can be checked."""
    path = tmp_path / "cache"
    monkeypatch.setenv("GENAI_CACHE", str(path))
    return path


def cached_files(cache):
    return sorted(p.name for p in cache.rglob("*") if p.is_file()) if cache.exists() else []


def refused(cli, cache, path, *names):
    r = cli("config", "show", "--json", "--config", str(path))
    line = assert_refused(r, str(path), *names)
    assert cached_files(cache) == [], "a refused config must not be cached"
    return line


# --- code execution and bombs -----------------------------------------------------------


@pytest.mark.parametrize(
    "tag",
    [
        "!!python/object/apply:os.system",
        "!!python/object/new:os.system",
        "!!python/name:os.system",
    ],
)
def test_python_tags_are_refused_and_run_nothing(cli, cache, tmp_path, canary, tag):
    f = tmp_path / "evil.yaml"
    f.write_text(f'embed:\n  vectors: {tag} ["touch {canary}"]\n')
    line = refused(cli, cache, f)
    assert "python" in line


def test_billion_laughs_alias_bomb_is_refused(cli, cache, tmp_path):
    """Nine levels of nine aliases: 9**9 (387 million) strings once expanded."""
    items = ["&a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    items += [f"&{c} [{', '.join(['*' + p] * 9)}]" for p, c in zip("abcdefgh", "bcdefghi")]
    f = tmp_path / "laughs.yaml"
    f.write_text("text:\n  stop: [" + ", ".join(items) + "]\n")
    line = refused(cli, cache, f)
    assert f"more than {config.MAX_YAML_NODES} values" in line


def test_merge_key_bomb_is_refused(cli, cache, tmp_path):
    """`<<:` merges copy the merged mapping's entries: nine of nine per level grows exponentially too."""
    text = "a: &a {k0: 1, k1: 1, k2: 1, k3: 1, k4: 1, k5: 1, k6: 1, k7: 1, k8: 1}\n"
    for p, c in zip("abcdefgh", "bcdefghi"):
        text += f"{c}: &{c} {{<<: [{', '.join(['*' + p] * 9)}]}}\n"
    f = tmp_path / "merge.yaml"
    f.write_text(text)
    refused(cli, cache, f, "values")


@pytest.mark.parametrize("style", ["yaml-flow", "yaml-block", "json"])
def test_20000_deep_nesting_is_refused_before_parsing_deeply(cli, cache, tmp_path, style):
    depth = 20_000
    if style == "yaml-flow":
        text = "image:\n  embeddings: " + "[" * depth + "]" * depth + "\n"
    elif style == "yaml-block":  # "- - - - ..." is a list nested once per dash
        text = "image:\n  embeddings:\n    " + "- " * depth + "x\n"
    else:
        text = '{"image": {"embeddings": ' + "[" * depth + "]" * depth + "}}"
    f = tmp_path / f"deep-{style}.yaml"
    f.write_text(text)
    line = refused(cli, cache, f)
    assert f"nested more than {config.MAX_YAML_DEPTH} levels" in line


def test_nesting_at_the_limit_is_parsed():
    """The limit is a limit, not an off-by-one: MAX_YAML_DEPTH levels are fine."""
    d = config.MAX_YAML_DEPTH
    assert config.parse_yaml("[" * d + "]" * d, "t") == json.loads("[" * d + "]" * d)
    with pytest.raises(config.UsageError, match="nested more than"):
        config.parse_yaml("[" * (d + 1) + "]" * (d + 1), "t")


def test_oversized_config_file_is_refused(cli, cache, tmp_path):
    f = tmp_path / "huge.yaml"
    f.write_text("# padding\n" * (config.MAX_YAML_BYTES // 10 + 1) + "embed:\n  topn: 3\n")
    assert f.stat().st_size > config.MAX_YAML_BYTES
    refused(cli, cache, f, "larger than")


# --- not a text file --------------------------------------------------------------------


def test_binary_config_is_refused(cli, cache, tmp_path):
    f = tmp_path / "config.yaml"
    f.write_bytes(bytes(range(256)) * 4)
    refused(cli, cache, f, "not UTF-8")


def test_folder_as_config_is_refused(cli, cache, tmp_path):
    d = tmp_path / "a-folder.yaml"
    d.mkdir()
    refused(cli, cache, d, "folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_as_config_is_refused_without_blocking(cli, cache, tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    refused(cli, cache, fifo, "not a regular file")


def test_fifo_as_user_config_is_refused(cli, cache, tmp_path, monkeypatch):
    fifo = tmp_path / "user.yaml"
    os.mkfifo(fifo)
    monkeypatch.setenv("GENAI_CONFIG", str(fifo))
    assert_refused(cli("config", "show"), str(fifo), "GENAI_CONFIG")


# --- values: booleans are not counts, floats are finite, file values are named by key --------


@pytest.mark.parametrize(
    "key", ["embed.topn", "conv.stride", "conv.padding", "image.steps", "image.seed", "text.max_tokens", "runtime.seed"]
)
def test_a_boolean_is_not_a_count(cli, cache, tmp_path, key):
    section, name = key.split(".")
    f = tmp_path / "bool.yaml"
    f.write_text(f"{section}:\n  {name}: true\n")
    refused(cli, cache, f, key)


@pytest.mark.parametrize(
    "key, value",
    [
        ("image.guidance", ".nan"),
        ("image.guidance", "nan"),
        ("text.temperature", ".inf"),
        ("text.top_p", "-.inf"),
        ("invert.lr", ".NaN"),
    ],
)
def test_non_finite_floats_are_refused(cli, cache, tmp_path, key, value):
    section, name = key.split(".")
    f = tmp_path / "nan.yaml"
    f.write_text(f"{section}:\n  {name}: {value}\n")
    refused(cli, cache, f, key)


def test_width_from_a_file_is_named_by_file_and_key(cli, cache, tmp_path):
    f = tmp_path / "w.yaml"
    f.write_text("image:\n  width: 100\n")
    line = refused(cli, cache, f, "image.width", "multiple of 8", "100")
    assert "--width" not in line


def test_conv_padding_from_a_file_is_named_by_file_and_key(cli, cache, tmp_path):
    f = tmp_path / "p.yaml"
    f.write_text("conv:\n  padding: 100000\n")
    refused(cli, cache, f, "conv.padding", "100000")


def _leaf_fields(model, prefix=""):
    """(key path, annotation) of every leaf field of the schema, sections recursed into."""
    from pydantic import BaseModel

    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            yield from _leaf_fields(ann, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", ann


def _kinds(ann) -> set:
    args = typing.get_args(ann)
    return {a for a in args if a in (int, float)} if args else ({ann} & {int, float})


def _nested(key: str, value):
    out: dict = {}
    node = out
    *path, leaf = key.split(".")
    for part in path:
        node = node.setdefault(part, {})
    node[leaf] = value
    return out


def test_every_number_field_of_the_schema_refuses_bools_and_non_finite_values():
    """Walks the whole schema, so a field added later by anyone is covered too."""
    from pydantic import ValidationError

    from genai_cli.schema import GenaiConfig

    checked = {int: 0, float: 0}
    for key, ann in _leaf_fields(GenaiConfig):
        kinds = _kinds(ann)
        if not kinds:
            continue
        bad = [True, False] + ([math.nan, math.inf, -math.inf] if float in kinds else [])
        for value in bad:
            with pytest.raises(ValidationError) as e:
                GenaiConfig.model_validate(_nested(key, value))
            assert ".".join(map(str, e.value.errors()[0]["loc"])).startswith(key), (key, value)
        for kind in kinds:
            checked[kind] += 1
    assert checked[int] >= 30 and checked[float] >= 5, checked  # the walk really saw the schema's numbers


# --- the cache ----------------------------------------------------------------------------


def test_config_works_with_an_unwritable_cache(cli, tmp_path, monkeypatch):
    """The cache is only speed: a cache path that cannot be created (under a plain file, which even
    root cannot write into) still gives the right config, every time, and leaves no temp files."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("GENAI_CACHE", str(blocker / "cache"))
    f = tmp_path / "c.yaml"
    f.write_text("embed:\n  topn: 4\n")
    for _ in range(2):
        r = cli("config", "show", "--json", "-c", str(f))
        assert r.exit_code == 0, r
        assert json.loads(r.stdout)["embed"]["topn"] == 4
        assert r.stderr == ""
    assert blocker.read_text() == "x"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml", "not-a-folder", "user-config.yaml"]


def test_config_works_with_a_read_only_cache_folder(cli, tmp_path, monkeypatch):
    ro = tmp_path / "ro-cache"
    ro.mkdir()
    ro.chmod(0o555)
    monkeypatch.setenv("GENAI_CACHE", str(ro))
    try:
        r = cli("config", "show", "--json")
        assert r.exit_code == 0, r
        assert json.loads(r.stdout)["embed"]["topn"] == 10
    finally:
        ro.chmod(0o755)


@pytest.mark.parametrize("payload", ["[" * 20_000 + "]" * 20_000, "\x00\xff garbage", '{"key": 1}', "[]"])
def test_a_damaged_cache_entry_is_rebuilt(cli, cache, tmp_path, payload):
    f = tmp_path / "c.yaml"
    f.write_text("embed:\n  topn: 6\n")
    assert cli("config", "show", "--json", "-c", str(f)).exit_code == 0
    (entry,) = list((cache / "config").glob("*.json"))
    entry.write_text(payload)
    r = cli("config", "show", "--json", "-c", str(f))
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["embed"]["topn"] == 6
    assert json.loads(entry.read_text())["config"]["embed"]["topn"] == 6  # rewritten


# --- what the error line echoes from the file ---------------------------------------------------


def test_control_characters_in_a_key_are_escaped(cli, cache, tmp_path):
    f = tmp_path / "ctl.yaml"
    f.write_text('embed:\n  "bad\\nkey\\e[31mRED": 1\n')  # YAML escapes: a newline and an ESC in the key
    line = refused(cli, cache, f, "embed.", "unknown key", "\\x1b[31m")
    assert "\x1b" not in line


def test_a_huge_value_is_not_echoed_whole(cli, cache, tmp_path):
    f = tmp_path / "long.yaml"
    f.write_text('embed:\n  topn: "' + "a" * 500_000 + '"\n')
    line = refused(cli, cache, f, "embed.topn", "500000 characters")
    assert len(line) < 400


def test_a_huge_tag_is_not_echoed_whole(cli, cache, tmp_path, canary):
    f = tmp_path / "tag.yaml"
    f.write_text(f"embed:\n  vectors: !!python/object/apply:os.system{'x' * 100_000} ['touch {canary}']\n")
    line = refused(cli, cache, f, "not valid YAML")
    assert len(line) < 500


def test_a_huge_config_path_is_refused_and_not_echoed_whole(cli, cache):
    r = cli("config", "show", "--config", "c" * 100_000 + ".yaml")
    line = assert_refused(r, "config file not found", "100005 characters")
    assert len(line) < 400


# --- flags over the files: config.section validates them with the same schema ---------------------------------


def test_a_bad_flag_is_named_by_its_flag_and_a_bad_file_value_by_file_and_key(cache, tmp_path):
    from genai_cli.errors import UsageError

    with pytest.raises(UsageError) as flag:
        config.section("image", None, width=13)
    assert flag.value.message == "--width 13: must be a multiple of 8 from 8 to 8192"
    bad = tmp_path / "bad.yaml"
    bad.write_text("image:\n  width: 13\n")
    with pytest.raises(UsageError) as file:
        config.section("image", bad)
    assert file.value.message.startswith(f"{bad}: image.width: ")
    with pytest.raises(UsageError) as renamed:  # a flag whose name is not the key's
        config.section("embed.train", None, vector_size=0, flag_names={"vector_size": "--size"})
    assert renamed.value.message == "--size 0: must be a whole number from 1 to 10000"


def test_section_returns_the_plain_dict_with_flags_on_top(cache, tmp_path):
    plain = config.section("image.diffuse")
    assert plain == config.load()["image"]["diffuse"]
    given = config.section("image.diffuse", None, n=5, out=tmp_path, steps=None)  # None: not given
    assert given == {**plain, "n": 5, "out": str(tmp_path)}
    assert config.section("invert", None, lr=1)["lr"] == 1.0  # a whole number is a float's value too
    for name, kw, shown in (
        ("invert", {"steps": 0}, "--steps 0: must be a whole number from 1 to 100000"),
        ("invert", {"lr": float("nan")}, "--lr nan: must be a finite number above 0 and at most 10"),
        ("invert", {"seed": 2**32}, "--seed 4294967296: must be a whole number from 0 to 4294967295"),
        ("invert", {"property": "x"}, "--property 'x': input should be 'object' or 'style'"),
        ("toy", {"n": True}, "--n True: must be a whole number from 1 to 100000"),
    ):
        with pytest.raises(Exception) as e:
            config.section(name, None, **kw)
        assert getattr(e.value, "message", None) == shown and e.value.exit_code == 2


def test_section_without_flags_does_not_import_pydantic(cache):
    import subprocess
    import sys

    code = (
        "import sys; from genai_cli import config; config.load(); sys.modules.pop('pydantic', None);"
        "[sys.modules.pop(m) for m in list(sys.modules) if m.startswith(('pydantic', 'genai_cli.schema'))];"
        "config.section('embed', None, topn=None); print('pydantic' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GENAI_CACHE": str(cache)},
    )
    assert out.stdout.strip() == "False"
