"""Hostile word-vector files (issue 11): every payload is built here, at test time.

Each test asserts the refusal contract (exit 2, empty stdout, one `error:` line naming the file
or value), that no payload ran (the `canary` fixture), and that nothing was left behind.
The code-running pickle routes (ROUTES) are first proven live: a plain `pickle.load` of the
same bytes, in a child process, does create a proof file, so a refusal is not the payload's
own fault.
"""

from __future__ import annotations

import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.hostile.conftest import assert_refused, pickle_payload

WORDS = ["alpha", "beta", "gamma", "delta"]


def _vectors(n: int = 4, dim: int = 4) -> np.ndarray:
    return np.random.default_rng(7).standard_normal((n, dim)).astype(np.float32)


def _w2v_text(words=WORDS, matrix=None) -> bytes:
    matrix = _vectors(len(words)) if matrix is None else matrix
    rows = [w.encode() + b" " + " ".join(repr(float(x)) for x in row).encode() for w, row in zip(words, matrix)]
    return f"{len(words)} {matrix.shape[1]}\n".encode() + b"\n".join(rows) + b"\n"


def _w2v_binary(words=WORDS, matrix=None) -> bytes:
    matrix = _vectors(len(words)) if matrix is None else matrix
    out = f"{len(words)} {matrix.shape[1]}\n".encode()
    for w, row in zip(words, matrix):
        out += w.encode() + b" " + row.astype("<f4").tobytes() + b"\n"
    return out


def _glove(words=WORDS, matrix=None) -> bytes:
    return _w2v_text(words, matrix).split(b"\n", 1)[1]


def _kv(words=WORDS, matrix=None):
    from gensim.models import KeyedVectors

    matrix = _vectors(len(words)) if matrix is None else matrix
    kv = KeyedVectors(vector_size=matrix.shape[1])
    kv.add_vectors(list(words), matrix)
    return kv


def _fasttext_bin(path: Path) -> None:
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText([WORDS] * 20, vector_size=4, min_count=1, epochs=1, workers=1, seed=1, bucket=100)
    save_facebook_model(model, str(path))


def _store_dirs(cache: Path) -> list[Path]:
    root = cache / "vectors"
    return sorted(root.iterdir()) if root.exists() else []


def _prove_live(route: str, tmp_path: Path) -> None:
    """The route's payload really runs code under a plain unpickler (in a child process)."""
    proof = tmp_path / "proof-the-payload-is-live"
    data = tmp_path / "payload.bin"
    data.write_bytes(_payload(route, f"touch {proof}"))
    subprocess.run(
        [sys.executable, "-c", "import pickle,sys; pickle.load(open(sys.argv[1],'rb'))", str(data)], capture_output=True
    )
    assert proof.exists(), "the payload does not run code even under plain pickle: the test proves nothing"
    data.unlink()


def _unicode(s: str) -> bytes:
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b if len(b) < 256 else b"X" + struct.pack("<I", len(b)) + b


def _payload(route: str, command: str) -> bytes:
    """A pickle that runs the shell `command` through `route`."""
    cmd = _unicode(command)
    if route == "os.system":
        return b"\x80\x04" + _unicode("os") + _unicode("system") + b"\x93" + cmd + b"\x85R."
    if route == "dotted":  # STACK_GLOBAL attribute walking through a gensim module's globals
        return b"\x80\x04" + _unicode("gensim.utils") + _unicode("os.system") + b"\x93" + cmd + b"\x85R."
    if route == "dotted-deep":  # two modules deep: keyedvectors -> utils -> os
        return (
            b"\x80\x04"
            + _unicode("gensim.models.keyedvectors")
            + _unicode("utils.os.system")
            + b"\x93"
            + cmd
            + b"\x85R."
        )
    if route == "dotted-subprocess":
        return b"\x80\x04" + _unicode("gensim.utils") + _unicode("subprocess.getoutput") + b"\x93" + cmd + b"\x85R."
    if route == "dotted-builtins":  # builtins.eval reached through gensim.utils -> inspect -> builtins
        code = _unicode(f"__import__('os').system({command!r})")
        return b"\x80\x04" + _unicode("gensim.utils") + _unicode("inspect.builtins.eval") + b"\x93" + code + b"\x85R."
    if route in ("eval", "exec"):
        code = _unicode(f"__import__('os').system({command!r})")
        return b"\x80\x04" + _unicode("builtins") + _unicode(route) + b"\x93" + code + b"\x85R."
    if route == "getattr":
        imp = _unicode("builtins") + _unicode("__import__") + b"\x93" + _unicode("os") + b"\x85R"
        fn = _unicode("builtins") + _unicode("getattr") + b"\x93" + imp + _unicode("system") + b"\x86R"
        return b"\x80\x04" + fn + cmd + b"\x85R."
    if route == "protocol2-global":  # the old GLOBAL opcode, as in gensim 3.x files
        return b"\x80\x02cposix\nsystem\n" + b"X" + struct.pack("<I", len(command)) + command.encode() + b"\x85R."
    raise AssertionError(route)


ROUTES = [
    "os.system",
    "dotted",
    "dotted-deep",
    "dotted-subprocess",
    "dotted-builtins",
    "eval",
    "exec",
    "getattr",
    "protocol2-global",
]


@pytest.mark.parametrize("route", ROUTES)
def test_pickle_routes_are_refused(cli, tmp_path, canary, session_cache, route):
    _prove_live(route, tmp_path)
    path = tmp_path / "vectors.kv"
    path.write_bytes(_payload(route, f"touch {canary}"))
    before = _store_dirs(session_cache)
    r = cli("embed", "similar", "alpha", "--vectors", str(path))  # sniffed as a gensim pickle
    line = assert_refused(r, str(path))
    assert "refusing" in line
    assert _store_dirs(session_cache) == before


def test_conftest_payload_is_refused(cli, tmp_path, canary):
    path = tmp_path / "plain.kv"
    path.write_bytes(pickle_payload(canary))
    assert_refused(cli("embed", "vector", "alpha", "--vectors", str(path), "--format", "gensim"), str(path))


@pytest.mark.parametrize(
    "module,name",
    [
        ("gensim.utils", "SaveLoad"),  # a gensim class, but not data
        ("gensim.corpora.mmcorpus", "MmCorpus"),  # reads the file named in its argument
        ("gensim.models.keyedvectors", "pseudorandom_weak_vector"),  # a gensim function
        ("numpy", "load"),
        ("subprocess", "Popen"),
        ("builtins", "__import__"),
        ("copyreg", "__newobj__"),
    ],
)
def test_globals_outside_the_allow_list_are_refused(cli, tmp_path, canary, module, name):
    payload = b"\x80\x04" + _unicode(module) + _unicode(name) + b"\x93" + _unicode(str(canary)) + b"\x85R."
    path = tmp_path / "other.kv"
    path.write_bytes(payload)
    line = assert_refused(cli("embed", "vector", "alpha", "--vectors", str(path)), str(path))
    assert f"{module}.{name}" in line


def test_reconstructor_only_builds_stand_ins(cli, tmp_path, canary):
    # copyreg._reconstructor(cls, base, state) calls base.__init__(obj, state): not for real classes
    payload = b"\x80\x02ccopy_reg\n_reconstructor\nq\x00cbuiltins\nset\nq\x01cbuiltins\nset\nq\x02" + b"]q\x03\x87R."
    path = tmp_path / "recon.kv"
    path.write_bytes(payload)
    assert_refused(cli("embed", "vector", "alpha", "--vectors", str(path)), str(path))


def test_companion_npy_pickle_never_runs(cli, tmp_path, canary):
    """A clean .kv whose NAME.kv.vectors.npy is a pickled object array (gensim would pickle.load it)."""
    path = tmp_path / "clean.kv"
    _kv().save(str(path), separately=["vectors"])
    companion = tmp_path / "clean.kv.vectors.npy"
    assert companion.exists()

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {canary}",))

    arr = np.empty(1, dtype=object)
    arr[0] = Boom()
    with open(companion, "wb") as f:
        np.save(f, arr, allow_pickle=True)
    line = assert_refused(cli("embed", "vector", "alpha", "--vectors", str(path)), str(companion))
    assert "not a plain numpy array" in line


def test_companion_that_is_a_folder_or_missing(cli, tmp_path):
    path = tmp_path / "split.kv"
    _kv().save(str(path), separately=["vectors"])
    companion = tmp_path / "split.kv.vectors.npy"
    companion.unlink()
    assert_refused(cli("embed", "vector", "alpha", "--vectors", str(path)), str(companion))
    companion.mkdir()
    assert_refused(cli("embed", "vector", "alpha", "--vectors", str(path)), str(companion))


@pytest.mark.parametrize("separately", [False, True])
def test_real_gensim_keyedvectors_still_load(cli, tmp_path, separately):
    matrix = _vectors(50, 8)
    words = [f"w{i}" for i in range(50)]
    kv = _kv(words, matrix)
    path = tmp_path / "real.kv"
    kv.save(str(path), separately=["vectors"] if separately else None)
    assert (tmp_path / "real.kv.vectors.npy").exists() == separately
    for w in ("w0", "w17", "w49"):
        r = cli("embed", "vector", w, "--vectors", str(path), "--json")
        assert r.exit_code == 0, r
        assert json.loads(r.stdout)["vector"] == pytest.approx(kv[w].tolist(), rel=1e-6)
    r = cli("embed", "similar", "w3", "--vectors", str(path), "--json", "-n", "5")
    assert r.exit_code == 0, r
    ours = [(x["word"], x["score"]) for x in json.loads(r.stdout)["results"]]
    theirs = kv.most_similar("w3", topn=5)
    assert [w for w, _ in ours] == [w for w, _ in theirs]
    assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], abs=1e-5)


def test_whole_word2vec_model_reads_its_wv(cli, tmp_path):
    from gensim.models import Word2Vec

    model = Word2Vec([WORDS] * 30, vector_size=6, min_count=1, epochs=1, workers=1, seed=1)
    path = tmp_path / "w2v.model"
    model.save(str(path))
    r = cli("embed", "vector", "gamma", "--vectors", str(path), "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["vector"] == pytest.approx(model.wv["gamma"].tolist(), rel=1e-6)


# --- unbounded headers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fmt,data",
    [
        ("word2vec", b"1000000000000 300\nthe 0.1 0.2\n"),
        ("word2vec", b"3 1000000000\nthe 0.1 0.2\n"),
        ("word2vec-binary", b"1000000000000 300\nthe " + b"\0" * 1200),
        ("word2vec-binary", b"5 300\nthe " + b"\0" * 1200),  # 5 rows cannot fit in the file
    ],
)
def test_header_claims_are_checked_before_allocating(cli, tmp_path, fmt, data):
    path = tmp_path / f"huge.{fmt}"
    path.write_bytes(data)
    line = assert_refused(cli("embed", "vector", "the", "--vectors", str(path), "--format", fmt), str(path))
    assert "claims" in line


def test_fasttext_header_claims_are_checked(cli, tmp_path):
    path = tmp_path / "ft.bin"
    _fasttext_bin(path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<3i", data, 8 + 48 + 8, 2_000_000_000, 2_000_000_000, 0)  # size, nwords, nlabels
    path.write_bytes(bytes(data))
    line = assert_refused(cli("embed", "vector", "alpha", "--vectors", str(path)), str(path))
    assert "claims" in line


def test_binary_word_without_end_is_bounded(cli, tmp_path):
    path = tmp_path / "noword.bin"
    path.write_bytes(b"2 4\n" + b"x" * 200_000)
    assert_refused(cli("embed", "vector", "x", "--vectors", str(path), "--format", "word2vec-binary"), str(path))


# --- duplicates, NaN, inf ----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_duplicate_words_keep_the_first(cli, tmp_path, fmt):
    words = ["alpha", "beta", "alpha", "gamma"]
    matrix = _vectors(4)
    data = {"word2vec": _w2v_text, "word2vec-binary": _w2v_binary, "glove": _glove}[fmt](words, matrix)
    path = tmp_path / f"dup.{fmt}"
    path.write_bytes(data)
    r = cli("embed", "vector", "alpha", "--vectors", str(path), "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["vector"] == pytest.approx(matrix[0].tolist(), rel=1e-6)
    assert "repeated word" in r.stderr and "'alpha'" in r.stderr
    r = cli("embed", "similar", "beta", "--vectors", str(path), "--json", "-n", "5")
    assert r.exit_code == 0, r
    text = r.stdout
    assert "None" not in text and "alpha#2" not in text
    assert text.count('"alpha"') == 1


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove", "gensim"])
def test_nan_and_inf_are_refused(cli, tmp_path, fmt, bad):
    matrix = _vectors(4)
    matrix[2, 1] = float(bad)
    path = tmp_path / f"bad.{fmt}"
    if fmt == "gensim":
        _kv(WORDS, matrix).save(str(path))
    else:
        path.write_bytes({"word2vec": _w2v_text, "word2vec-binary": _w2v_binary, "glove": _glove}[fmt](WORDS, matrix))
    line = assert_refused(cli("embed", "vector", "alpha", "--vectors", str(path)), str(path))
    assert "NaN or infinite" in line and "gamma" in line


# --- clear errors ----------------------------------------------------------------------------------


def test_folder_as_vectors(cli, tmp_path):
    assert_refused(cli("embed", "similar", "alpha", "--vectors", str(tmp_path)), str(tmp_path))


def test_fifo_as_vectors_does_not_block(cli, tmp_path):
    fifo = tmp_path / "pipe.vec"
    os.mkfifo(fifo)
    assert_refused(cli("embed", "similar", "alpha", "--vectors", str(fifo)), str(fifo))


def test_random_bytes(cli, tmp_path):
    path = tmp_path / "noise.bin"
    path.write_bytes(
        np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8).tobytes().replace(b"\x80", b"\x81")
    )
    line = assert_refused(cli("embed", "similar", "alpha", "--vectors", str(path)), str(path))
    assert "tried" in line


FORMATS = ["word2vec", "word2vec-binary", "glove", "gensim", "fasttext"]


def _valid_file(tmp_path: Path, fmt: str) -> Path:
    path = tmp_path / f"ok.{fmt}"
    if fmt == "gensim":
        _kv().save(str(path))
    elif fmt == "fasttext":
        _fasttext_bin(path)
    else:
        path.write_bytes({"word2vec": _w2v_text, "word2vec-binary": _w2v_binary, "glove": _glove}[fmt]())
    return path


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("damage", ["truncated", "zeroed", "empty"])
@pytest.mark.parametrize("explicit", [False, True])
def test_damaged_files_of_each_format(cli, tmp_path, session_cache, fmt, damage, explicit):
    path = _valid_file(tmp_path, fmt)
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) * 2 // 3])
    elif damage == "zeroed":
        path.write_bytes(b"\0" * len(data))
    else:
        path.write_bytes(b"")
    args = ["--format", fmt] if explicit else []
    before = _store_dirs(session_cache)
    r = cli("embed", "vector", "alpha", "--vectors", str(path), *args)
    assert_refused(r, str(path))
    assert _store_dirs(session_cache) == before


def test_long_unknown_word_is_shortened(cli, tmp_path):
    word = "x" * 100_000
    r = cli("embed", "similar", word, "--vectors", "slide")
    line = assert_refused(r, "characters")
    assert len(r.stderr) < 1000 and len(line) < 300


def test_long_unknown_word_on_stdin_is_shortened(cli):
    r = cli("embed", "analogy", "--vectors", "slide", input="paris france " + "y" * 100_000 + "\n")
    assert r.exit_code == 2 and r.stdout == ""
    assert len(r.stderr) < 1000


# --- the cache -------------------------------------------------------------------------------------


def _built(cli, tmp_path, session_cache) -> tuple[Path, Path]:
    path = tmp_path / "cached.txt"
    path.write_bytes(_w2v_text(["alpha", "beta", "gamma", "delta", "epsilon"], _vectors(5, 4)))
    before = _store_dirs(session_cache)
    r = cli("embed", "similar", "alpha", "--vectors", str(path), "-n", "2")
    assert r.exit_code == 0, r
    [folder] = [d for d in _store_dirs(session_cache) if d not in before]
    return path, folder


def _damage_keeping_size_and_time(file: Path, edit) -> None:
    st = file.stat()
    data = bytearray(file.read_bytes())
    edit(data)
    file.write_bytes(bytes(data))
    os.utime(file, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert file.stat().st_size == st.st_size and file.stat().st_mtime_ns == st.st_mtime_ns


def test_zeroed_unit_rows_are_noticed(cli, tmp_path, session_cache):
    path, folder = _built(cli, tmp_path, session_cache)
    good = cli("embed", "similar", "alpha", "--vectors", str(path), "-n", "2").stdout

    def zero(data):
        data[128:] = b"\0" * (len(data) - 128)  # keep the .npy header, zero every row

    _damage_keeping_size_and_time(folder / "unit.npy", zero)
    r = cli("embed", "similar", "alpha", "--vectors", str(path), "-n", "2")
    assert r.exit_code == 0, r
    assert r.stdout == good and "0.0000" not in r.stdout
    assert "damaged" in r.stderr and "unit.npy" in r.stderr
    r = cli("embed", "similar", "alpha", "--vectors", str(path), "-n", "2")
    assert r.stderr == "" and r.stdout == good  # rebuilt once


def test_edited_vocabulary_is_noticed(cli, tmp_path, session_cache):
    path, folder = _built(cli, tmp_path, session_cache)
    _damage_keeping_size_and_time(folder / "vocab.txt", lambda d: d.__setitem__(slice(1, 6), b"bogus"))
    r = cli("embed", "similar", "beta", "--vectors", str(path), "-n", "4")
    assert r.exit_code == 0, r
    assert "bogus" not in r.stdout and "alpha" in r.stdout
    assert "damaged" in r.stderr


def test_edit_that_changes_mtime_is_noticed(cli, tmp_path, session_cache):
    path, folder = _built(cli, tmp_path, session_cache)
    vocab = folder / "vocab.txt"
    vocab.write_bytes(vocab.read_bytes().replace(b"gamma", b"gamm4"))
    r = cli("embed", "similar", "beta", "--vectors", str(path), "-n", "4")
    assert r.exit_code == 0 and "gamm4" not in r.stdout and "gamma" in r.stdout


def test_stale_temporary_folders_are_removed(cli, tmp_path, session_cache):
    root = session_cache / "vectors"
    root.mkdir(parents=True, exist_ok=True)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = root / f".interrupted-0123.tmp{child.pid}"
    dead.mkdir()
    (dead / "vectors.npy").write_bytes(b"\0" * 1000)
    alive = root / f".other-build.tmp{os.getppid()}"  # a process that is running: left alone
    alive.mkdir()
    try:
        _built(cli, tmp_path, session_cache)
        assert not dead.exists()
        assert alive.exists()
    finally:
        alive.rmdir()


def test_interrupted_build_leaves_nothing(tmp_path, monkeypatch):
    from genai_cli.vectors import store

    def interrupt(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "_unit_rows", interrupt)
    with pytest.raises(KeyboardInterrupt):
        store.write_store(tmp_path / "vectors" / "x", [b"a", b"b"], _vectors(2), {})
    assert [p.name for p in (tmp_path / "vectors").iterdir()] == []


def test_unwritable_cache_falls_back_to_memory(cli, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("GENAI_CACHE", str(blocker / "cache"))
    path = tmp_path / "v.txt"
    path.write_bytes(_w2v_text())
    for _ in range(2):
        r = cli("embed", "vector", "beta", "--vectors", str(path), "--json")
        assert r.exit_code == 0, r
        assert json.loads(r.stdout)["vector"] == pytest.approx(_vectors()[1].tolist(), rel=1e-6)
        warnings = [line for line in r.stderr.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1 and "cannot write the vector cache" in warnings[0] and str(blocker) in warnings[0]
    assert blocker.read_text().startswith("a file")


# --- stdin ---------------------------------------------------------------------------------------------


def test_empty_stdin_says_no_input(genai_exe):
    r = genai_exe("embed", "analogy", "--vectors", "slide", input="")
    assert_refused(r, "no words given", "stdin was empty")  # the wording of genai_cli.commands.queries


def test_closed_stdin_is_no_input(tmp_path):
    genai = str(Path(sys.executable).with_name("genai"))
    p = subprocess.run(
        ["bash", "-c", f"exec '{genai}' embed analogy --vectors slide <&-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert "NoneType" not in p.stderr and "isatty" not in p.stderr
    assert "no words given" in p.stderr


@pytest.mark.parametrize("fmt", ["glove", "word2vec"])
def test_endless_line_is_bounded(cli, tmp_path, fmt):
    from genai_cli.vectors.readers import MAX_LINE_BYTES

    path = tmp_path / f"endless.{fmt}"
    head = b"2 3\nalpha 1 2 3\n" if fmt == "word2vec" else b""
    path.write_bytes(head + b"beta " + b"1 " * (MAX_LINE_BYTES // 2 + 10))
    line = assert_refused(cli("embed", "vector", "alpha", "--vectors", str(path), "--format", fmt), str(path))
    assert "longer than" in line


def test_refused_gensim_model_says_how_to_convert_it(cli, tmp_path, monkeypatch):
    """A gensim model genai will not unpickle (Doc2Vec): the hint is a command that works."""
    import shlex

    from gensim.models import Doc2Vec
    from gensim.models.doc2vec import TaggedDocument

    model = Doc2Vec([TaggedDocument(WORDS, [0])] * 20, vector_size=4, min_count=1, epochs=1, workers=1, seed=1)
    path = tmp_path / "d2v.model"
    model.save(str(path))
    r = cli("embed", "vector", "alpha", "--vectors", str(path))
    assert_refused(r, str(path), "gensim.models.doc2vec.Doc2Vec")
    [hint] = [h for h in r.stderr.splitlines() if h.startswith("hint:")]
    command = hint.split("convert it with gensim: ", 1)[1].split(" and pass --vectors ")[0]
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-c"]
    monkeypatch.chdir(tmp_path)
    subprocess.run([sys.executable, "-c", argv[2]], check=True, capture_output=True)
    r = cli("embed", "vector", "alpha", "--vectors", str(tmp_path / "d2v.model.vec"), "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["vector"] == pytest.approx(model.wv["alpha"].tolist(), rel=1e-5)


def _fake_kv_pickle(state: dict) -> bytes:
    """A protocol-4 pickle of a stand-in gensim KeyedVectors holding `state` (no gensim object made)."""

    class KeyedVectors:
        pass

    KeyedVectors.__module__ = "gensim.models.keyedvectors"
    KeyedVectors.__qualname__ = "KeyedVectors"
    obj = KeyedVectors.__new__(KeyedVectors)
    obj.__dict__.update(state)
    import gensim.models.keyedvectors as real

    saved = real.KeyedVectors
    real.KeyedVectors = KeyedVectors  # so that pickle can name the class as gensim's
    try:
        return pickle.dumps(obj, protocol=4)
    finally:
        real.KeyedVectors = saved


@pytest.mark.parametrize(
    "state",
    [
        {"index_to_key": ["a", "b"], "vectors": "not an array", "__numpys": []},
        {"index_to_key": ["a", "b"], "vectors": np.zeros((3, 2), np.float32), "__numpys": []},
        {"index_to_key": ["a", "b"], "vectors": np.zeros((2, 2), np.int64), "__numpys": []},
        {"index_to_key": "ab", "vectors": np.zeros((2, 2), np.float32)},
        {"index_to_key": [1, 2], "vectors": np.zeros((2, 2), np.float32)},
        {"index_to_key": ["a", "b"], "__numpys": 5},
        {"vocab": 3},
    ],
)
def test_malformed_gensim_state_is_refused(cli, tmp_path, state):
    path = tmp_path / "odd.kv"
    path.write_bytes(_fake_kv_pickle(state))
    assert_refused(cli("embed", "vector", "a", "--vectors", str(path)), str(path))


def test_replaced_companion_array_is_noticed(cli, tmp_path):
    path = tmp_path / "split2.kv"
    kv = _kv()
    kv.save(str(path), separately=["vectors"])
    r = cli("embed", "vector", "beta", "--vectors", str(path), "--json")
    assert json.loads(r.stdout)["vector"] == pytest.approx(kv["beta"].tolist(), rel=1e-6)
    new = np.asarray(kv.vectors) * 2
    np.save(tmp_path / "split2.kv.vectors.npy", new)
    r = cli("embed", "vector", "beta", "--vectors", str(path), "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["vector"] == pytest.approx(new[1].tolist(), rel=1e-6)
