"""gensim's native files (`KeyedVectors.save()`, a whole `Word2Vec.save()` / `FastText.save()` model),
read without running anything in them.

A gensim file is a pickle, and a pickle is a program. It is read here with an unpickler whose
`find_class` answers only an exact list of (module, name) pairs that real gensim 2.x-4.x files
name; nothing is imported and no gensim object is built:

* gensim's classes become inert stand-ins (`_Record`) that only keep their pickled state dict;
* gensim's and numpy.random's helper functions become harmless stand-ins;
* numpy's array and dtype builders are the real ones (they only rebuild arrays from bytes);
* a name with a dot (protocol 4 `STACK_GLOBAL` attribute walking) or any other global is refused.

gensim's own loader is never called: after the unpickle it would `pickle.load` the companion
files named in the object (`__numpys`, `__scipys`), so a clean-looking `.kv` next to a hostile
`NAME.kv.vectors.npy` would run code. The companion arrays a real save writes
(`NAME.vectors.npy`, `NAME.wv.vectors.npy`, ...) are read here with
`numpy.load(allow_pickle=False)`, from those exact names only.
"""

from __future__ import annotations

import pickle
from _compat_pickle import IMPORT_MAPPING, NAME_MAPPING
from pathlib import Path
from typing import Any

import numpy as np

from genai_cli.errors import UsageError


class _Record:
    """Stand-in for an allowed gensim class: keeps the state pickle gives it, runs nothing."""

    gensim_class = "?"

    def __init__(self, *args, **kwargs):
        self.state: Any = None

    def __setstate__(self, state):
        self.state = state

    def get(self, key: str, default=None):
        state = self.state
        if isinstance(state, tuple) and len(state) == 2 and isinstance(state[0], dict):
            state = state[0]  # (dict state, slot state)
        return state.get(key, default) if isinstance(state, dict) else default


def _record_class(qualname: str) -> type:
    return type(qualname.rsplit(".", 1)[1], (_Record,), {"gensim_class": qualname})


class _Opaque:
    """What a stand-in helper function returns: nothing usable."""

    def __init__(self, *args, **kwargs):
        pass

    def __setstate__(self, state):
        pass

    def __call__(self, *args, **kwargs):
        return _Opaque()


def _opaque_function(*args, **kwargs):
    return _Opaque()


def _dict_of(*args, **kwargs):
    """Stand-in for collections.defaultdict / OrderedDict: a plain dict (the factory is dropped)."""
    return {}


def _codecs_encode(text, encoding="utf-8", errors="strict"):
    """Python 2 byte strings in protocol-2 pickles: `_codecs.encode(text, 'latin1')`, nothing else."""
    if isinstance(text, str) and encoding in ("latin1", "latin-1", "iso-8859-1") and errors == "strict":
        return text.encode("latin-1")
    raise pickle.UnpicklingError("refusing _codecs.encode with other arguments")


def _reconstructor(cls, base, state):
    """copyreg._reconstructor, for gensim stand-ins over `object` only."""
    if isinstance(cls, type) and issubclass(cls, (_Record, _Opaque)) and base is object and state is None:
        return cls.__new__(cls)
    raise pickle.UnpicklingError("refusing copyreg._reconstructor with other arguments")


_GENSIM_CLASSES = {
    "gensim.models.keyedvectors": (
        "KeyedVectors",
        "Word2VecKeyedVectors",
        "EuclideanKeyedVectors",
        "Vocab",
        "FastTextKeyedVectors",
    ),
    "gensim.models.word2vec": ("Word2Vec", "Word2VecVocab", "Word2VecTrainables", "Vocab"),
    "gensim.models.fasttext": ("FastText", "FastTextKeyedVectors", "FastTextVocab", "FastTextTrainables"),
    "gensim.models.wrappers.fasttext": ("FastTextKeyedVectors",),
}


def _allowed() -> dict[tuple[str, str], Any]:
    from numpy import dtype, ndarray

    try:
        from numpy._core.multiarray import _reconstruct, scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import _reconstruct, scalar

    table: dict[tuple[str, str], Any] = {}
    for module, names in _GENSIM_CLASSES.items():
        for name in names:
            table[(module, name)] = _record_class(f"{module}.{name}")
    for module in ("numpy.core.multiarray", "numpy._core.multiarray"):
        table[(module, "_reconstruct")] = _reconstruct
        table[(module, "scalar")] = scalar
    table.update(
        {
            ("numpy", "ndarray"): ndarray,
            ("numpy", "dtype"): dtype,
            ("numpy", "float32"): np.float32,
            ("numpy", "float64"): np.float64,
            ("numpy", "int64"): np.int64,
            ("numpy", "int32"): np.int32,
            # the model's random state and helpers: kept out, replaced by inert values
            ("numpy.random", "__RandomState_ctor"): _opaque_function,
            ("numpy.random._pickle", "__randomstate_ctor"): _opaque_function,
            ("numpy.random._pickle", "__bit_generator_ctor"): _opaque_function,
            ("numpy.random._pickle", "__generator_ctor"): _opaque_function,
            ("numpy.random._mt19937", "MT19937"): _Opaque,
            ("gensim.utils", "call_on_class_only"): _opaque_function,
            ("builtins", "hash"): _opaque_function,
            ("__builtin__", "hash"): _opaque_function,
            ("collections", "defaultdict"): _dict_of,
            ("collections", "OrderedDict"): _dict_of,
            ("_codecs", "encode"): _codecs_encode,
            ("copyreg", "_reconstructor"): _reconstructor,
            ("copy_reg", "_reconstructor"): _reconstructor,
        }
    )
    for module in ("builtins", "__builtin__"):
        for name, value in (
            ("int", int),
            ("long", int),
            ("float", float),
            ("set", set),
            ("frozenset", frozenset),
            ("object", object),
        ):
            table[(module, name)] = value
    return table


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, path: Path):
        super().__init__(file, encoding="latin1")
        self.path = path
        self.table = _allowed()

    def find_class(self, module: str, name: str):
        # Python 2 names (__builtin__, copy_reg, UserString ...) mapped as pickle's fix_imports
        # does; the result must still be in the exact table
        module, name = NAME_MAPPING.get((module, name), (IMPORT_MAPPING.get(module, module), name))
        found = self.table.get((module, name)) if "." not in name else None
        if found is None:
            raise UsageError(
                f"{self.path}: refusing to load {_clip(module)}.{_clip(name)} from a pickle (not gensim vector data)",
                hint=_convert_hint(self.path)
                if module.startswith("gensim.")
                else "genai reads gensim KeyedVectors, Word2Vec and FastText files, nothing else that is pickled",
            )
        return found

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _convert_hint(path: Path, gensim: str = "gensim") -> str:
    """What to run to turn a gensim model genai will not unpickle into word2vec text (which runs
    the pickle: only for a file the user trusts)."""
    out = f"{path.name}.vec"
    return (
        f'if you trust the file, convert it with {gensim}: python -c "from gensim.utils import SaveLoad; '
        f"m = SaveLoad.load('{_clip(path, 200)}'); getattr(m, 'wv', m).save_word2vec_format('{_clip(out, 200)}')\" "
        f"and pass --vectors {_clip(out, 200)}"
    )


def _clip(text: str, limit: int = 60) -> str:
    text = str(text).encode("ascii", "backslashreplace").decode()
    return text if len(text) <= limit else text[: limit - 3] + "..."


# state keys: the words, the vectors (4.x, 3.x and older names)
_WORD_KEYS = ("index_to_key", "index2word", "index2entity")
_VECTOR_KEYS = ("vectors", "syn0")
_MODELS = ("Word2Vec", "FastText")


def read_gensim(path: Path, bad: dict | None = None) -> tuple[list[bytes], np.ndarray, dict[str, Any]]:
    """Words and vectors from a gensim file, by the exact allow-list; companion `.npy` files safely."""
    with open(path, "rb") as f:
        try:
            obj = _Unpickler(f, path).load()
        except UsageError:
            raise
        except RecursionError:
            raise UsageError(f"{path}: the pickle nests too deeply") from None
        except MemoryError:
            raise UsageError(f"{path}: the pickle asks for more memory than there is") from None
        except Exception as e:  # UnpicklingError, EOFError, ValueError, TypeError ... from a damaged file
            raise UsageError(f"{path}: not a readable gensim file ({type(e).__name__}: {_clip(e, 120)})") from None
    try:
        return _extract(path, obj, bad)
    except (TypeError, AttributeError, ValueError, KeyError, IndexError, OverflowError) as e:
        # the pickle was inert, but its contents are not shaped like gensim's
        raise UsageError(
            f"{path}: not a readable gensim file (its contents are malformed: {type(e).__name__})"
        ) from None


def _extract(path: Path, obj: Any, bad: dict | None) -> tuple[list[bytes], np.ndarray, dict[str, Any]]:
    prefix = ""
    kind = getattr(obj, "gensim_class", None)
    if not isinstance(obj, _Record):
        raise UsageError(f"{path}: the pickle holds a {type(obj).__name__}, not gensim word vectors")
    if kind.rsplit(".", 1)[1] in _MODELS:  # a whole model: its word vectors are in `wv`
        wv = obj.get("wv")
        if isinstance(wv, _Record) and "KeyedVectors" in wv.gensim_class:
            obj, prefix = wv, "wv."
        elif wv is not None or not any(
            obj.get(k) is not None or k in (obj.get("__numpys") or []) for k in _VECTOR_KEYS
        ):
            raise UsageError(f"{path}: the {kind} model holds no word vectors (wv)")
        # else: gensim < 1.0 kept syn0 / index2word on the model itself
    elif "KeyedVectors" not in kind:
        raise UsageError(f"{path}: the pickle holds a {kind}, not gensim word vectors")
    words = _words(path, obj, bad)
    if "FastText" in obj.gensim_class:
        matrix = _fasttext_vectors(path, obj, prefix, words)
    else:
        matrix = _vectors(path, obj, prefix, _VECTOR_KEYS)
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise UsageError(f"{path}: {len(words):,} words but vectors of shape {tuple(matrix.shape)}")
    return words, matrix, {"gensim_class": kind}


def _words(path: Path, kv: _Record, bad: dict | None = None) -> list[bytes]:
    from genai_cli.vectors.readers import MAX_WORDS, clean_word

    for key in _WORD_KEYS:
        words = kv.get(key)
        if words is not None:
            break
    else:
        vocab = kv.get("vocab")  # gensim < 1.0: only a dict word -> Vocab(index, count)
        if not isinstance(vocab, dict):
            raise UsageError(f"{path}: the gensim file has no vocabulary (index_to_key)")
        try:
            words = [w for w, _ in sorted(vocab.items(), key=lambda item: item[1].get("index"))]
        except Exception:
            raise UsageError(f"{path}: the gensim file's vocabulary is damaged") from None
    if not isinstance(words, list) or not 0 < len(words) <= MAX_WORDS:
        raise UsageError(f"{path}: the gensim vocabulary is not a list of 1 to {MAX_WORDS:,} words")
    out = []
    for i, w in enumerate(words):
        if isinstance(w, str):
            w = w.encode("utf-8", errors="backslashreplace")
        if not isinstance(w, bytes):
            raise UsageError(f"{path}: vocabulary entry {i + 1:,} is a {type(w).__name__}, not a word")
        out.append(clean_word(path, w, f"vocabulary entry {i + 1:,}", bad))
    return out


def _fasttext_vectors(path: Path, kv: _Record, prefix: str, words: list[bytes]) -> np.ndarray:
    """gensim 4 FastTextKeyedVectors: `vectors` is not saved; it is rebuilt as gensim's
    `adjust_vectors` does (the mean of the word's row and its n-gram buckets' rows)."""
    from genai_cli.vectors.readers import subword_hashes

    minn, maxn, bucket = kv.get("min_n"), kv.get("max_n"), kv.get("bucket")
    if kv.get("compatible_hash") is not True:
        raise UsageError(
            f"{path}: a FastText file from gensim before 3.8 (its n-gram hash differs); "
            "genai reads fastText vectors from .bin or .vec files",
            hint="gensim 4 cannot load it either; " + _convert_hint(path, "the gensim 3.x that wrote it"),
        )
    if not all(isinstance(v, int) for v in (minn, maxn, bucket)) or not (
        0 <= minn <= maxn <= 100 and 0 <= bucket <= 100_000_000
    ):
        raise UsageError(f"{path}: the FastText settings are impossible (min_n, max_n, bucket)")
    vocab = _vectors(path, kv, prefix, ("vectors_vocab",))
    ngrams = _vectors(path, kv, prefix, ("vectors_ngrams",))
    if vocab.shape[0] != len(words) or ngrams.shape[1] != vocab.shape[1] or (bucket and ngrams.shape[0] != bucket):
        raise UsageError(f"{path}: the FastText arrays do not fit together")
    out = np.empty(vocab.shape, dtype=np.float32)
    for i, w in enumerate(words):
        hashes = [h % bucket for h in subword_hashes(w, minn, maxn)] if bucket else []
        rows = np.concatenate([vocab[i : i + 1], ngrams[hashes]]) if hashes else vocab[i : i + 1]
        out[i] = rows.mean(axis=0, dtype=np.float32)
    return out


def _vectors(path: Path, kv: _Record, prefix: str, keys: tuple[str, ...]) -> np.ndarray:
    from genai_cli.files import require_regular_file

    separate = kv.get("__numpys") or []
    for key in keys:
        if key in separate:
            if (kv.get("__scipys") or []) or not isinstance(separate, list):
                raise UsageError(f"{path}: unexpected sparse companion arrays")
            companion = path.with_name(f"{path.name}.{prefix}{key}.npy")
            require_regular_file(companion, "companion array file")
            try:
                arr = np.load(companion, mmap_mode="r", allow_pickle=False)
            except ValueError as e:
                raise UsageError(f"{companion}: not a plain numpy array file ({_clip(e, 100)})") from None
            except OSError as e:
                raise UsageError(f"{companion}: cannot read it ({e.strerror or e})") from None
            break
        arr = kv.get(key)
        if arr is not None:
            break
    else:
        raise UsageError(f"{path}: the gensim file holds no vectors")
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f" or arr.ndim != 2:
        raise UsageError(f"{path}: the vectors are not a 2-D float array")
    return arr
