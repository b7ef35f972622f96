"""Intrinsic evaluation, with gensim's rules so the numbers can be compared one to one.

* Analogies (`KeyedVectors.evaluate_word_analogies`): for "a b c d" predict d as the best
  candidate for b - a + c among the `restrict` most frequent words, inputs excluded; a question
  with any word outside those candidates is skipped (and counted as such); case-insensitive.
* Word pairs (`evaluate_word_pairs`): Pearson and Spearman correlation between cosine
  similarity and human scores; pairs with an unknown word are skipped.

gensim answers one question at a time (one matrix-vector product each). Here all questions
are answered by a few large matrix products, Q[m, dim] @ W[dim, restrict], in blocks sized
to stay in cache, so the whole Google set costs little more than one BLAS product.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from genai_cli.errors import GenaiError, UsageError
from genai_cli.vectors.store import Vectors

PAIR_SETS = ("simlex999.txt", "wordsim353.tsv")

# progress(n, total): n more questions answered, of `total` to answer (the command binds a progress bar)
Progress = Callable[[int, int], None]


def dataset_path(name: str) -> Path:
    """A test set shipped in gensim's package data (found without importing gensim)."""
    from genai_cli import models

    path = models.package_file("gensim", f"test/test_data/{name}")
    if path is None:
        raise GenaiError(
            "gensim is not installed; its test data holds the evaluation sets", hint="run scripts/setup.sh"
        )
    if not path.is_file():
        raise GenaiError(f"evaluation set {name} not found in gensim's package data ({path})")
    return path


def _candidate_index(vs: Vectors, restrict: int, case_insensitive: bool) -> dict[str, int]:
    """word (upper-cased when case-insensitive) -> row, over the first `restrict` rows; first one wins."""
    words = vs.words[:restrict]
    if case_insensitive:
        words = [w.upper() for w in words]
    index: dict[str, int] = {}
    for i, w in enumerate(words):
        index.setdefault(w, i)
    return index


# An evaluation file is read whole: gensim's questions-words.txt is 0.6 MB, SimLex-999 0.3 MB.
MAX_EVAL_FILE_BYTES = 64 * 1024 * 1024


def _read_lines(path: Path, what: str) -> list[str]:
    """The lines of a UTF-8 evaluation file, or a UsageError naming it (not a regular file, too big,
    not UTF-8)."""
    from genai_cli.files import require_regular_file

    path = require_regular_file(Path(path), what)
    size = path.stat().st_size
    if size > MAX_EVAL_FILE_BYTES:
        raise UsageError(f"{path}: {what} too large ({size:,} bytes; at most {MAX_EVAL_FILE_BYTES:,})")
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: {what} is not UTF-8 text (byte {e.start})") from None
    except OSError as e:
        raise UsageError(f"cannot read {what} {path}: {e.strerror}") from None


def read_analogies(path: Path) -> list[tuple[str, list[list[str]]]]:
    """[(section, [[a, b, c, d], ...]), ...] from a file in the Google analogy format."""
    sections: list[tuple[str, list[list[str]]]] = []
    lines = _read_lines(path, "analogy file")
    for n, line in enumerate(lines, start=1):
        if line.startswith(": "):
            sections.append((line[2:].strip(), []))
            continue
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 4:
            raise UsageError(f"{path}:{n}: expected 4 words per analogy line, got {len(parts)}")
        if not sections:
            raise UsageError(f"{path}:{n}: a question before the first ': section' line")
        sections[-1][1].append(parts)
    if not sections:
        raise UsageError(f"{path}: no analogy sections found (lines starting with ': ')")
    return sections


def evaluate_analogies(
    vs: Vectors,
    path: Path,
    restrict: int = 300000,
    case_insensitive: bool = True,
    method: str = "add",
    block: int = 256,
    progress: Progress | None = None,
) -> dict:
    """Accuracy per section and overall; `progress(n, total)` is called as blocks of questions are answered."""
    restrict = min(restrict, len(vs))
    sections = read_analogies(path)
    index = _candidate_index(vs, restrict, case_insensitive)
    exact_rows = not case_insensitive or vs.lowercase  # then upper-casing merges no two rows

    rows, section_of, skipped = [], [], []
    for s, (_, questions) in enumerate(sections):
        missing = 0
        for q in questions:
            keys = [w.upper() for w in q] if case_insensitive else q
            ids = [index.get(k) for k in keys]
            if any(i is None for i in ids):
                missing += 1
                continue
            rows.append(ids)
            section_of.append(s)
        skipped.append(missing)
    q = np.asarray(rows, dtype=np.int64).reshape(-1, 4)  # [n_questions, 4]: a b c expected
    correct = np.zeros(len(q), dtype=bool)
    if progress is not None:
        progress(0, len(q))
    if len(q):
        W = np.ascontiguousarray(vs.unit[:restrict], dtype=np.float32)  # [restrict, dim]
        predicted = _predict(W, q[:, 0], q[:, 1], q[:, 2], method, block, vs if not exact_rows else None, progress)
        correct = predicted == q[:, 3]
    section_of_arr = np.asarray(section_of, dtype=np.int64)

    out_sections = []
    for s, (name, _questions) in enumerate(sections):
        mask = section_of_arr == s
        asked, ok = int(mask.sum()), int(correct[mask].sum())
        out_sections.append(
            {
                "section": name,
                "correct": ok,
                "asked": asked,
                "accuracy": ok / asked if asked else 0.0,
                "skipped": skipped[s],
            }
        )
    total = sum(len(qs) for _, qs in sections)
    asked = int(len(q))
    ok = int(correct.sum())
    return {
        "dataset": Path(path).name,
        "method": "3CosAdd" if method == "add" else "3CosMul",
        "restrict": restrict,
        "case_insensitive": case_insensitive,
        "sections": out_sections,
        "overall": {
            "correct": ok,
            "asked": asked,
            "accuracy": ok / asked if asked else 0.0,
            "skipped": total - asked,
            "total": total,
            "coverage": asked / total if total else 0.0,
        },
    }


def _predict(
    W, a, b, c, method: str, block: int, mixed_case: Vectors | None, progress: Progress | None = None
) -> np.ndarray:
    """The predicted row for each question b - a + c, input rows excluded. Shapes: a, b, c [m]."""
    m = len(a)
    out = np.empty(m, dtype=np.int64)
    buf = np.empty((block, W.shape[0]), dtype=np.float32)  # [block, restrict], reused
    WT = W.T  # [dim, restrict], a view: BLAS reads it transposed, no copy
    if method == "add":
        Q = W[b] - W[a] + W[c]  # [m, dim]; the argmax does not depend on its length
    for start in range(0, m, block):
        stop = min(start + block, m)
        S = buf[: stop - start]
        if method == "add":
            np.matmul(Q[start:stop], WT, out=S)  # [block, restrict]
        else:
            S[:] = _cosmul_scores(W, a[start:stop], b[start:stop], c[start:stop])
        r = np.arange(stop - start)
        S[r, a[start:stop]] = -np.inf
        S[r, b[start:stop]] = -np.inf
        S[r, c[start:stop]] = -np.inf
        if mixed_case is None:
            out[start:stop] = S.argmax(axis=1)
        else:
            out[start:stop] = _first_new_word(S, mixed_case, a[start:stop], b[start:stop], c[start:stop])
        if progress is not None:
            progress(stop - start, m)
    return out


def _cosmul_scores(W, a, b, c) -> np.ndarray:
    """3CosMul for a block: cos'(w, b) * cos'(w, c) / (cos'(w, a) + 1e-6), cos' = (1 + cos) / 2."""
    sa = (1.0 + W[a] @ W.T) / 2.0
    sb = (1.0 + W[b] @ W.T) / 2.0
    sc = (1.0 + W[c] @ W.T) / 2.0
    return sb * sc / (sa + 1e-6)


def _first_new_word(S, vs: Vectors, a, b, c, k: int = 5) -> np.ndarray:
    """Mixed-case vocabularies: gensim takes the best of the top 5 whose upper-case form is not an input."""
    top = np.argpartition(-S, k, axis=1)[:, :k]
    out = np.empty(len(S), dtype=np.int64)
    for i, cand in enumerate(top):
        cand = cand[np.argsort(-S[i, cand])]
        inputs = {vs.word(int(x)).upper() for x in (a[i], b[i], c[i])}
        out[i] = next((int(x) for x in cand if vs.word(int(x)).upper() not in inputs), int(cand[0]))
    return out


def read_pairs(path: Path) -> list[tuple[str, str, float]]:
    pairs = []
    for n, line in enumerate(_read_lines(path, "word-pair file"), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            raise UsageError(f"{path}:{n}: expected word1<TAB>word2<TAB>score")
        try:
            pairs.append((parts[0], parts[1], float(parts[2])))
        except ValueError:
            raise UsageError(f"{path}:{n}: the score {parts[2]!r} is not a number") from None
    return pairs


def evaluate_pairs(vs: Vectors, path: Path, restrict: int = 300000, case_insensitive: bool = True) -> dict:
    from scipy import stats

    restrict = min(restrict, len(vs))
    index = _candidate_index(vs, restrict, case_insensitive)
    model, human, skipped = [], [], 0
    for w1, w2, score in read_pairs(path):
        k1, k2 = (w1.upper(), w2.upper()) if case_insensitive else (w1, w2)
        i, j = index.get(k1), index.get(k2)
        if i is None or j is None:
            skipped += 1
            continue
        model.append(float(np.dot(vs.unit[i], vs.unit[j])))
        human.append(score)
    if len(model) < 3:
        raise UsageError(f"{Path(path).name}: fewer than 3 pairs have both words in the vocabulary")
    return {
        "dataset": Path(path).name,
        "used": len(model),
        "skipped": skipped,
        "pearson": float(stats.pearsonr(model, human)[0]),
        "spearman": float(stats.spearmanr(model, human)[0]),
    }
