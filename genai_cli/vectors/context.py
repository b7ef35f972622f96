"""The talk's "tezgüino" demonstration: you know a word by the company it keeps.

Nobody knows what tezgüino is, yet after four sentences with a blank,

    (1) A bottle of ___ is on the table.     (2) Everybody likes ___.
    (3) Don't have ___ before you drive.     (4) We make ___ out of corn.

and which other words fit the same blanks, it is plainly something like wine. Each word
becomes a vector of the contexts it fits (the word x context matrix); words with similar
vectors have similar meanings. The example and its matrix are from Jurafsky & Martin,
Speech and Language Processing (3rd ed.), chapter 6, after Nida (1975) and Lin (1998).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from genai_cli.errors import UsageError, shorten

TALK_EXAMPLE: dict[str, Any] = {
    "target": "tezgüino",
    "contexts": [
        "A bottle of ___ is on the table.",
        "Everybody likes ___.",
        "Don't have ___ before you drive.",
        "We make ___ out of corn.",
    ],
    "words": {
        "tezgüino": [1, 1, 1, 1],
        "loud": [0, 0, 0, 0],
        "motor oil": [1, 0, 0, 0],
        "tortillas": [0, 1, 0, 1],
        "choices": [0, 1, 0, 0],
        "wine": [1, 1, 1, 0],
    },
}


def load_example(path: Path | None) -> dict[str, Any]:
    """The built-in example, or a YAML file with the same keys (target optional), checked."""
    if path is None:
        return TALK_EXAMPLE
    from genai_cli.config import read_yaml

    data = read_yaml(Path(path)) if Path(path).is_file() else None
    if data is None:
        raise UsageError(f"context file not found: {path}")
    return validate(data, str(path))


def validate(data: dict[str, Any], where: str = "the example") -> dict[str, Any]:
    from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

    class Example(BaseModel):
        model_config = ConfigDict(extra="forbid")
        target: str | None = None
        contexts: list[str]
        words: dict[str, list[float]]

        @field_validator("contexts")
        @classmethod
        def _has_contexts(cls, v: list[str]) -> list[str]:
            if not v:
                raise ValueError("give at least one context sentence")
            return v

        @model_validator(mode="after")
        def _rows_fit(self) -> "Example":
            if len(self.words) < 2:
                raise ValueError("give at least two words")
            for w, row in self.words.items():
                if len(row) != len(self.contexts):
                    raise ValueError(f"word {w!r} has {len(row)} values for {len(self.contexts)} contexts")
            if self.target is not None and self.target not in self.words:
                raise ValueError(f"target {self.target!r} is not one of the words")
            return self

    try:
        return Example.model_validate(data).model_dump()
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        raise UsageError(
            f"{where}: {key}: {first['msg']}", hint="see `genai embed context --help` for the file's shape"
        ) from None


def analyse(example: dict[str, Any], word: str | None = None) -> dict[str, Any]:
    """The matrix, and every other word ranked by the cosine of its context vector to the target's."""
    words = list(example["words"])
    matrix = np.asarray([example["words"][w] for w in words], dtype=np.float64)  # [n_words, n_contexts]
    target = word or example.get("target") or words[0]
    if target not in example["words"]:
        raise UsageError(f"unknown word {shorten(target)} in this example", hint=f"choose one of: {', '.join(words)}")
    t = matrix[words.index(target)]
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(t) or 1.0)
    cos = np.divide(matrix @ t, norms, out=np.zeros(len(words)), where=norms > 0)
    ranked = sorted((i for i in range(len(words)) if words[i] != target), key=lambda i: -cos[i])
    return {
        "target": target,
        "contexts": example["contexts"],
        "words": words,
        "matrix": matrix.tolist(),
        "similar": [{"word": words[i], "cosine": round(float(cos[i]), 6)} for i in ranked],
    }
