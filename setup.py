"""The package list: every genai_cli* package found on disk, plus genai_cli.configs, which lives in ./configs
(pyproject.toml maps it there). setuptools' `packages.find` cannot see a package that package-dir moves."""

from setuptools import find_packages, setup

setup(packages=find_packages(include=["genai_cli*"]) + ["genai_cli.configs"])
