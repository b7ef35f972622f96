"""Built-in YAML configuration, installed as the package `genai_cli.configs`."""
