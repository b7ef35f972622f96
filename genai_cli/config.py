"""Layered, typed configuration.

Layers, last wins:

1. built-in defaults      configs/default.yaml (shipped as genai_cli.configs)
2. the user's config file $GENAI_CONFIG, else <platform config dir>/genai/config.yaml
3. --config FILE          given on the command line
4. flags                  applied by the command layer (typer has already type-checked them)

Each file layer is validated on its own (merged over the layers below it) by the pydantic
models in `schema.py`, so an error names both the key path and the file it came from.
Unknown keys are errors.

Reading YAML and importing pydantic costs more than a whole `genai embed analogy`
is allowed to take, so the merged, validated result is cached as JSON in the cache
directory, keyed by the size and mtime of every layer file and of the schema itself.
`load()` returns that plain nested dict.

Config files come from users, so reading one is bounded (README.md, "How genai behaves"):
it must be a regular UTF-8 file of at most MAX_YAML_BYTES, nested at most MAX_YAML_DEPTH
levels, and expand (aliases counted in full: "billion laughs") to at most MAX_YAML_NODES
values. These checks run while the YAML is composed, before anything deep or large is built;
`!!python/...` tags are refused by PyYAML's safe loader. `read_yaml_any` gives the same
guarded reading to other YAML inputs (kernel files).
"""

from __future__ import annotations

import json
import os
import sys
import zlib
from pathlib import Path
from typing import Any, Sequence, Union

from genai_cli import __version__
from genai_cli.errors import UsageError, shorten

# Limits on every YAML file genai reads (config files, kernel files, context examples).
MAX_YAML_BYTES = 1024 * 1024  # 1 MiB: the built-in defaults are under 10 KB
MAX_YAML_DEPTH = 32  # nesting levels of mappings/lists (a config needs 3)
MAX_YAML_NODES = 100_000  # values after expanding aliases (a config has a few hundred)


def builtin_config_dir() -> Path:
    import genai_cli.configs

    return Path(genai_cli.configs.__file__).parent


def default_config_path() -> Path:
    return builtin_config_dir() / "default.yaml"


def user_config_file() -> Path:
    """Where the user config file is looked for: $GENAI_CONFIG, else the platform config dir."""
    env = os.environ.get("GENAI_CONFIG")
    return Path(env).expanduser() if env else _platform_dir("config") / "config.yaml"


def user_config_path() -> Path | None:
    """$GENAI_CONFIG if set (it must exist), else the platform config file if it exists."""
    env = os.environ.get("GENAI_CONFIG")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise UsageError(
                f"GENAI_CONFIG points to {path}, which is not a regular file",
                hint="create it, or unset GENAI_CONFIG",
            )
        return path
    path = _platform_dir("config") / "config.yaml"
    return path if path.is_file() else None


def cache_dir() -> Path:
    """$GENAI_CACHE, else the platform cache dir (~/.cache/genai on Linux)."""
    env = os.environ.get("GENAI_CACHE")
    if env:
        return Path(env).expanduser()
    return _platform_dir("cache")


def _platform_dir(kind: str) -> Path:
    """platformdirs' user config / cache dir for genai. On Linux its rule is plain XDG, applied
    here directly: importing platformdirs is ~2% of a whole cached `genai embed` query."""
    if sys.platform.startswith("linux"):
        var, default = ("XDG_CONFIG_HOME", "~/.config") if kind == "config" else ("XDG_CACHE_HOME", "~/.cache")
        base = os.environ.get(var, "").strip()
        return Path(base if os.path.isabs(base) else default).expanduser() / "genai"
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")("genai", appauthor=False))


ConfigFiles = Union[Path, str, Sequence[Union[Path, str]], None]


def layer_files(config_file: ConfigFiles = None) -> list[Path]:
    """The config files in force, lowest priority first. `config_file` is --config's file, or a list
    of files layered in order (a command's preset, then --config)."""
    files = [default_config_path()]
    user = user_config_path()
    if user is not None:
        files.append(user)
    extra = [config_file] if isinstance(config_file, (str, Path)) else list(config_file or [])
    for given in extra:
        path = Path(given).expanduser()
        try:
            ok = path.is_file()
        except OSError:  # a name too long for the file system, ...
            ok = False
        if not ok:
            _refuse_config_path(path)
        files.append(path)
    return files


def _refuse_config_path(path: Path) -> None:
    """Why `path` (not a regular file) cannot be a config file, as a UsageError naming it."""
    from genai_cli.files import require_regular_file

    try:
        exists = os.path.lexists(path)
    except OSError:
        exists = False
    if exists:
        require_regular_file(path, "config")  # raises for a folder, a FIFO, a device, a dangling link
    shown = str(path) if len(str(path)) <= 200 else shorten(str(path), 200)
    raise UsageError(f"config file not found: {shown}", hint="check the path given to --config")


_LOADED: dict[str, str] = {}  # cache key -> the merged configuration as JSON: read once per process


def load(config_file: ConfigFiles = None) -> dict[str, Any]:
    """The merged, validated configuration as a plain nested dict (a fresh copy: callers may change it).

    A command reads it once: the first call in a process reads it (`_read`), later calls with the same,
    unchanged layer files (`section` for another section) reuse what was read."""
    files = layer_files(config_file)
    key = _cache_key(files)
    if key not in _LOADED:
        _LOADED[key] = json.dumps(_read(files, key))
    return json.loads(_LOADED[key])


def _read(files: list[Path], key: str) -> dict[str, Any]:
    """The merged configuration from the cache file for `key`, else merged and validated anew (and cached)."""
    cache_file = cache_dir() / "config" / f"{zlib.crc32(key.encode()):08x}.json"
    try:
        cached = json.loads(cache_file.read_text())
        if cached.get("key") == key and isinstance(cached.get("config"), dict):  # the key itself decides
            return cached["config"]
    except (OSError, ValueError, AttributeError, TypeError, KeyError, RecursionError):
        pass  # missing, stale or damaged: rebuilt below
    merged = _merge_and_validate(files).model_dump(mode="json")
    _write_cache(cache_file, {"key": key, "config": merged})
    return merged


def section(
    name: str, config_file: ConfigFiles = None, *, flag_names: dict[str, str] | None = None, **flags: Any
) -> dict[str, Any]:
    """One section ("invert", or a nested one: "image.diffuse") of the merged config, with the flags that were
    given (not None) laid on top and validated by the same schema model as the files: a bad flag is a UsageError
    naming the flag (`--width 13: ...`), as a bad file value names the file and key (`FILE: image.width: ...`).

    The file layers come from the cache (`load`); pydantic is imported only when a flag was given, so a
    command run with no flags pays nothing for validation. `flag_names` maps a key to its flag where that is
    not `--key-with-dashes`. Returns a plain dict with the section's keys."""
    return section_of(load(config_file), name, flag_names=flag_names, **flags)


def section_of(
    merged: dict[str, Any], name: str, *, flag_names: dict[str, str] | None = None, **flags: Any
) -> dict[str, Any]:
    """`section` of an already loaded configuration (`load`'s dict): a command that needs several sections
    loads the configuration once."""
    values: Any = merged
    for part in name.split("."):
        values = values[part]
    values = dict(values)
    given = {k: _plain(v) for k, v in flags.items() if v is not None}
    if not given:
        return values
    unknown = set(given) - set(values)
    if unknown:  # a programming error in a command, not a user's
        raise KeyError(f"config section {name} has no key(s) {sorted(unknown)}")
    values.update(given)
    return validate_section(name, values, {k: (flag_names or {}).get(k, "--" + k.replace("_", "-")) for k in given})


def _plain(value: Any) -> Any:
    """A flag's value as a config file would hold it: a path as text, a tuple as a list."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def validate_section(name: str, values: dict[str, Any], flags: dict[str, str]) -> dict[str, Any]:
    """`values` checked by the schema model of section `name` -> the validated plain dict. A bad value is a
    UsageError naming its flag (`flags`: key -> flag name), or `name.key` when it was not given by a flag."""
    from pydantic import ValidationError

    model = section_model(name)
    try:
        return model.model_validate(values).model_dump(mode="json")
    except ValidationError as e:
        first = e.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else ""
        value = values.get(key, first.get("input"))
        shown = flags.get(key) or f"{name}.{key}"
        raise UsageError(f"{shown} {shorten(value)}: {describe_error(model, first)}") from None


def section_model(name: str):
    """The schema model of section `name` ("image.diffuse" -> DiffuseConfig)."""
    from genai_cli.schema import GenaiConfig

    model = GenaiConfig
    for part in name.split("."):
        model = model.model_fields[part].annotation
    return model


def limits(name: str, key: str) -> tuple[float | None, float | None]:
    """(smallest, largest) allowed for section `name`'s `key`, from the schema (None: no bound that side)."""
    low = high = None
    for m in section_model(name).model_fields[key].metadata:
        low = getattr(m, "ge", None) if getattr(m, "ge", None) is not None else low
        high = getattr(m, "le", None) if getattr(m, "le", None) is not None else high
    return low, high


def describe_error(model: Any, error: dict[str, Any]) -> str:
    """A pydantic error as a plain limit: "must be a whole number from 1 to 100000", from the field's own limits."""
    key = error["loc"][0] if error["loc"] else None
    field = model.model_fields.get(key) if isinstance(key, str) else None
    kind = error["type"]
    if field is None or kind not in _RANGE_ERRORS:
        return error["msg"][:1].lower() + error["msg"][1:]
    limits = {}
    for m in field.metadata:
        for attr in ("ge", "gt", "le", "lt", "multiple_of"):
            if getattr(m, attr, None) is not None:
                limits[attr] = getattr(m, attr)
    whole = "int" in str(field.annotation) and "float" not in str(field.annotation)
    what = "a whole number" if whole else "a finite number" if kind == "finite_number" else "a number"
    if whole:  # 0 <= x < 2**32 reads better as "from 0 to 4294967295"
        if "lt" in limits:
            limits["le"] = limits.pop("lt") - 1
        if "gt" in limits:
            limits["ge"] = limits.pop("gt") + 1
    if "multiple_of" in limits:
        what = f"a multiple of {limits['multiple_of']}"
    low = (
        f"from {limits['ge']}"
        if "ge" in limits and "le" in limits
        else f"at least {limits['ge']}"
        if "ge" in limits
        else f"above {limits['gt']}"
        if "gt" in limits
        else ""
    )
    high = (
        f"to {limits['le']}"
        if "ge" in limits and "le" in limits
        else f"at most {limits['le']}"
        if "le" in limits
        else f"below {limits['lt']}"
        if "lt" in limits
        else ""
    )
    joiner = " and " if low.startswith("above") and high else " "
    return f"must be {what} {low}{joiner}{high}".rstrip()


_RANGE_ERRORS = {
    "greater_than",
    "greater_than_equal",
    "less_than",
    "less_than_equal",
    "multiple_of",
    "int_type",
    "float_type",
    "finite_number",
    "int_from_float",
}


# --- internals ------------------------------------------------------------------------


def _cache_key(files: list[Path]) -> str:
    """What the merged config depends on: genai's version, and each file's path, size and mtime."""
    schema = Path(__file__).with_name("schema.py")
    parts: list[Any] = [__version__]
    for path in [schema, *files]:
        st = path.stat()
        parts.append([str(path.resolve()), st.st_size, st.st_mtime_ns])
    return json.dumps(parts)


def _write_cache(cache_file: Path, entry: dict[str, Any]) -> None:
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache_file.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(entry))
        os.replace(tmp, cache_file)
    except OSError:
        pass  # a read-only cache only costs speed


def read_yaml(path: Path) -> dict[str, Any]:
    """A config-style YAML file (a mapping, or empty), read with the limits above."""
    data = read_yaml_any(path, "config")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a config file must be a mapping of sections, not {type(data).__name__}")
    return data


def read_yaml_any(path: Path, what: str = "YAML") -> Any:
    """Any YAML document from a user file, bounded by MAX_YAML_BYTES / _DEPTH / _NODES.
    `what` names the kind of file in messages ("config", "kernel"). Every refusal is a
    UsageError (exit 2) that names the file."""
    from genai_cli.files import require_regular_file

    path = Path(path)
    require_regular_file(path, what)  # a folder or a FIFO (which would block forever) is refused here
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_YAML_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read {what} file {path}: {e.strerror}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise UsageError(
            f"{path}: {what} file is larger than {MAX_YAML_BYTES // 1024} KiB",
            hint="a YAML file for genai is a few KB; is this the right file?",
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: {what} file is not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x})") from None
    return parse_yaml(text, str(path))


class _YamlTooLarge(Exception):
    pass


def parse_yaml(text: str, source: str) -> Any:
    """yaml.safe_load with the depth and expanded-size limits checked while composing."""
    import yaml

    try:
        loader = _limited_loader_class()(text)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except _YamlTooLarge as e:
        raise UsageError(
            f"{source}: {e}", hint="a YAML file for genai is a few levels deep, without alias chains"
        ) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = _show_key(getattr(e, "problem", None) or e)  # a tag or alias name from the file can be long
        raise UsageError(f"{source}: not valid YAML{where}: {problem}") from None


_LOADER = None


def _limited_loader_class():
    """A SafeLoader that counts nesting depth and expanded values as nodes are composed
    (PyYAML's composer recurses once per level; its parser does not, so the count comes first)."""
    global _LOADER
    if _LOADER is not None:
        return _LOADER
    import yaml

    class LimitedSafeLoader(yaml.SafeLoader):
        def __init__(self, stream):
            super().__init__(stream)
            self._depth = 0
            self._nodes = 0
            self._sizes: dict[int, int] = {}  # id(anchored node) -> values under it, aliases expanded

        def _count(self, n: int) -> None:
            self._nodes += n
            if self._nodes > MAX_YAML_NODES:
                raise _YamlTooLarge(f"expands to more than {MAX_YAML_NODES} values (aliases counted in full)")

        def compose_node(self, parent, index):
            if self.check_event(yaml.AliasEvent):
                node = self.anchors.get(self.peek_event().anchor)
                if node is not None:
                    self._count(self._sizes.get(id(node), 1))
                return super().compose_node(parent, index)
            self._depth += 1
            if self._depth > MAX_YAML_DEPTH:
                mark = self.peek_event().start_mark
                raise _YamlTooLarge(f"nested more than {MAX_YAML_DEPTH} levels deep (line {mark.line + 1})")
            before = self._nodes
            self._count(1)
            try:
                node = super().compose_node(parent, index)
            finally:
                self._depth -= 1
            self._sizes[id(node)] = self._nodes - before
            return node

    _LOADER = LimitedSafeLoader
    return _LOADER


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def _show_key(part: Any) -> str:
    """A key from a file as it may be printed: as is when short and printable, else escaped and shortened."""
    text = str(part)
    return text if text.isprintable() and len(text) <= 200 else shorten(text, 200)


def _merge_and_validate(files: list[Path]):
    from pydantic import ValidationError

    from genai_cli.schema import GenaiConfig

    merged: dict[str, Any] = {}
    model = None
    for path in files:
        merged = deep_merge(merged, read_yaml(path))
        try:
            model = GenaiConfig.model_validate(merged)
        except ValidationError as e:
            first = e.errors()[0]
            key = ".".join(_show_key(p) for p in first["loc"])
            msg = first["msg"]
            if first["type"] == "extra_forbidden":
                msg = "unknown key"
            elif not isinstance(first.get("input"), (dict, list)):
                msg += f" (got {shorten(first.get('input'))})"  # a 500 KB value is not echoed whole
            extra = f" ({e.error_count() - 1} more)" if e.error_count() > 1 else ""
            raise UsageError(
                f"{path}: {key}: {msg}{extra}",
                hint="`genai config show` prints every key with its current value",
            ) from None
    assert model is not None
    return model
