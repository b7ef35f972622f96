"""genai embed contextual: one vector per occurrence of a word, from a Transformer's hidden states.

Most tests use tiny random models written at test time: a causal Llama (tests/tiny_lm.py,
byte-level tokens) and a BERT encoder (below). One test runs the built-in SmolLM2-135M on the
talk's *bank* sentences (the first test to use it converts the GGUF once into the session cache).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.hostile.conftest import assert_refused  # exit 2, empty stdout, one error line naming the value

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import write_tiny_lm  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BERT_WORDS = "the a bank river money is was open closed sat on at by she he deposited cash approved loan".split()


def write_tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A tiny random BERT encoder (it sees both sides of a word) with a whole-word WordPiece vocabulary."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BERT_WORDS]
    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)})  # transformers 5 takes the vocabulary itself
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=4,
        max_position_embeddings=64,
        architectures=["BertModel"],
        initializer_range=0.5,
    )  # large random weights: attention far from uniform
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_causal(tmp_path_factory) -> str:
    return str(write_tiny_lm(tmp_path_factory.mktemp("ctx-lm") / "tiny-llama", context=64))


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    return str(write_tiny_bert(tmp_path_factory.mktemp("ctx-bert") / "tiny-bert"))


def _run_json(cli, *args, input=None) -> dict:
    r = cli("embed", "contextual", *args, "--json", input=input)
    assert r.exit_code == 0, r
    return json.loads(r.stdout)


# --- what the vectors are ------------------------------------------------------------------------


def test_causal_model_sees_only_the_words_before(cli, tiny_causal):
    """Same words before 'bank', different words after: a causal model gives the same vector."""
    got = _run_json(
        cli,
        "--model",
        tiny_causal,
        "--word",
        "bank",
        "the bank is open",
        "the bank was closed",
        "he sat by the river bank",
        "--layers",
    )
    assert got["causal"] is True and "only the words before" in got["note"]
    assert got["n_layers"] == 2 and got["layer"] == 1  # the middle layer by default
    assert [o["context_seen"] for o in got["occurrences"]] == ["the", "the", "he sat by the river"]
    assert [o["label"] for o in got["occurrences"]] == ["1", "2", "3"]
    for row in got["layers"]:
        assert row["pairs"]["1-2"] == pytest.approx(1.0, abs=1e-5)  # "the bank" both times
    assert got["layers"][0]["pairs"]["1-3"] == pytest.approx(1.0, abs=1e-5)  # layer 0: token embeddings, no context
    assert got["layers"][-1]["pairs"]["1-3"] < 0.999  # after attention, "river" changed it
    sim = np.array(got["similarity"])
    assert sim.shape == (3, 3) and np.allclose(np.diag(sim), 1.0) and np.allclose(sim, sim.T)


def test_encoder_model_sees_both_sides(cli, tiny_bert):
    got = _run_json(cli, "--model", tiny_bert, "--word", "bank", "the bank is open", "the bank was closed", "--layers")
    assert got["causal"] is False
    assert got["n_layers"] == 3 and got["layer"] == 1
    assert got["occurrences"][0]["tokens"] == ["bank"]
    pairs = [row["pairs"]["1-2"] for row in got["layers"]]
    assert pairs[0] == pytest.approx(1.0, abs=1e-6)  # layer 0: same token at the same position
    assert pairs[-1] < 0.99  # after attention, the words after 'bank' (open / closed) reached it


def test_vectors_are_the_models_hidden_states(cli, tiny_causal):
    """The similarity is the cosine of transformers' own hidden states, averaged over the word's tokens."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    sentences = ["a bank", "the river bank is wide"]
    got = _run_json(cli, "--model", tiny_causal, "--word", "bank", *sentences, "--layer", "2")
    tok = AutoTokenizer.from_pretrained(tiny_causal)
    model = AutoModel.from_pretrained(tiny_causal).eval()
    vecs = []
    for s in sentences:
        start = s.index("bank")
        enc = tok(s, return_offsets_mapping=True)
        rows = [i for i, (a, b) in enumerate(enc["offset_mapping"]) if b > a and a < start + 4 and b > start]
        assert len(rows) == 4  # byte-level: b, a, n, k
        with torch.no_grad():
            h = model(torch.tensor([enc["input_ids"]]), output_hidden_states=True).hidden_states[2][0]
        vecs.append(h[rows].mean(0).numpy())
    expected = float(np.dot(vecs[0], vecs[1]) / np.linalg.norm(vecs[0]) / np.linalg.norm(vecs[1]))
    assert got["similarity"][0][1] == pytest.approx(expected, abs=1e-5)


def test_batches_padded_on_the_right_change_nothing(cli, tiny_causal, tiny_bert, monkeypatch):
    """All sentences in one padded batch, or each alone: the same vectors (padding is masked)."""
    from genai_cli.vectors import contextual as ctx

    sentences = ["a bank", "the river bank is wide and the bank is muddy", "she sat by the bank"]
    for model in (tiny_causal, tiny_bert):
        together = _run_json(cli, "--model", model, "--word", "bank", *sentences, "--layers")
        monkeypatch.setattr(ctx, "BATCH_TOKENS", 1)  # every sentence in a batch of its own
        alone = _run_json(cli, "--model", model, "--word", "bank", *sentences, "--layers")
        monkeypatch.undo()
        assert [o["label"] for o in together["occurrences"]] == ["1", "2.1", "2.2", "3"]
        assert np.allclose(together["similarity"], alone["similarity"], atol=2e-5)
        for a, b in zip(together["layers"], alone["layers"]):
            assert a["pairs"] == pytest.approx(b["pairs"], abs=2e-5)
    assert ctx._batches([3, 3, 3]) == [[0, 1, 2]]
    monkeypatch.setattr(ctx, "BATCH_TOKENS", 6)
    assert ctx._batches([3, 3, 3, 7, 2]) == [[0, 1], [2], [3], [4]]


def test_text_output_has_matrix_static_similarity_and_causal_note(cli, tiny_causal):
    r = cli("embed", "contextual", "--model", tiny_causal, "-w", "Bank", "The bank is open", "river BANK and a bank")
    assert r.exit_code == 0, r
    out = r.stdout
    assert "The [bank] is open" in out and "river [BANK] and a bank" in out and "river BANK and a [bank]" in out
    assert "2.1" in out and "2.2" in out  # two occurrences in sentence 2
    assert "static glove-6b-50d: 1.0000 for every pair" in out
    assert "causal model: each occurrence's vector sees only the words before it" in out
    assert "loaded" in r.stderr and "loaded" not in out


def test_static_similarity_of_a_word_glove_lacks(cli, tiny_causal):
    got = _run_json(
        cli,
        "--model",
        tiny_causal,
        "--word",
        "tezgüino",
        "A bottle of tezgüino is on the table.",
        "Everybody likes tezgüino.",
    )
    assert got["static"] == {"vectors": "glove-6b-50d", "similarity": None, "in_vocabulary": False}
    got = _run_json(cli, "--model", tiny_causal, "--word", "wine", "a bottle of wine", "everybody likes wine")
    assert got["static"]["similarity"] == pytest.approx(1.0) and got["static"]["in_vocabulary"] is True


def test_sentences_from_stdin(cli, tiny_causal):
    got = _run_json(cli, "--model", tiny_causal, "--word", "bank", input="the bank is open\n\nthe river bank\n")
    assert [o["text"] for o in got["occurrences"]] == ["the bank is open", "the river bank"]


def test_plot_writes_a_png_and_never_overwrites(cli, tiny_causal, tmp_path):
    from PIL import Image

    args = (
        "embed",
        "contextual",
        "--model",
        tiny_causal,
        "-w",
        "bank",
        "the bank is open",
        "the river bank",
        "a bank loan",
        "--plot",
    )
    r = cli(*args)
    assert r.exit_code == 0, r
    first = tmp_path / "contextual-bank.png"
    assert r.stdout.splitlines()[-1] == "contextual-bank.png" and first.is_file()
    with Image.open(first) as im:
        assert im.format == "PNG" and im.width > 400 and im.height > 300
        recipe = json.loads(im.text["genai"])  # the figure carries its recipe; `genai info` reads it back
    assert recipe["command"] == "embed contextual" and recipe["sentences"][1] == "the river bank"
    assert json.loads(cli("info", "--json", str(first)).stdout)["recipe"]["extras"]["command"] == "embed contextual"
    before = first.read_bytes()
    r = cli(*args)
    assert r.exit_code == 0 and r.stdout.splitlines()[-1] == "contextual-bank-1.png"
    assert first.read_bytes() == before and (tmp_path / "contextual-bank-1.png").is_file()
    assert "exists" in r.stderr
    got = _run_json(
        cli, "--model", tiny_causal, "-w", "bank", "the bank", "the river bank", "--out", "p.png"
    )  # --out implies --plot
    assert got["plot"]["path"] == "p.png" and len(got["plot"]["coords"]) == 2 and "layers_plot" not in got


def test_plot_with_layers_draws_the_lines_too(cli, tiny_causal, tmp_path):
    from PIL import Image

    r = cli(
        "embed",
        "contextual",
        "--model",
        tiny_causal,
        "-w",
        "bank",
        "the bank",
        "the river bank",
        "a bank",
        "--layers",
        "--out",
        "b.png",
    )
    assert r.exit_code == 0, r
    assert r.stdout.splitlines()[-2:] == ["b.png", "b-layers.png"]
    with Image.open(tmp_path / "b-layers.png") as im:
        assert im.format == "PNG" and im.width > 400
    before = (tmp_path / "b.png").read_bytes()
    r = cli(
        "embed",
        "contextual",
        "--model",
        tiny_causal,
        "-w",
        "bank",
        "the bank",
        "the river bank",
        "--layers",
        "--out",
        "b.png",
    )
    assert r.exit_code == 2 and "b.png" in r.stderr and "use --force to replace it" in r.stderr, (
        r
    )  # a named file is kept
    assert (tmp_path / "b.png").read_bytes() == before and not (tmp_path / "b-1.png").exists()
    got = _run_json(
        cli, "--model", tiny_causal, "-w", "bank", "the bank", "the river bank", "--layers", "--out", "b.png", "--force"
    )
    assert got["plot"]["path"] == "b.png" and got["layers_plot"] == {"path": "b-layers.png", "pairs_drawn": 1}


def test_real_entry_point_through_a_pipe(genai_exe, tiny_causal):
    """Sentences piped in, one JSON object out on stdout; the progress lines go to stderr only."""
    r = genai_exe(
        "embed",
        "contextual",
        "--model",
        tiny_causal,
        "--word",
        "bank",
        "--json",
        input="the bank is open\nthe river bank\n",
    )
    assert r.exit_code == 0, r
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    got = json.loads(lines[0])
    assert [o["text"] for o in got["occurrences"]] == ["the bank is open", "the river bank"]
    assert "loaded" in r.stderr and "{" not in r.stderr


# --- bad input: exit 2, naming the sentence or the value -------------------------------------------


@pytest.mark.parametrize(
    "args, named",
    [
        (["--word", "bank", "the bank is open", "the river is wide"], "sentence 2 does not contain the word 'bank'"),
        (["--word", "bank", "the bank is open", "the bank was closed", "--layer", "3"], "--layer 3 does not exist"),
        (["--word", "bank", "the bank is open", "the bank was closed", "--layer", "-4"], "--layer -4 does not exist"),
        (
            ["--word", "bank", "the bank is open " + "and very wide " * 5, "the bank"],
            "sentence 1 is 87 tokens, longer than the model's context of 64",
        ),
        (["--word", "", "the bank", "a bank"], "--word is empty"),
        (["--word", "bank", "the bank is open"], "occurs only once"),
        (["--word", "bank", "the bank", "   "], "sentence 2 is empty"),
        (["--word", "bank", "the bank", "a bank", "--plot", "--out", "x.jpg"], "--out must end in .png"),
        (
            ["--word", "bank", "the bank", "a bank", "--out", "no-such-folder/x.png"],
            "folder does not exist: no-such-folder",
        ),
        (["--word", "bank", *["the bank"] * 101], "101 sentences given; at most 100"),
        (["--word", "b" * 101, "the bank", "a bank"], "longer than 100 characters"),
        (["--word", "bank", "the bank", "a bank " * 20_000], "sentence 2 is 140,000 characters; at most 100,000"),
    ],
)
def test_bad_input_exit_2(cli, tiny_causal, args, named):
    assert_refused(cli("embed", "contextual", "--model", tiny_causal, *args), named)


def test_no_sentences(cli, tiny_causal):
    assert_refused(
        cli("embed", "contextual", "--model", tiny_causal, "--word", "bank", input=""),
        "no sentence given",
        "stdin was empty",
    )


def test_layer_counts_from_the_last(cli, tiny_causal):
    got = _run_json(cli, "--model", tiny_causal, "-w", "bank", "the bank", "the river bank", "--layer", "-3")
    assert got["layer"] == 0 and got["similarity"][0][1] == pytest.approx(1.0, abs=1e-6)  # token embeddings


# --- hostile model folders: nothing runs ----------------------------------------------------------


def test_custom_code_in_a_model_folder_never_runs(cli, tmp_path, tiny_causal):
    canary = tmp_path / "CANARY-code-ran"
    folder = tmp_path / "evil-model"
    folder.mkdir()
    code = (
        f"import pathlib\npathlib.Path({str(canary)!r}).touch()\n"
        "from transformers import PretrainedConfig, PreTrainedModel\n"
    )
    code += (
        "class EvilConfig(PretrainedConfig):\n    model_type = 'evil'\n"
        "class EvilModel(PreTrainedModel):\n    config_class = EvilConfig\n"
    )
    (folder / "evil.py").write_text(code)
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "evil",
                "architectures": ["EvilModel"],
                "auto_map": {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel"},
            }
        )
    )
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        src = Path(tiny_causal) / name
        if src.exists():
            (folder / name).write_bytes(src.read_bytes())
    r = cli("embed", "contextual", "--model", str(folder), "-w", "bank", "the bank", "a bank")
    assert_refused(r, str(folder))  # refused, naming the folder (by resolve_model, or by transformers itself)
    assert not canary.exists()


def test_pickled_weights_never_run(cli, tmp_path, tiny_bert):
    import shutil

    from tests.hostile.conftest import pickle_payload

    canary = tmp_path / "CANARY-code-ran"
    folder = tmp_path / "pickled-bert"
    shutil.copytree(tiny_bert, folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle_payload(canary))
    r = cli("embed", "contextual", "--model", str(folder), "-w", "bank", "the bank", "a bank")
    assert r.exit_code == 2 and r.stdout == "" and "Traceback" not in r.stderr, r
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "could not load model" in errors[0] and "UnpicklingError" in errors[0]  # weights_only
    assert not canary.exists()


# --- the built-in model: the talk's example ----------------------------------------------------------


def test_builtin_smollm2_separates_the_senses_of_bank(cli):
    got = _run_json(
        cli,
        "--word",
        "bank",
        "he sat down on the river bank",
        "she deposited cash at the bank",
        "the bank approved the loan",
    )
    assert got["model"] == "smollm2-135m-instruct" and got["causal"] is True
    assert got["n_layers"] == 30 and got["layer"] == 15
    sim = np.array(got["similarity"])
    money = sim[1, 2]
    assert money > sim[0, 1] and money > sim[0, 2]  # the two money senses are closer to each other than to the river
    assert got["static"]["similarity"] == pytest.approx(1.0)
