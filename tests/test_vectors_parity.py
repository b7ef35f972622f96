"""genai's vector readers against gensim's own loaders, on the word-vector files gensim ships in
its wheel (gensim/test/test_data): word2vec text and binary, GloVe, fastText .vec and .bin in
the old and new layouts, non-ASCII and cp852 vocabularies, Poincaré vectors, old pickles.

For each file the list below says what gensim does with it and what genai must do:

* "same": both read it; genai has the same vocabulary (order included), dimension, vectors
  (float32, to 1e-6) and top-5 neighbours (cosine, with scores) of several words as gensim's
  loader + `most_similar`, through the installed `genai embed similar/vector` commands;
* "ascii-same": as "same" for words whose bytes are ASCII (see the reason);
* "genai-only": gensim 4 cannot read the file any more; genai reads it, checked against the
  separately saved array in the same folder;
* "refused": genai gives exit 2 with one line naming the file and the reason (gensim fails too,
  or reads something genai will not load); never a wrong answer.

`test_every_vector_file_is_listed` keeps the list complete as gensim adds files.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest

gensim = pytest.importorskip("gensim")
DATA = Path(gensim.__file__).parent / "test" / "test_data"

# file: (gensim loader, outcome, reason)
CASES = {
    "EN.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt": (
        "text",
        "same",
        "word2vec text: 300 long high-precision floats a line",
    ),
    "IT.1-10.cbow1_wind5_hs0_neg10_size300_smpl1e-05.txt": ("text", "same", "word2vec text, Italian words"),
    "lee_fasttext.bin": ("facebook", "same", "fastText .bin, older layout (no magic number)"),
    "lee_fasttext_new.bin": ("facebook", "same", "fastText .bin, new layout (magic number, pruneidx -1)"),
    "lee_fasttext.vec": ("text", "same", "fastText .vec (word2vec text)"),
    "non_ascii_fasttext.bin": ("facebook", "same", "fastText .bin with a UTF-8 non-ASCII vocabulary"),
    "cp852_fasttext.bin": (
        "facebook-cp852",
        "ascii-same",
        "cp852 vocabulary: genai cannot know the encoding, so non-UTF-8 bytes are shown as \\x escapes "
        "(gensim's default, unicode_errors=backslashreplace); n-grams are hashed from the bytes as "
        "stored, as fastText does. gensim with encoding='cp852' hashes the UTF-8 re-encoding instead, "
        "so only ASCII words can agree",
    ),
    "old_keyedvectors_320.dat": ("pickle", "same", "gensim 3.2 EuclideanKeyedVectors pickle (syn0, vocab)"),
    "model-from-gensim-3.8.0.w2v": ("pickle", "same", "a whole gensim 3.8 Word2Vec model: its wv"),
    "word2vec_old": ("pickle", "same", "gensim 1.x Word2Vec model with EuclideanKeyedVectors"),
    "word2vec_old_sep": ("pickle", "same", "the same, arrays in companion .npy files"),
    "word2vec_3.3": ("pickle", "same", "gensim 3.3 Word2Vec model"),
    "word2vec_pre_kv_c": ("text", "same", "word2vec text written by the C tool"),
    "poincare_vectors.bin": (
        "binary",
        "same",
        "Poincaré vectors saved as word2vec binary (cosine neighbours, as gensim's KeyedVectors)",
    ),
    "euclidean_vectors.bin": ("binary", "same", "word2vec binary"),
    "high_precision.kv.bin": ("binary", "same", "word2vec binary, float32 edge values"),
    "high_precision.kv.txt": ("text", "same", "word2vec text, many digits"),
    "test_glove.txt": ("glove", "same", "GloVe text (no header), non-ASCII words"),
    "toy-model.bin": ("facebook", "same", "fastText .bin"),
    "toy-model.vec": ("text", "same", "fastText .vec"),
    "toy-model-pretrained.bin": ("facebook", "same", "fastText .bin whose vocabulary holds an empty word"),
    "crime-and-punishment.bin": ("facebook", "same", "fastText .bin, Cyrillic vocabulary"),
    "crime-and-punishment.vec": ("text", "same", "fastText .vec, Cyrillic vocabulary"),
    "pang_lee_polarity_fasttext.vec": (
        "text-escaped",
        "same",
        "word2vec text with bytes that are not UTF-8 (gensim: unicode_errors='backslashreplace')",
    ),
    "w2v_keyedvectors_load_test.modeldata": (
        "text-escaped",
        "same",
        "word2vec text with a UTF-8 sequence cut inside a word",
    ),
    # gensim 4 can no longer open these (Word2Vec from before KeyedVectors: no `wv`); genai reads syn0
    "w2v-lee-v0.12.0": ("none", "genai-only", "gensim 0.12 Word2Vec pickle, vectors in syn0 on the model"),
    "word2vec_pre_kv_py2": ("none", "genai-only", "pre-KeyedVectors Word2Vec pickled by Python 2"),
    "word2vec_pre_kv_py3": ("none", "genai-only", "pre-KeyedVectors Word2Vec pickled by Python 3"),
    "word2vec_pre_kv_py3_4": (
        "none",
        "genai-only",
        "pre-KeyedVectors Word2Vec pickled by Python 3.4 (UserString.defaultdict)",
    ),
    "word2vec_pre_kv_sep_py2": ("none", "genai-only", "the same with syn0 in NAME.syn0.npy"),
    "word2vec_pre_kv_sep_py3": ("none", "genai-only", "the same with syn0 in NAME.syn0.npy"),
    "word2vec_pre_kv_sep_py3_4": ("none", "genai-only", "the same with syn0 in NAME.syn0.npy"),
    # refused, with the reason in the message
    "pretrained.vec": (
        "text",
        "refused:promises 3 words",
        "the header promises 3 words, the file holds 1 (gensim: EOFError)",
    ),
    "pang_lee_polarity_fasttext.bin": (
        "facebook",
        "refused:supervised",
        "a supervised classifier (gensim: NotImplementedError)",
    ),
    "fasttext_old": (
        "pickle",
        "refused:before 3.8",
        "gensim < 3.8 FastText: another n-gram hash (gensim 4 cannot load it either)",
    ),
    "fasttext_old_sep": ("pickle", "refused:before 3.8", "the same, arrays in companion files"),
    "ft_model_2.3.0": (
        "pickle",
        "refused:gensim.models.wrappers.fasttext.FastText",
        "a wrapper class gensim 4 no longer has",
    ),
    "ft_kv_3.6.0.model.gz": (
        "pickle",
        "refused:compressed",
        "gzip-compressed pickle of a pre-3.8 FastText (gensim: TypeError)",
    ),
    "poincare_test_3.4.0": (
        "pickle",
        "refused:PoincareModel",
        "a Poincaré model: hyperbolic distance, not cosine word vectors",
    ),
    "varembed_vectors.pkl": (
        "pickle",
        "refused:cannot tell",
        "a protocol-0 pickle of a plain dict (gensim cannot load it)",
    ),
}

# Files in test_data that are not word vectors (corpora, topic models, doc2vec, phrases ...).
NOT_WORD_VECTORS_PREFIXES = (
    "DTM",
    "OPUS_",
    "PathLineSentences",
    "alldata-id",
    "atmodel",
    "bgwiki",
    "compatible-hash-true",
    "d2v-",
    "doc2vec",
    "dtm_",
    "ensemblelda",
    "enwiki",
    "fb-ngrams",
    "head500",
    "large_tag_doc",
    "lda",
    "lee.cor",
    "lee_background",
    "miIslita",
    "mini_newsgroup",
    "nmf_model",
    "old_d2v",
    "old_w2v_models",
    "pang_lee_polarity.cor",
    "para2para",
    "phrase",
    "poincare_cp852",
    "poincare_hypernyms",
    "poincare_utf8",
    "pre_0_13_2",
    "questions-words",
    "reproduce.dat",
    "similarities0-1",
    "simlex999",
    "small_tag_doc",
    "test_corpus",
    "test_mmcorpus",
    "testcorpus",
    "tfidf_model",
    "toy-data",
    "varembed_lee",
    "varembed_morfessor",
    "wordsim353",
    "crime-and-punishment.txt",
)
COMPANIONS = (".npy", ".vocab")  # arrays and vocabularies saved beside a main file
NOT_WORD_VECTORS = {"lee_fasttext": "the corpus lee_fasttext.bin was trained on"}


def _gensim_kv(name: str, loader: str):
    from gensim.models import KeyedVectors
    from gensim.models.fasttext import load_facebook_vectors
    from gensim.utils import SaveLoad

    path = str(DATA / name)
    logging.disable(logging.CRITICAL)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if loader == "facebook":
            return load_facebook_vectors(path)
        if loader == "facebook-cp852":
            return load_facebook_vectors(path, encoding="cp852")
        if loader in ("text", "text-escaped", "glove"):
            return KeyedVectors.load_word2vec_format(
                path,
                binary=False,
                no_header=loader == "glove",
                unicode_errors="backslashreplace" if loader == "text-escaped" else "strict",
            )
        if loader == "binary":
            return KeyedVectors.load_word2vec_format(path, binary=True)
        obj = SaveLoad.load(path)  # gensim's own test data: trusted here, never in genai
        return obj if isinstance(obj, KeyedVectors) else obj.wv


@pytest.fixture(scope="module")
def genai_read():
    from genai_cli.vectors.store import read_file

    cache = {}

    def read(name):
        if name not in cache:
            cache[name] = read_file(DATA / name)
        return cache[name]

    return read


def _query_words(words: list[str], ascii_only: bool = False) -> list[str]:
    pool = [
        w for w in words if w.strip() == w and w and " " not in w and (w.isascii() or not ascii_only) and "\\x" not in w
    ]
    picks = pool[:3] + pool[len(pool) // 2 : len(pool) // 2 + 1] + pool[-1:]
    return list(dict.fromkeys(picks))


def _neighbours(cli, name: str, word: str) -> list[tuple[str, float]]:
    r = cli("embed", "similar", word, "--vectors", str(DATA / name), "-n", "5", "--json")
    assert r.exit_code == 0, r
    return [(x["word"], x["score"]) for x in json.loads(r.stdout)["results"]]


def _same_ranking(ours, theirs, tol=1e-4):
    """Same scores, and the same words except where gensim's scores tie (order within a tie is free)."""
    assert [s for _, s in ours] == pytest.approx([float(s) for _, s in theirs], abs=tol)
    for i, ((w1, _s1), (w2, s2)) in enumerate(zip(ours, theirs)):
        tied = any(abs(float(s2) - float(s)) < tol for j, (_, s) in enumerate(theirs) if j != i)
        if not tied:
            assert w1 == w2, (ours, theirs)


SAME = [n for n, (_, outcome, _) in CASES.items() if outcome in ("same", "ascii-same")]


@pytest.mark.parametrize("name", SAME)
def test_same_as_gensim(cli, genai_read, name):
    loader, outcome, reason = CASES[name]
    kv = _gensim_kv(name, loader)
    words, matrix, meta = genai_read(name)
    assert matrix.shape == (len(kv.index_to_key), kv.vector_size), reason
    ascii_only = outcome == "ascii-same"
    if not ascii_only:
        assert words == list(kv.index_to_key), reason
        np.testing.assert_allclose(matrix, kv.vectors, rtol=1e-6, atol=1e-7)
    else:
        both = [w for w in words if _plain(w) and w in kv.key_to_index]
        assert len(both) > len(words) // 2
        for w in both:
            np.testing.assert_allclose(matrix[words.index(w)], kv[w], rtol=1e-6, atol=1e-7)
    for word in _query_words(words, ascii_only)[:4]:
        r = cli("embed", "vector", word, "--vectors", str(DATA / name), "--json")
        assert r.exit_code == 0, r
        np.testing.assert_allclose(json.loads(r.stdout)["vector"], kv[word], rtol=1e-5, atol=1e-6)
        theirs = kv.most_similar(word, topn=5)
        if ascii_only:  # only neighbours whose vectors agree can be compared
            theirs = [(w, s) for w, s in kv.most_similar(word, topn=len(words)) if _plain(w)][:5]
            ours = [(w, s) for w, s in _neighbours_all(cli, name, word, len(words)) if _plain(w)][:5]
        else:
            ours = _neighbours(cli, name, word)
        _same_ranking(ours, theirs)


def _plain(word: str) -> bool:
    """ASCII, and not a \\x escape of bytes that are not UTF-8."""
    return word.isascii() and "\\x" not in word


def _neighbours_all(cli, name, word, n):
    r = cli("embed", "similar", word, "--vectors", str(DATA / name), "-n", str(n), "--json")
    assert r.exit_code == 0, r
    return [(x["word"], x["score"]) for x in json.loads(r.stdout)["results"]]


GENAI_ONLY = [n for n, (_, outcome, _) in CASES.items() if outcome == "genai-only"]


@pytest.mark.parametrize("name", GENAI_ONLY)
def test_pre_keyedvectors_pickles(cli, genai_read, name):
    """gensim 4 fails on these (no `wv`); the vectors genai reads are the saved syn0 array."""
    words, matrix, _ = genai_read(name)
    sep = (
        DATA / (name.replace("_pre_kv_", "_pre_kv_sep_") + ".syn0.npy")
        if "_sep_" not in name
        else DATA / f"{name}.syn0.npy"
    )
    if sep.exists():
        np.testing.assert_array_equal(matrix, np.load(sep, allow_pickle=False))
        _, sep_matrix, _ = genai_read(sep.name[: -len(".syn0.npy")])
        np.testing.assert_array_equal(matrix, sep_matrix)
    assert len(words) == matrix.shape[0] > 0 and len(set(words)) == len(words)
    word = words[0]
    r = cli("embed", "vector", word, "--vectors", str(DATA / name), "--json")
    assert r.exit_code == 0, r
    np.testing.assert_allclose(json.loads(r.stdout)["vector"], matrix[0], rtol=1e-6)


REFUSED = [n for n, (_, outcome, _) in CASES.items() if outcome.startswith("refused")]


@pytest.mark.parametrize("name", REFUSED)
def test_refused_with_a_clear_error(cli, name):
    from tests.hostile.conftest import assert_refused

    fragment = CASES[name][1].split(":", 1)[1]
    line = assert_refused(cli("embed", "similar", "the", "--vectors", str(DATA / name)), str(DATA / name))
    assert fragment in line, (line, CASES[name][2])


def test_every_vector_file_is_listed():
    unlisted = []
    for path in sorted(DATA.iterdir()):
        name = path.name
        if name in CASES or name in NOT_WORD_VECTORS or name.endswith(COMPANIONS) or path.is_dir():
            continue
        if name.startswith(NOT_WORD_VECTORS_PREFIXES):
            continue
        unlisted.append(name)
    assert not unlisted, f"files in gensim's test_data with no expected outcome here: {unlisted}"


def test_issue_20_lee_fasttext_answers_as_gensim(cli):
    """The issue's example: the older fastText layout, sniffed without --format."""
    kv = _gensim_kv("lee_fasttext.bin", "facebook")
    for word in ("night", "government", "said"):
        theirs = kv.most_similar(word, topn=3)
        r = cli("embed", "similar", word, "--vectors", str(DATA / "lee_fasttext.bin"), "-n", "3", "--json")
        assert r.exit_code == 0, r
        ours = [(x["word"], x["score"]) for x in json.loads(r.stdout)["results"]]
        _same_ranking(ours, theirs)
