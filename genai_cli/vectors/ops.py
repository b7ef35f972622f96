"""Word-vector arithmetic: analogies, neighbours, similarity, odd one out.

Scores follow gensim so results can be compared one to one:

* 3CosAdd (`most_similar`): rank words w by cos(w, unit(a) - unit(b) + unit(c)).
* 3CosMul (`most_similar_cosmul`, Levy & Goldberg 2014): rank by
  cos'(w, a) * cos'(w, c) / (cos'(w, b) + 1e-6), where cos' = (1 + cos) / 2.

`analogy(vs, "paris", "france", "england")` is paris - france + england: the word that is to
england what paris is to france (london). Input words are never answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from genai_cli.errors import UsageError
from genai_cli.vectors.store import Vectors

METHODS = ("add", "mul")


@dataclass
class Neighbours:
    """Ranked words with scores; `words[0]` is the answer."""

    query: list[str]
    words: list[str]
    scores: list[float]
    method: str = "cosine"
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "query": self.query,
            "answer": self.words[0] if self.words else None,
            "method": self.method,
            "results": [{"word": w, "score": round(s, 6)} for w, s in zip(self.words, self.scores)],
            **self.extra,
        }

    def text_lines(self) -> list[str]:
        return [f"{w}\t{s:.4f}" for w, s in zip(self.words, self.scores)]

    def one_line(self) -> str:
        """All candidates on one line, the answer first (stdin mode: one line per query)."""
        return "  ".join(f"{w} {s:.4f}" for w, s in zip(self.words, self.scores))


def _top(vs: Vectors, scores: np.ndarray, exclude: list[int], topn: int) -> tuple[list[str], list[float]]:
    """The `topn` best rows, best first, never one of `exclude`."""
    scores = np.array(scores, dtype=np.float32)  # a copy we may write to
    scores[exclude] = -np.inf
    k = max(0, min(topn, len(scores) - len(set(exclude))))
    if k <= 32:  # a few argmax passes (SIMD, ~0.1 ms each) beat a full partition (~5 ms) for small k
        words, values = [], []
        for _ in range(k):
            i = int(scores.argmax())
            words.append(vs.word(i))
            values.append(float(scores[i]))
            scores[i] = -np.inf
        return words, values
    idx = np.argpartition(-scores, k - 1)[:k]
    idx = idx[np.argsort(-scores[idx], kind="stable")]
    return [vs.word(int(i)) for i in idx], [float(scores[i]) for i in idx]


def analogy(vs: Vectors, a: str, b: str, c: str, topn: int = 10, method: str = "add") -> Neighbours:
    """a - b + c: the word that is to c what a is to b."""
    if method not in METHODS:
        raise UsageError(f"unknown analogy method {method!r}", hint="use add (3CosAdd) or mul (3CosMul)")
    ia, ib, ic = vs.require(a), vs.require(b), vs.require(c)
    unit = vs.unit
    if method == "add":
        target = unit[ia] - unit[ib] + unit[ic]  # [dim]
        norm = float(np.linalg.norm(target))
        scores = unit @ (target / norm if norm else target)  # [n] cosine to the result vector
    else:
        sims = unit @ np.stack([unit[ia], unit[ib], unit[ic]]).T  # [n, 3]
        sims = (1.0 + sims) / 2.0
        scores = sims[:, 0] * sims[:, 2] / (sims[:, 1] + 1e-6)
    words, values = _top(vs, scores, [ia, ib, ic], topn)
    return Neighbours([a, b, c], words, values, method="3CosAdd" if method == "add" else "3CosMul")


def nearest_to_vector(vs: Vectors, result: np.ndarray, topn: int) -> list[dict]:
    """The `topn` words nearest to a raw vector (input words included): cosine, and Euclidean distance."""
    norm = np.linalg.norm(result)
    cos = (vs.unit @ (result / norm).astype(np.float32)) if norm else np.zeros(len(vs), dtype=np.float32)
    k = min(topn, len(vs))
    idx = np.argpartition(-cos, k - 1)[:k]
    idx = idx[np.argsort(-cos[idx], kind="stable")]
    nearest = []
    for i in idx:
        v = np.asarray(vs.vectors[int(i)], dtype=np.float64)
        nearest.append(
            {"word": vs.word(int(i)), "cosine": float(cos[i]), "distance": float(np.linalg.norm(v - result))}
        )
    return nearest


def explain(vs: Vectors, a: str, b: str, c: str, topn: int = 5) -> dict:
    """The arithmetic as the slide shows it: raw vectors, a - b + c, and the words nearest to it.

    Nearest is by cosine to the raw result, with the Euclidean distance alongside; input words
    are included here, since the point is to see where the result vector lands.
    """
    rows = [vs.require(w) for w in (a, b, c)]
    va, vb, vc = (np.asarray(vs.vectors[i], dtype=np.float64) for i in rows)
    result = va - vb + vc
    nearest = nearest_to_vector(vs, result, topn)
    return {
        "terms": [
            {"sign": "", "word": a, "vector": va.tolist()},
            {"sign": "-", "word": b, "vector": vb.tolist()},
            {"sign": "+", "word": c, "vector": vc.tolist()},
        ],
        "result": result.tolist(),
        "nearest": nearest,
    }


def similar(vs: Vectors, word: str, topn: int = 10) -> Neighbours:
    i = vs.require(word)
    words, values = _top(vs, vs.unit @ vs.unit[i], [i], topn)
    return Neighbours([word], words, values)


def similarity(vs: Vectors, w1: str, w2: str) -> float:
    i, j = vs.require(w1), vs.require(w2)
    return float(np.dot(vs.unit[i], vs.unit[j]))


def doesnt_match(vs: Vectors, words: list[str]) -> dict:
    """The word least like the others (gensim's rule: lowest cosine to the mean of the unit vectors)."""
    if len(words) < 3:
        raise UsageError(
            "doesnt-match needs at least 3 words", hint="e.g. genai embed doesnt-match breakfast lunch dinner cereal"
        )
    rows = [vs.require(w) for w in words]
    unit = np.asarray(vs.unit[rows], dtype=np.float32)  # [k, dim]
    mean = unit.mean(axis=0)
    mean /= np.linalg.norm(mean) or 1.0
    sims = unit @ mean
    order = np.argsort(sims, kind="stable")
    return {
        "words": words,
        "odd_one_out": words[int(order[0])],
        "similarity_to_mean": {words[i]: round(float(sims[i]), 6) for i in range(len(words))},
    }


def vector(vs: Vectors, word: str) -> list[float]:
    return [float(x) for x in vs.vectors[vs.require(word)]]
