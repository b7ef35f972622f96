"""Thin Typer layers: parse flags, build config, call the core, render the result."""
