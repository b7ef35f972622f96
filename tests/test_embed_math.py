"""genai embed math: expressions of any length, gensim parity, --explain, stdin, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.hostile.conftest import assert_refused  # the bad-input contract: exit 2, empty stdout, one error line


@pytest.fixture(scope="module")
def glove_kv():
    """The built-in GloVe vectors as gensim KeyedVectors (the anchor the scores must match)."""
    from gensim.models import KeyedVectors

    from genai_cli.vectors import store

    vs = store.load("glove-6b-50d")
    kv = KeyedVectors(vector_size=vs.dim)
    kv.add_vectors(vs.words, np.asarray(vs.vectors))
    return kv


def _rows(stdout: str) -> list[tuple[str, float]]:
    return [(w, float(s)) for w, s in (line.split("\t") for line in stdout.strip().splitlines())]


def test_king_man_woman_answers_queen(cli):
    r = cli("embed", "math", "king - man + woman", "-n", "3")
    assert r.exit_code == 0, r
    rows = _rows(r.stdout)
    assert rows[0][0] == "queen"
    assert {"king", "man", "woman"}.isdisjoint(w for w, _ in rows)
    assert "error" not in r.stderr


@pytest.mark.parametrize(
    "expression, positive, negative",
    [
        ("king - man + woman", ["king", "woman"], ["man"]),
        ("paris - france + england", ["paris", "england"], ["france"]),
        ("frog", ["frog"], []),
        ("- man", [], ["man"]),
        ("tokyo - japan + germany - berlin + rome", ["tokyo", "germany", "rome"], ["japan", "berlin"]),
        (
            "walking - walk + swim + swimming - run + running",
            ["walking", "swim", "swimming", "running"],
            ["walk", "run"],
        ),
        ("king + king - man", ["king", "king"], ["man"]),
    ],
)
def test_matches_gensim_most_similar(cli, glove_kv, expression, positive, negative):
    """Same words, same order, same scores as gensim's most_similar(positive, negative) on the same vectors."""
    expected = glove_kv.most_similar(positive=positive, negative=negative, topn=10)
    r = cli("embed", "math", "-n", "10", "--json", "--", expression)  # `--`: "- man" is not an option
    assert r.exit_code == 0, r
    got = json.loads(r.stdout)
    assert [x["word"] for x in got["results"]] == [w for w, _ in expected]
    assert [x["score"] for x in got["results"]] == pytest.approx([s for _, s in expected], abs=1e-5)
    assert got["answer"] == expected[0][0]


def test_weights_match_gensim_weighted_keys(cli, glove_kv):
    """gensim takes (key, weight) pairs; `0.5*paris` is ("paris", 0.5) and `- 2*france` is ("france", -2)."""
    expected = glove_kv.most_similar(positive=[("paris", 0.5), ("france", -2.0), ("england", 1.5)], topn=8)
    r = cli("embed", "math", "0.5*paris - 2*france + 1.5 * england", "-n", "8", "--json")
    assert r.exit_code == 0, r
    got = json.loads(r.stdout)
    assert [x["word"] for x in got["results"]] == [w for w, _ in expected]
    assert [x["score"] for x in got["results"]] == pytest.approx([s for _, s in expected], abs=1e-5)
    assert got["terms"] == [
        {"word": "paris", "weight": 0.5},
        {"word": "france", "weight": -2.0},
        {"word": "england", "weight": 1.5},
    ]
    assert got["expression"] == "0.5*paris - 2*france + 1.5*england"


def test_separate_words_and_signs_glued_to_words(cli):
    one = cli("embed", "math", "king - man + woman", "-n", "5").stdout
    assert cli("embed", "math", "king", "-", "man", "+", "woman", "-n", "5").stdout == one
    assert cli("embed", "math", "-n", "5", "--", "king", "-man", "+woman").stdout == one
    assert cli("embed", "math", "King - MAN + Woman", "-n", "5").stdout == one  # lower-case vocabulary


def test_same_as_analogy_for_three_words(cli):
    a = cli("embed", "analogy", "paris", "france", "england", "-n", "5", "--json")
    m = cli("embed", "math", "paris - france + england", "-n", "5", "--json")
    assert json.loads(a.stdout)["results"] == json.loads(m.stdout)["results"]


def test_keep_inputs(cli):
    from genai_cli.vectors import store

    vs = store.load("glove-6b-50d")
    unit = np.asarray(vs.unit, dtype=np.float64)
    target = unit[vs.index("king")] - unit[vs.index("man")] + unit[vs.index("woman")]
    scores = unit @ (target / np.linalg.norm(target))
    best = np.argsort(-scores)[:4]
    r = cli("embed", "math", "king - man + woman", "-n", "4", "--keep-inputs", "--json")
    assert r.exit_code == 0, r
    got = json.loads(r.stdout)
    assert [x["word"] for x in got["results"]] == [vs.word(int(i)) for i in best]
    assert [x["score"] for x in got["results"]] == pytest.approx(scores[best].tolist(), abs=1e-5)
    assert "king" in [x["word"] for x in got["results"]]  # the input word is back
    assert got["inputs_excluded"] is False


def test_explain_is_exact_on_the_slide(cli):
    r = cli("embed", "math", "0.5*paris + 0.5*london - france", "--vectors", "slide", "--explain", "--json", "-n", "2")
    assert r.exit_code == 0, r
    ex = json.loads(r.stdout)["explain"]
    assert [(t["sign"], t["weight"], t["word"], t["vector"]) for t in ex["terms"]] == [
        ("", 0.5, "paris", [1.0, 3.0]),
        ("+", 0.5, "london", [2.0, 2.5]),
        ("-", -1.0, "france", [2.0, 5.0]),
    ]
    assert ex["result"] == [-0.5, -2.25]  # 0.5*(1, 3) + 0.5*(2, 2.5) - (2, 5), exactly
    text = cli("embed", "math", "paris - france + england", "--vectors", "slide", "--explain", "-n", "3").stdout
    assert "= result" in text and "[2.00, 2.50]" in text
    assert "  london                     1.0000    0.0000" in text  # lands exactly on london
    assert "input words excluded" in text and text.rstrip().endswith("rome\t0.8173")


def test_stdin_one_line_per_expression(cli):
    r = cli("embed", "math", "-n", "2", input="king - man + woman\n\nparis - france + england\n")
    assert r.exit_code == 0, r
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].split()[0] == "queen" and lines[1].split()[0] == "melbourne"


def test_stdin_bad_lines_reported_rest_answered(cli):
    r = cli(
        "embed", "math", "-", "-n", "1", input="king - man + woman\nparis - france +\nnan*paris\nking - qzxqzxw\nfrog\n"
    )
    assert r.exit_code == 2
    assert [line.split()[0] for line in r.stdout.splitlines()] == ["queen", "snake"]
    assert "line 2: dangling operator '+'" in r.stderr
    assert "line 3: the weight 'nan' is not a finite number" in r.stderr
    assert "line 4: unknown word 'qzxqzxw'" in r.stderr


def test_stdin_json_error_objects(cli):
    r = cli("embed", "math", "--json", "-n", "1", input="king - man + woman\nenglnd + paris\n")
    assert r.exit_code == 2
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert objs[0]["answer"] == "queen" and objs[0]["expression"] == "king - man + woman"
    assert objs[1]["query"] == ["englnd", "+", "paris"] and "englnd" in objs[1]["error"]
    assert "england" in objs[1]["suggestions"]


@pytest.mark.parametrize(
    "expression, named",
    [
        ("paris - france + englnd", "'englnd'"),  # unknown word (with suggestions, checked below)
        ("", "empty expression"),
        ("king - man +", "dangling operator '+'"),
        ("- ", "dangling operator '-'"),
        ("king + - man", "two operators in a row"),
        ("king man", "missing + or - before 'man'"),
        ("nan*king - man", "'nan' is not a finite number"),
        ("inf*king", "'inf' is not a finite number"),
        ("1e999*king", "'1e999' is not a finite number"),
        ("abc*king", "'abc' is not a number"),
        ("0.5*", "has no word after its '*'"),
        ("*king", "'*' must join a number and a word"),
        ("king - king", "the terms cancel out"),
        (" + ".join(["king"] * 101), "more than 100 terms"),
    ],
)
def test_bad_expression_exit_2_naming_it(cli, expression, named):
    r = cli("embed", "math", "--", expression)
    line = assert_refused(r, named)
    if "englnd" in expression:
        assert "england" in r.stderr  # a suggestion on the hint line
        assert "englnd" in line


def test_operators_without_spaces_get_a_hint(cli):
    r = cli("embed", "math", "king-man+woman")
    assert_refused(r, "unknown word 'king-man+woman'")
    assert "hint: put spaces around + and - between words" in r.stderr


def test_long_expression_is_refused_before_parsing(cli):
    r = cli("embed", "math", "king " + "+ queen " * 2000)
    assert_refused(r, "characters; at most 10,000")


def test_real_entry_point_through_a_pipe(genai_exe):
    r = genai_exe("embed", "math", "-n", "1", input="king - man + woman\nparis - france + englnd\n")
    assert r.exit_code == 2
    assert r.stdout == "queen 0.8524\n"
    assert "line 2: unknown word 'englnd'" in r.stderr and "england" in r.stderr
