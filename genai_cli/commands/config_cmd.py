"""`genai config`: show the merged configuration and where it comes from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from genai_cli.commands.common import ConfigOpt, JsonOpt

app = typer.Typer(
    help="Show the merged configuration and where each layer comes from.", no_args_is_help=True, add_completion=False
)


@app.command("show")
def show(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Print the merged configuration (defaults < user config < --config) as YAML or JSON."""
    from genai_cli import config as cfg
    from genai_cli import console

    merged = cfg.load(config)
    if json_out:
        console.result_json(merged)
        return
    import yaml

    console.result(yaml.safe_dump(merged, sort_keys=False).rstrip())


@app.command("path")
def path(
    config: ConfigOpt = None,
    all_paths: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Also the built-in defaults, each config file in force and the cache directory, "
            "one labelled line each.",
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Print the path of your config file, the one to edit (it may not exist yet): $EDITOR "$(genai config path)"."""
    from genai_cli import config as cfg
    from genai_cli import console

    user = cfg.user_config_file()  # $GENAI_CONFIG, or the platform file; printed even before it exists
    if user.is_file() or not os.environ.get("GENAI_CONFIG"):
        layers = cfg.layer_files(config)  # lowest priority first
    else:  # $GENAI_CONFIG names a file still to be made (other commands refuse to run until it exists)
        from genai_cli.files import require_regular_file

        layers = [cfg.default_config_path()]
        if config is not None:
            layers.append(require_regular_file(Path(config).expanduser(), "config file"))
    if not (all_paths or json_out):
        console.result(str(user))
        return
    info = {
        "user_config": str(user),
        "user_config_exists": user.is_file(),
        "defaults": str(cfg.default_config_path()),
        "layers": [str(p) for p in layers],
        "cache_dir": str(cfg.cache_dir()),
    }
    if json_out:
        console.result_json(info)
        return
    console.result(f"user config: {user}" + ("" if user.is_file() else " (not created yet)"))
    console.result(f"defaults:    {info['defaults']}")
    for p in layers:
        console.result(f"layer:       {p}")
    console.result(f"cache:       {info['cache_dir']}")
