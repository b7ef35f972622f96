"""Readers for word-vector files: word2vec text and binary, GloVe text, fastText `.vec` and `.bin`.

Every reader takes an untrusted file and returns `(words, matrix, meta)`: `words` a list of
UTF-8 `bytes` (non-empty, no newline, first occurrence kept), `matrix` float32 [n, dim], finite.
Counts and sizes from a header are checked against the limits below and against the file's
size before anything is allocated. No reader runs code from the file (gensim pickles are read in
`gensim_pickle.py`, through an exact allow-list). Bad input is a UsageError naming the file.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np

from genai_cli.errors import UsageError, shorten

# Documented limits (checked before anything is allocated): larger than any published vector set
# (fastText crawl: 2M words x 300; Google News: 3M x 300; GloVe 840B: 2.2M x 300).
MAX_WORDS = 20_000_000
MAX_DIM = 10_000
MAX_WORD_BYTES = 65_536  # one vocabulary entry
MAX_HEADER_BYTES = 1024  # the "N DIM" line of word2vec files
MAX_LINE_BYTES = MAX_WORD_BYTES + MAX_DIM * 64  # one line of a text file (64 bytes a number)
READ_BLOCK = 1 << 20  # text files are read in blocks of this size (larger blocks cost memory, not speed)

FASTTEXT_MAGIC = 793712314
TEXT_FORMATS = ("word2vec", "glove")

Warn = Callable[[str], None]
Progress = Callable[[int], None]  # called with the number of bytes read since the last call


def _noop(*_a) -> None:
    pass


# --- shared checks ------------------------------------------------------------------------


def check_shape(path: Path, n: int, dim: int, min_row_bytes: int, available: int) -> None:
    """Refuse a header whose word count or dimension is over the limits or cannot fit in the file."""
    if not 0 < dim <= MAX_DIM:
        raise UsageError(f"{path}: the header claims {dim} dimensions (limit: 1 to {MAX_DIM:,})")
    if not 0 < n <= MAX_WORDS:
        raise UsageError(f"{path}: the header claims {n:,} words (limit: 1 to {MAX_WORDS:,})")
    if n * min_row_bytes > available:
        raise UsageError(
            f"{path}: the header claims {n:,} words x {dim} dims, more than the file's "
            f"{available:,} bytes can hold (truncated or not a vector file)"
        )


def finish(path: Path, words: list[bytes], matrix: np.ndarray, warn: Warn = _noop) -> tuple[list[bytes], np.ndarray]:
    """Final checks shared by every reader: some vectors, all finite, each word once (first kept)."""
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise UsageError(f"{path}: the vector file holds no vectors")
    if len(words) != matrix.shape[0]:
        raise UsageError(f"{path}: {len(words):,} words but {matrix.shape[0]:,} vectors")
    step = max(1, (4 << 20) // max(1, matrix.shape[1]))  # checked in slices of about 4 MB
    finite = np.concatenate([np.isfinite(matrix[i : i + step]).all(axis=1) for i in range(0, matrix.shape[0], step)])
    if not finite.all():
        row = int(np.argmin(finite))
        raise UsageError(
            f"{path}: the vector of {shorten(_show(words[row]))} (entry {row + 1:,}) holds NaN or infinite values"
        )
    if len(set(words)) != len(words):
        seen: set[bytes] = set()
        keep = np.ones(len(words), dtype=bool)
        first_dup = None
        for i, w in enumerate(words):
            if w in seen:
                keep[i] = False
                first_dup = first_dup if first_dup is not None else w
            else:
                seen.add(w)
        dropped = int((~keep).sum())
        warn(
            f"{path}: {dropped:,} repeated word{'s' if dropped > 1 else ''} (first: {shorten(_show(first_dup))}); "
            "kept the first occurrence of each, as gensim does"
        )
        words = [w for w, k in zip(words, keep) if k]
        matrix = matrix[keep]
    return words, matrix


def _show(word: bytes) -> str:
    return word.decode("utf-8", errors="backslashreplace")


def clean_word(path: Path, word: bytes, where: str, bad: dict | None = None) -> bytes:
    """A vocabulary entry as stored: valid UTF-8 (invalid bytes as \\x escapes, as gensim's
    unicode_errors="backslashreplace"), no newline. An empty word (fastText keeps one) is kept."""
    if b"\n" in word:
        raise UsageError(f"{path}: {where} has a word with a line break")
    try:
        word.decode("utf-8")
        return word
    except UnicodeDecodeError:
        shown = word.decode("utf-8", errors="backslashreplace")
        if bad is not None:
            bad["count"] = bad.get("count", 0) + 1
            bad.setdefault("first", shown)
        return shown.encode("utf-8")


# --- sniffing ------------------------------------------------------------------------------


def sniff_format(path: Path) -> str:
    """Tell a vector file's format from its first bytes; or an error listing what was tried."""
    with open(path, "rb") as f:
        head = f.read(1024 * 1024)
    if not head:
        raise UsageError(f"{path}: the file is empty")
    tried = []
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "gensim"  # a pickle: gensim's native KeyedVectors.save()
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh":
        raise UsageError(
            f"{path}: a compressed file (gzip or bzip2); genai reads vector files uncompressed",
            hint=f"decompress it first (gunzip / bunzip2 {path.name}) and pass the result",
        )
    tried.append("gensim (no pickle header)")
    why = _fasttext_reason(head)
    if why is None:
        return "fasttext"
    tried.append(f"fasttext ({why})")
    body = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    first = body.split(b"\n", 1)[0]
    parts = first.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        dim = int(parts[1])
        rest = body[len(first) + 1 :]
        if _looks_like_text_row(rest.split(b"\n", 1)[0], dim):
            return "word2vec"
        tried.append(f"word2vec text (the first row is not a word and {dim} numbers)")
        sp = rest.find(b" ", 0, MAX_WORD_BYTES)
        if sp > 0:
            return "word2vec-binary"  # "word " then raw float32 bytes
        tried.append("word2vec binary (no word after the header)")
    else:
        tried.append("word2vec (no 'WORDS DIM' header line)")
        if len(parts) >= 2 and _looks_like_text_row(first, len(parts) - 1):
            return "glove"
        tried.append("glove (the first line is not a word followed by numbers)")
    raise UsageError(
        f"{path}: cannot tell the vector file's format; tried: {'; '.join(tried)}",
        hint="pass --format if it is one of these",
    )


def _looks_like_text_row(row: bytes, dim: int) -> bool:
    fields = row.split()
    if len(fields) < dim + 1:
        return False
    try:
        [float(x) for x in fields[-dim:]]
        return True
    except ValueError:
        return False


def _fasttext_reason(head: bytes) -> str | None:
    """None when `head` starts like a fastText .bin (new layout with magic, or the older one)."""
    if len(head) < 60:
        return "too short"
    magic, version = struct.unpack("<2i", head[:8])
    if magic == FASTTEXT_MAGIC:
        return None
    # the older layout starts directly with the arguments: dim ws epoch minCount neg wordNgrams
    # loss model bucket minn maxn lrUpdateRate (int32) then t (double)
    args = struct.unpack("<12i", head[:48])
    (t,) = struct.unpack("<d", head[48:56])
    dim, ws, epoch, min_count, neg, ngrams, loss, model, bucket, minn, maxn, lr_rate = args
    plausible = (
        0 < dim <= MAX_DIM
        and 0 < ws < 10_000
        and 0 < epoch < 100_000
        and 0 <= min_count
        and 0 <= neg < 10_000
        and 0 < ngrams < 100
        and 1 <= loss <= 4
        and 1 <= model <= 3
        and 0 <= bucket <= 100_000_000
        and 0 <= minn <= maxn < 100
        and 0 < lr_rate
        and 0.0 <= t < 1.0
    )
    return None if plausible else "no fastText magic number, and no plausible older header"


# --- word2vec / GloVe text ----------------------------------------------------------------


def read_text(
    path: Path, fmt: str, warn: Warn = _noop, progress: Progress = _noop, bad: dict | None = None
) -> tuple[list[bytes], np.ndarray]:
    """word2vec text ("N DIM" header) or GloVe text (no header). Any line length, any float
    notation numpy reads, CRLF, tabs, trailing spaces, a UTF-8 BOM. Blank lines are skipped."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        first = f.readline(MAX_HEADER_BYTES if fmt == "word2vec" else MAX_LINE_BYTES)
        if not first.endswith(b"\n") and f.tell() < size:
            raise UsageError(
                f"{path}: line 1 is longer than {MAX_HEADER_BYTES if fmt == 'word2vec' else MAX_LINE_BYTES:,} bytes"
            )
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        if fmt == "word2vec":
            parts = first.split()
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise UsageError(
                    f"{path}: line 1 is not a word2vec header 'WORDS DIM' (got {shorten(_show(first.strip()))})"
                )
            n, dim = int(parts[0]), int(parts[1])
            check_shape(path, n, dim, 2 * dim + 1, size - len(first))
            start_line, pending = 2, b""
        else:
            fields = first.split()
            if len(fields) < 2:
                raise UsageError(f"{path}: line 1 is not a word followed by numbers")
            dim = len(fields) - 1
            # one row per line: count the lines (cheap) so the matrix is allocated once
            n = 1 + _count_newlines(f)
            f.seek(len(first) + (3 if _has_bom(path) else 0))
            n = min(n, size // (2 * dim + 1) + 1)
            check_shape(path, n, dim, 0, size)
            start_line, pending = 1, first
        matrix = np.empty((n, dim), dtype=np.float32)
        words: list[bytes] = []
        bad = {} if bad is None else bad
        row, lineno = 0, start_line - 1
        if pending:
            lineno += 1
            _parse_line(path, pending, lineno, dim, words, matrix, row, bad)
            row += 1
        rest = b""
        while row < n:
            block = f.read(READ_BLOCK)
            progress(len(block))
            if not block:
                if rest.strip():
                    lines = [rest]
                    rest = b""
                else:
                    break
            else:
                lines = (rest + block).split(b"\n")
                rest = lines.pop()
                if len(rest) > MAX_LINE_BYTES:
                    raise UsageError(
                        f"{path}: line {lineno + len(lines) + 1:,} is longer than {MAX_LINE_BYTES:,} bytes"
                    )
            for line in lines:
                lineno += 1
                if row >= n:
                    break
                if not line.strip():
                    continue
                _parse_line(path, line, lineno, dim, words, matrix, row, bad)
                row += 1
    if fmt == "word2vec" and row < n:
        raise UsageError(f"{path}: the header promises {n:,} words but the file ends after {row:,} (truncated?)")
    return words, matrix[:row]


def _parse_line(
    path: Path, line: bytes, lineno: int, dim: int, words: list, matrix: np.ndarray, row: int, bad: dict
) -> None:
    word, _, values = line.strip().partition(b" ")
    if b"\t" in word:  # a tab between the word and the numbers
        word, _, more = word.partition(b"\t")
        values = more + b" " + values
    try:
        vec = np.fromstring(values, dtype=np.float32, sep=" ")
    except ValueError:
        raise UsageError(
            f"{path}: line {lineno:,} has a value that is not a number (word {shorten(_show(word))})"
        ) from None
    if vec.shape[0] != dim:
        raise UsageError(
            f"{path}: line {lineno:,} has {vec.shape[0]} values, expected {dim} (word {shorten(_show(word))})"
        )
    if len(word) > MAX_WORD_BYTES:
        raise UsageError(f"{path}: line {lineno:,} has a word of {len(word):,} bytes (limit {MAX_WORD_BYTES:,})")
    words.append(clean_word(path, word, f"line {lineno:,}", bad))
    matrix[row] = vec


def _has_bom(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(3) == b"\xef\xbb\xbf"


def _count_newlines(f) -> int:
    count = 0
    last = b"\n"
    while True:
        block = f.read(READ_BLOCK)
        if not block:
            break
        count += block.count(b"\n")
        last = block[-1:]
    return count + (last != b"\n")


# --- word2vec binary ------------------------------------------------------------------------


def read_word2vec_binary(
    path: Path, warn: Warn = _noop, progress: Progress = _noop, bad: dict | None = None
) -> tuple[list[bytes], np.ndarray]:
    size = path.stat().st_size
    with open(path, "rb") as f, _map(path, f) as mm:
        end = mm.find(b"\n", 0, MAX_HEADER_BYTES)
        header = mm[: end if end >= 0 else MAX_HEADER_BYTES]
        parts = header.split()
        if end < 0 or len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise UsageError(f"{path}: the first line is not a word2vec header 'WORDS DIM'")
        n, dim = int(parts[0]), int(parts[1])
        row_bytes = 4 * dim
        check_shape(path, n, dim, row_bytes + 2, size - end - 1)
        matrix = np.empty((n, dim), dtype=np.float32)
        words: list[bytes] = []
        pos, last = end + 1, end + 1
        for i in range(n):
            sp = mm.find(b" ", pos, pos + MAX_WORD_BYTES + 8)
            if sp < 0 or sp + 1 + row_bytes > size:
                raise UsageError(f"{path}: entry {i + 1:,} of {n:,} is cut short or has no word (truncated?)")
            word = mm[pos:sp].lstrip(b"\n\r")
            words.append(clean_word(path, word, f"entry {i + 1:,}", bad))
            matrix[i] = np.frombuffer(mm, dtype="<f4", count=dim, offset=sp + 1)
            pos = sp + 1 + row_bytes
            if pos - last > 16 * 1024 * 1024:
                progress(pos - last)
                last = pos
        progress(pos - last)
    return words, matrix


class _map:
    """A read-only memory map of an open file (an empty file is refused, not mapped)."""

    def __init__(self, path: Path, f):
        if os.fstat(f.fileno()).st_size == 0:
            raise UsageError(f"{path}: the file is empty")
        self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)

    def __enter__(self):
        return self.mm

    def __exit__(self, *exc):
        try:
            self.mm.close()
        except BufferError:  # a numpy view still points into it: let the GC close it
            pass


# --- fastText .bin ------------------------------------------------------------------------------


def read_fasttext(
    path: Path, warn: Warn = _noop, progress: Progress = _noop, bad: dict | None = None
) -> tuple[list[bytes], np.ndarray, dict]:
    """The word vectors of a fastText `.bin` model (old layout, or new with the magic number).

    A word's vector is what fastText's `get_word_vector` (and gensim's `load_facebook_vectors`)
    gives: the mean of the input rows of the word and of its character n-grams, hashed from the
    word's bytes as stored. Out-of-vocabulary words are not built (genai keeps a fixed
    vocabulary); quantized `.ftz` models and supervised (label) models are refused."""
    size = path.stat().st_size
    with open(path, "rb") as f, _map(path, f) as mm:
        r = _Cursor(path, mm, size)
        magic, version = r.unpack("<2i")
        new = magic == FASTTEXT_MAGIC
        if new:
            args = r.unpack("<12i")
        else:
            r.pos = 0
            args = r.unpack("<12i")
        r.unpack("<d")
        dim, _ws, _epoch, _mc, _neg, _wng, _loss, model, bucket, minn, maxn, _lr = args
        if not 0 < dim <= MAX_DIM:
            raise UsageError(f"{path}: the fastText header claims {dim} dimensions (limit: 1 to {MAX_DIM:,})")
        if not 0 <= bucket <= 100_000_000 or not 0 <= minn <= maxn <= 100:
            raise UsageError(
                f"{path}: not a fastText model (impossible header: bucket {bucket}, minn {minn}, maxn {maxn})"
            )
        size_, nwords, nlabels = r.unpack("<3i")
        r.unpack("<q")  # ntokens
        prune = r.unpack("<q")[0] if new else 0
        if not 0 < nwords <= size_ <= MAX_WORDS or nlabels < 0:
            raise UsageError(
                f"{path}: the fastText header claims {size_:,} entries, {nwords:,} words (limit: 1 to {MAX_WORDS:,})"
            )
        if size_ * 10 > size - r.pos:
            raise UsageError(
                f"{path}: the fastText header claims {size_:,} entries, more than the file can hold (truncated?)"
            )
        if model == 3 or nlabels > 0:
            raise UsageError(f"{path}: a supervised fastText classifier, not word vectors")
        words: list[bytes] = []
        raw: list[bytes] = []
        for i in range(size_):
            end = mm.find(b"\0", r.pos, r.pos + MAX_WORD_BYTES + 1)
            if end < 0:
                raise UsageError(f"{path}: fastText vocabulary entry {i + 1:,} has no end (truncated or not fastText)")
            word = mm[r.pos : end]
            r.pos = end + 1
            _count, kind = r.unpack("<qb")
            if kind == 0:
                raw.append(word)
                words.append(clean_word(path, word, f"fastText vocabulary entry {i + 1:,}", bad))
        if len(words) != nwords:
            raise UsageError(f"{path}: the fastText vocabulary holds {len(words):,} words, the header says {nwords:,}")
        if prune > 0:  # -1 in a model that was never pruned
            raise UsageError(f"{path}: a pruned (quantized) fastText model; genai reads only full .bin models")
        if new and r.unpack("<?")[0]:
            raise UsageError(f"{path}: a quantized fastText model (.ftz); genai reads only full .bin models")
        rows, cols = r.unpack("<2q")
        if cols != dim or rows != nwords + bucket:
            raise UsageError(
                f"{path}: the fastText input matrix is {rows:,} x {cols:,}, expected {nwords + bucket:,} x {dim}"
            )
        if r.pos + rows * cols * 4 > size:
            raise UsageError(f"{path}: the fastText input matrix is cut short (truncated?)")
        table = np.frombuffer(mm, dtype="<f4", count=rows * cols, offset=r.pos).reshape(rows, cols)
        matrix = np.empty((nwords, dim), dtype=np.float32)
        for i, w in enumerate(raw):
            ids = [i] + [nwords + h % bucket for h in subword_hashes(w, minn, maxn)] if bucket else [i]
            matrix[i] = table[ids].mean(axis=0, dtype=np.float32) if len(ids) > 1 else table[i]
        del table
        progress(size)
    meta = {"fasttext_layout": "new" if new else "old", "minn": minn, "maxn": maxn, "bucket": bucket}
    return words, matrix, meta


class _Cursor:
    def __init__(self, path: Path, mm, size: int):
        self.path, self.mm, self.size, self.pos = path, mm, size, 0

    def unpack(self, fmt: str) -> tuple:
        n = struct.calcsize(fmt)
        if self.pos + n > self.size:
            raise UsageError(f"{self.path}: the fastText file is cut short (truncated?)")
        out = struct.unpack_from(fmt, self.mm, self.pos)
        self.pos += n
        return out


def _fnv_python(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ (b if b < 128 else b | 0xFFFFFF00)) * 16777619) & 0xFFFFFFFF
    return h


_FNV = []


def _fnv(data: bytes) -> int:
    """gensim's compiled copy of fastText's hash when gensim is there (same result, faster);
    imported on first use only (importing gensim costs a second and 80 MB)."""
    if not _FNV:
        try:
            from gensim.models.fasttext_inner import ft_hash_bytes
        except Exception:  # pragma: no cover
            ft_hash_bytes = _fnv_python
        _FNV.append(ft_hash_bytes)
    return _FNV[0](data)


def subword_hashes(word: bytes, minn: int, maxn: int) -> list[int]:
    """fastText's `computeSubwords`: the hashes of the character n-grams (minn..maxn characters,
    counted in UTF-8 characters) of b"<" + word + b">", without the lone "<" and ">"."""
    if maxn <= 0:
        return []
    w = b"<" + word + b">"
    out = []
    size = len(w)
    for i in range(size):
        if w[i] & 0xC0 == 0x80:
            continue
        j, n = i, 1
        while j < size and n <= maxn:
            j += 1
            while j < size and w[j] & 0xC0 == 0x80:
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == size)):
                out.append(_fnv(w[i:j]))
            n += 1
    return out


def read_any(
    path: Path, fmt: str, warn: Warn = _noop, progress: Progress = _noop
) -> tuple[list[bytes], np.ndarray, dict[str, Any]]:
    """Read a vector file of format `fmt` ("auto" sniffs it). Returns checked words and vectors."""
    from genai_cli.files import require_regular_file

    require_regular_file(path, "vector file")
    fmt = sniff_format(path) if fmt == "auto" else fmt
    meta: dict[str, Any] = {}
    bad: dict[str, Any] = {}
    if fmt == "gensim":
        from genai_cli.vectors.gensim_pickle import read_gensim

        words, matrix, meta = read_gensim(path, bad)
    elif fmt == "fasttext":
        words, matrix, meta = read_fasttext(path, warn, progress, bad)
    elif fmt == "word2vec-binary":
        words, matrix = read_word2vec_binary(path, warn, progress, bad)
    elif fmt in TEXT_FORMATS:
        words, matrix = read_text(path, fmt, warn, progress, bad)
    else:
        raise UsageError(f"unknown vector format {shorten(fmt)}")
    if bad:
        warn(
            f"{path}: {bad['count']:,} word{'s are' if bad['count'] > 1 else ' is'} not UTF-8 "
            f"(first: {shorten(bad['first'])}); shown with \\x escapes, as gensim's unicode_errors='backslashreplace'"
        )
    words, matrix = finish(path, words, matrix, warn)
    return words, matrix, {**meta, "detected_format": fmt, "name": path.name}
