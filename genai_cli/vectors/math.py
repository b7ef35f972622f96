"""Word arithmetic with any number of terms: `king - man + woman`, `0.5*paris + rome - italy`.

    parse("king - man + woman")     -> [Term(+1, "king"), Term(-1, "man"), Term(+1, "woman")]
    nearest(vs, terms, topn)        -> the words nearest to the result, as gensim ranks them
    explain(vs, terms)              -> the raw vectors, their weighted sum, the words nearest to it

Scoring is gensim's `most_similar(positive=[...], negative=[...])` (3CosAdd generalised):
each term's *unit* vector times its weight (+1, -1, or the number before `*`) is summed, and
every word is ranked by its cosine to that sum. Input words are not answers unless asked for.

The grammar, in words: terms joined by `+` and `-`; a term is a word, optionally preceded by
a weight and `*` (`0.5*paris`, `0.5 * paris`); the first term may carry a sign. A `+` or `-`
that starts a chunk (`-man`) or stands alone is an operator; inside a word it is part of the
word (`well-known`, `c++`), so put spaces around operators between words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from genai_cli.errors import UsageError, shorten
from genai_cli.vectors.ops import Neighbours, _top, nearest_to_vector
from genai_cli.vectors.store import Vectors

MAX_TERMS = 100  # words in one expression at most (gensim has no limit; 100 is far beyond any analogy)
MAX_CHARS = 10_000  # characters in one expression at most, checked before parsing
USAGE = 'genai embed math "king - man + woman"   (words joined by + and -, weights as 0.5*paris)'


@dataclass(frozen=True)
class Term:
    weight: float  # +1 / -1 for plain terms; the signed number of `0.5*paris`
    word: str
    weighted: bool = False  # written with an explicit `N*`

    def shown(self, first: bool) -> str:
        """`+ 0.5*paris`, `- man`, `king` (the first term without a `+`)."""
        body = f"{abs(self.weight):g}*{self.word}" if self.weighted else self.word
        if first:
            return f"-{body}" if self.weight < 0 else body
        return f"{'-' if self.weight < 0 else '+'} {body}"


def expression_text(terms: list[Term]) -> str:
    return " ".join(t.shown(i == 0) for i, t in enumerate(terms))


def _tokens(text: str) -> list[str]:
    """Split into words, weights, and the operators `+`, `-`, `*`.

    `-man` -> `-`, `man`; `0.5*paris` -> `0.5`, `*`, `paris`; `well-known` and `c++` stay whole."""
    out: list[str] = []
    for chunk in text.split():
        while chunk[:1] in ("+", "-"):  # leading signs are operators
            out.append(chunk[0])
            chunk = chunk[1:]
        for k, part in enumerate(chunk.split("*") if chunk else []):
            if k:
                out.append("*")
            if part:
                out.append(part)
    return out


def parse(text: str) -> list[Term]:
    """The terms of an expression, or a UsageError naming what is wrong."""
    if len(text) > MAX_CHARS:
        raise UsageError(f"the expression is {len(text):,} characters; at most {MAX_CHARS:,} are allowed", hint=USAGE)
    toks = _tokens(text)
    if not toks:
        raise UsageError("empty expression: no words given", hint=USAGE)
    terms: list[Term] = []
    sign, op = 1.0, None  # the sign of the next term, and the operator that set it
    i = 0
    while i < len(toks):
        tok = toks[i]
        if tok in ("+", "-"):
            if op is not None:
                raise UsageError(f"two operators in a row ({op!r} then {tok!r}) in {shorten(text)}", hint=USAGE)
            op, sign = tok, (-1.0 if tok == "-" else 1.0)
            i += 1
            continue
        if tok == "*":
            raise UsageError(f"'*' must join a number and a word (as in 0.5*paris) in {shorten(text)}", hint=USAGE)
        if terms and op is None:
            raise UsageError(
                f"missing + or - before {shorten(tok)} in {shorten(text)}", hint="join the words with + or -"
            )
        weight, weighted = 1.0, False
        if i + 1 < len(toks) and toks[i + 1] == "*":  # a weight: NUMBER * WORD
            weight, weighted = _weight(tok, text), True
            if i + 2 >= len(toks) or toks[i + 2] in ("+", "-", "*"):
                raise UsageError(f"the weight {shorten(tok)} has no word after its '*' in {shorten(text)}", hint=USAGE)
            i += 2
            tok = toks[i]
        terms.append(Term(sign * weight, tok, weighted))
        if len(terms) > MAX_TERMS:
            raise UsageError(
                f"more than {MAX_TERMS} terms in the expression", hint="split it, or leave out the smallest weights"
            )
        sign, op = 1.0, None
        i += 1
    if op is not None:
        raise UsageError(
            f"dangling operator {op!r} at the end of {shorten(text)}", hint="a word must follow every + and -"
        )
    return terms


def _weight(tok: str, text: str) -> float:
    try:
        value = float(tok)
    except ValueError:
        raise UsageError(
            f"the weight {shorten(tok)} is not a number in {shorten(text)}", hint="write weights as 0.5*paris"
        ) from None
    if not math.isfinite(value):
        raise UsageError(
            f"the weight {shorten(tok)} is not a finite number in {shorten(text)}", hint="write weights as 0.5*paris"
        )
    return value


def _rows(vs: Vectors, terms: list[Term]) -> list[int]:
    rows = []
    for t in terms:
        try:
            rows.append(vs.require(t.word))
        except UsageError as e:
            if any(c in t.word[1:] for c in "+-"):  # "king-man+woman": one unknown word, not three
                others = getattr(e, "suggestions", None)
                e.hint = "put spaces around + and - between words (a - inside a word is part of it)" + (
                    f"; or did you mean: {', '.join(others)}?" if others else ""
                )
            raise
    return rows


def nearest(vs: Vectors, terms: list[Term], topn: int = 10, keep_inputs: bool = False) -> Neighbours:
    """The words nearest to sum(weight * unit vector), best first: gensim's most_similar(positive, negative)."""
    rows = _rows(vs, terms)
    weights = np.array([t.weight for t in terms], dtype=np.float32)  # [k]
    target = weights @ np.asarray(vs.unit[rows], dtype=np.float32)  # [dim]
    norm = float(np.linalg.norm(target))
    if not norm:
        raise UsageError(
            f"the terms cancel out: {expression_text(terms)} is the zero vector", hint="nothing is nearest to it"
        )
    scores = vs.unit @ (target / norm)  # [n] cosine of every word to the result
    words, values = _top(vs, scores, [] if keep_inputs else sorted(set(rows)), topn)
    return Neighbours([t.word for t in terms], words, values, method="3CosAdd")


def explain(vs: Vectors, terms: list[Term], topn: int = 5) -> dict:
    """The arithmetic on the raw vectors, as the slide shows it: each weighted vector, their sum,
    and the words nearest to that sum (cosine, with the Euclidean distance), input words included."""
    rows = _rows(vs, terms)
    raw = np.asarray(vs.vectors[rows], dtype=np.float64)  # [k, dim]
    weights = np.array([t.weight for t in terms], dtype=np.float64)
    result = weights @ raw  # [dim]
    nearest_rows = nearest_to_vector(vs, result, topn)
    return {
        "terms": [
            {
                "sign": "-" if t.weight < 0 else ("" if n == 0 else "+"),
                "weight": t.weight,
                "word": t.word,
                "vector": raw[n].tolist(),
            }
            for n, t in enumerate(terms)
        ],
        "result": result.tolist(),
        "nearest": nearest_rows,
    }
