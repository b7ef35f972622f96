"""`genai embed`: word vectors and their arithmetic."""

from __future__ import annotations

import typer

app = typer.Typer(help="Word vectors: analogies, neighbours, evaluation, plots, training.", no_args_is_help=True)
