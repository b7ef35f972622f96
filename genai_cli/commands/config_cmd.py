"""`genai config`: show the merged configuration and where it comes from."""

from __future__ import annotations

import typer

from genai_cli.commands.common import ConfigOpt, JsonOpt

app = typer.Typer(help="Show the merged configuration and where each layer comes from.", no_args_is_help=True, add_completion=False)


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
def path(config: ConfigOpt = None, json_out: JsonOpt = False) -> None:
    """Print the config files in force, lowest priority first, and the cache directory."""
    from genai_cli import config as cfg
    from genai_cli import console

    files = [str(p) for p in cfg.layer_files(config)]
    user = str(cfg.user_config_file())
    info = {"layers": files, "user_config": user, "cache_dir": str(cfg.cache_dir())}
    if json_out:
        console.result_json(info)
    else:
        console.result("\n".join(files))
        console.info(f"user config file: {user}")
        console.info(f"cache directory: {cfg.cache_dir()}")
