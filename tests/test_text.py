"""genai generate / chat / next / attention.

Most tests use a tiny random Llama with a byte-level tokenizer (tests/tiny_lm.py), written
once per session. A few use the real built-in SmolLM2-135M-Instruct: the first of them
converts the GGUF file into the session cache (20-60 s, once), later ones load in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from tiny_lm import write_tiny_lm  # noqa: E402


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> str:
    return str(write_tiny_lm(tmp_path_factory.mktemp("tiny-lm") / "tiny-llama"))


def _json_lines(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def _load_direct(path: str, attn: str | None = None):
    """The model and tokenizer through plain transformers: the reference for our numbers."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kw = {"attn_implementation": attn} if attn else {}
    return AutoModelForCausalLM.from_pretrained(path, **kw).eval(), AutoTokenizer.from_pretrained(path)


# --- generate: streaming, seeds, json, stdin -----------------------------------------------


def test_generate_stdout_is_only_the_text(cli, tiny):
    r = cli("generate", "hello there", "-m", tiny, "-n", "24", "--seed", "7")
    assert r.exit_code == 0, r
    j = cli("generate", "hello there", "-m", tiny, "-n", "24", "--seed", "7", "--json")
    obj = json.loads(j.stdout)
    assert r.stdout == obj["text"] + "\n"  # nothing but the generated text (and its newline) on stdout
    assert "loaded" in r.stderr and "tokens" in r.stderr  # messages went to stderr
    assert obj["new_tokens"] == 24 and obj["finish_reason"] == "length"
    assert obj["prompt"] == "hello there" and obj["prompt_tokens"] > len("hello there")  # the chat template added tokens
    assert obj["settings"]["seed"] == 7 and obj["settings"]["max_tokens"] == 24 and obj["settings"]["chat_template"]
    t = obj["timings"]
    assert 0 < t["first_token_s"] <= t["total_s"] and t["decode_tokens_per_s"] > 0 and t["load_s"] > 0


def test_generate_same_seed_same_text(cli, tiny):
    runs = [json.loads(cli("generate", "abc", "-m", tiny, "-n", "30", "--seed", s, "--json").stdout)["text"]
            for s in ("1", "1", "2")]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]


def test_generate_greedy_matches_transformers_generate(cli, tiny):
    """Our loop picks the same tokens as transformers' own greedy `generate`."""
    import torch

    r = cli("generate", "The cat", "-m", tiny, "-n", "16", "--greedy", "--repetition-penalty", "1", "--raw", "--json")
    ours = json.loads(r.stdout)
    model, tok = _load_direct(tiny)
    ids = tok("The cat", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        out = model.generate(ids, max_new_tokens=16, do_sample=False, eos_token_id=None, pad_token_id=2)
    new = out[0, ids.shape[1]:].tolist()
    if 2 in new:  # the EOS token ends our answer
        new = new[: new.index(2)]
    assert ours["text"] == tok.decode(new, skip_special_tokens=True)
    assert ours["settings"]["raw"] is True and ours["prompt_tokens"] == ids.shape[1]


def test_generate_stop_string_is_not_printed(cli, tiny):
    full = json.loads(cli("generate", "xyz", "-m", tiny, "-n", "40", "--greedy", "--json").stdout)["text"]
    stop = full[10:13]
    assert len(stop) == 3
    r = cli("generate", "xyz", "-m", tiny, "-n", "40", "--greedy", "--stop", stop, "--json")
    obj = json.loads(r.stdout)
    assert obj["text"] == full[: full.index(stop)]
    assert obj["finish_reason"] == "stop" and obj["settings"]["stop"] == [stop]


def test_generate_prompts_from_stdin(cli, tiny):
    r = cli("generate", "-m", tiny, "-n", "5", "--seed", "3", "--json", input="first prompt\n\nsecond prompt\n")
    assert r.exit_code == 0, r
    objs = _json_lines(r.stdout)
    assert [o["prompt"] for o in objs] == ["first prompt", "second prompt"]  # blank lines skipped
    dash = cli("generate", "-", "-m", tiny, "-n", "5", "--seed", "3", "--json", input="first prompt\n")
    assert _json_lines(dash.stdout)[0]["text"] == objs[0]["text"]


def test_generate_config_file_sets_defaults(cli, tiny, tmp_path):
    cfg = tmp_path / "text.yaml"
    cfg.write_text(f"text:\n  model: {tiny}\n  max_tokens: 4\n  greedy: true\n  system: be brief\n")
    obj = json.loads(cli("generate", "hi", "--json", "-c", str(cfg)).stdout)
    s = obj["settings"]
    assert (s["model"], s["max_tokens"], s["greedy"], s["system"]) == (tiny, 4, True, "be brief")
    flag = json.loads(cli("generate", "hi", "--json", "-c", str(cfg), "-n", "6", "--sample").stdout)["settings"]
    assert flag["max_tokens"] == 6 and flag["greedy"] is False  # flags beat the config file


def test_generate_stream_in_subprocess(genai_exe, tiny):
    """A real pipe: stdout holds the answer only; messages are on stderr."""
    r = genai_exe("generate", "hello", "-m", tiny, "-n", "12", "--seed", "5", "--json")
    assert r.exit_code == 0, r
    obj = json.loads(r.stdout)
    assert obj["new_tokens"] == 12
    assert "using cpu" in r.stderr and "{" not in r.stderr


def test_generate_ctrl_c_keeps_text_and_exits_130(tiny, tmp_path):
    """SIGINT in the middle of a long generation: exit 130, what was streamed stays on stdout."""
    exe = Path(sys.executable).parent / "genai"
    # SIGINT back to its default in the child: a shell's background job ignores it, and children inherit that
    p = subprocess.Popen([str(exe), "generate", "go", "-m", tiny, "-n", "8000", "--seed", "1", "--raw"],
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=os.environ.copy())
    got = os.read(p.stdout.fileno(), 64)  # blocks until the first tokens are streamed
    assert got
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=120)
    assert p.returncode == 130, err.decode()
    out = (got + rest).decode("utf-8", "replace")
    assert len(out) > 1 and "interrupted" in err.decode()


def test_core_interrupt_returns_partial_text(tiny):
    import torch

    from genai_cli.text.generate import SamplingSettings, generate
    from genai_cli.text.model import load_model

    lm = load_model(tiny, torch.device("cpu"), torch.float32)
    pieces: list[str] = []

    def on_text(piece: str) -> None:
        pieces.append(piece)
        if len(pieces) == 3:
            raise KeyboardInterrupt

    g = generate(lm, [5, 6, 7], SamplingSettings(max_tokens=50, seed=0), on_text)
    assert g.finish_reason == "interrupted"
    assert g.text.startswith("".join(pieces)) and 3 <= g.new_tokens < 50


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, flag",
    [
        (["--temperature", "-1"], "--temperature"),
        (["--temperature", "1000"], "--temperature"),
        (["--top-p", "0"], "--top-p"),
        (["--top-p", "1.5"], "--top-p"),
        (["--top-k", "-3"], "--top-k"),
        (["--repetition-penalty", "0"], "--repetition-penalty"),
        (["--max-tokens", "0"], "--max-tokens"),
        (["--max-tokens", "1000000000"], "--max-tokens"),
        (["--stop", ""], "--stop"),
        (["--speedup", "turbo"], "--speedup"),
    ],
)
def test_generate_bad_sampling_values(cli, args, flag):
    r = cli("generate", "hello", "-m", "/nonexistent/never/loaded", *args)  # checked before any loading
    assert r.exit_code == 2, r
    assert r.stdout == ""
    assert flag in r.stderr


def test_generate_empty_prompt(cli):
    r = cli("generate", "   ", "-m", "/nonexistent/never/loaded")
    assert r.exit_code == 2 and r.stdout == "" and "empty prompt" in r.stderr


def test_generate_prompt_longer_than_context(cli, tmp_path):
    small = str(write_tiny_lm(tmp_path / "ctx64", context=64))
    long = "word " * 40  # 200 byte-tokens > 64
    r = cli("generate", long, "-m", small, "-n", "8", "--raw")
    assert r.exit_code == 2 and r.stdout == ""
    assert "200 tokens" in r.stderr and "64" in r.stderr and "--truncate" in r.stderr
    ok = cli("generate", long, "-m", small, "-n", "8", "--raw", "--truncate", "--json")
    assert ok.exit_code == 0, ok
    assert json.loads(ok.stdout)["prompt_tokens"] == 64 - 8
    assert "truncated" in ok.stderr
    too_many = cli("generate", "hi", "-m", small, "-n", "64")
    assert too_many.exit_code == 2 and "--max-tokens" in too_many.stderr


def test_unknown_model_offline_names_it(cli):
    r = cli("generate", "hi", "-m", "no-such-org/no-such-model")
    assert r.exit_code == 1 and r.stdout == ""
    assert "no-such-org/no-such-model" in r.stderr and "HF_HUB_OFFLINE" in r.stderr


def test_model_folder_without_config(cli, tmp_path):
    (tmp_path / "empty-model").mkdir()
    r = cli("generate", "hi", "-m", str(tmp_path / "empty-model"))
    assert r.exit_code == 2 and "config.json" in r.stderr


# --- chat ----------------------------------------------------------------------------------


def test_chat_piped_turns_keep_history_and_reset(cli, tiny):
    r = cli("chat", "-m", tiny, "-n", "6", "--seed", "4", "--json", input="hello\nand more\n/reset\nhello\n/exit\nignored\n")
    assert r.exit_code == 0, r
    turns = _json_lines(r.stdout)
    assert [t["prompt"] for t in turns] == ["hello", "and more", "hello"]  # /exit ends before "ignored"
    assert [t["turn"] for t in turns] == [1, 2, 1]
    first, second, after_reset = turns
    assert second["prompt_tokens"] > first["prompt_tokens"] + len("and more")  # turn 1 is in turn 2's prompt
    assert after_reset["prompt_tokens"] == first["prompt_tokens"]  # /reset forgot it
    assert after_reset["text"] == first["text"]  # same seed, same prompt, same answer
    assert "you>" not in r.stderr  # no terminal prompt when stdin is a pipe


def test_chat_piped_text_mode_one_answer_per_turn(cli, tiny):
    r = cli("chat", "-m", tiny, "-n", "5", "--greedy", input="one\ntwo\n")
    assert r.exit_code == 0, r
    assert r.stdout.endswith("\n") and r.stdout.count("\n") >= 2


# --- next ----------------------------------------------------------------------------------


def test_next_probabilities_match_forward_pass(cli, tiny):
    import torch

    r = cli("next", "hello", "-m", tiny, "-k", "5", "--json")
    assert r.exit_code == 0, r
    step = json.loads(r.stdout)["steps"][0]
    probs = [c["prob"] for c in step["candidates"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6
    model, tok = _load_direct(tiny)
    with torch.inference_mode():
        ref = torch.softmax(model(tok("hello", return_tensors="pt")["input_ids"]).logits[0, -1], -1)
    top = torch.topk(ref, 5)
    assert [c["id"] for c in step["candidates"]] == top.indices.tolist()
    assert probs == pytest.approx(top.values.tolist(), abs=1e-5)


def test_next_steps_are_greedy(cli, tiny):
    obj = json.loads(cli("next", "ab", "-m", tiny, "-k", "3", "--steps", "4", "--json").stdout)
    steps = obj["steps"]
    assert len(steps) == 4
    for s in steps:
        assert s["chosen"] == s["candidates"][0] and s["top_k_mass"] <= 1.0 + 1e-6
    greedy = json.loads(cli("generate", "ab", "-m", tiny, "-n", "4", "--greedy", "--repetition-penalty", "1",
                            "--raw", "--json").stdout)["text"]
    assert "".join(s["chosen"]["token"] for s in steps) == greedy


def test_next_table_and_bad_values(cli, tiny):
    r = cli("next", "hi", "-m", tiny, "-k", "4")
    assert r.exit_code == 0 and "probability" in r.stdout and "rank" in r.stdout
    assert cli("next", "hi", "-m", tiny, "-k", "0").exit_code == 2
    assert cli("next", "", "-m", tiny).exit_code == 2


# --- attention -----------------------------------------------------------------------------


def test_attention_png_and_weights(cli, tiny, tmp_path):
    from PIL import Image

    r = cli("attention", "the cat sat", "-m", tiny, "--layer", "1", "--head", "2", "--json")
    assert r.exit_code == 0, r
    obj = json.loads(r.stdout)
    path = Path(obj["path"])
    assert path.name == "attention-L1-H2.png" and path.is_file()
    w = obj["weights"]
    assert len(w) == len(obj["token_strings"]) == len("the cat sat")  # one token per byte
    for i, row in enumerate(w):
        assert sum(row) == pytest.approx(1.0, abs=1e-4)
        assert all(v == 0 for v in row[i + 1:])  # causal: no looking ahead
    img = Image.open(path)
    assert img.format == "PNG" and min(img.size) > 300
    assert json.loads(img.info["genai"])["layer"] == 1 and "the cat sat" in img.info["parameters"]
    again = cli("attention", "the cat sat", "-m", tiny, "--layer", "1", "--head", "2")
    assert again.stdout.strip() == "attention-L1-H2-1.png"  # never overwrites
    forced = cli("attention", "the cat sat", "-m", tiny, "--layer", "1", "--head", "2", "--force")
    assert forced.stdout.strip() == "attention-L1-H2.png"


def test_attention_mean_matches_eager_attentions(cli, tiny):
    import torch

    obj = json.loads(cli("attention", "abcd", "-m", tiny, "--layer", "-1", "--head", "mean", "--json").stdout)
    assert obj["layer"] == 1 and obj["head"] == "mean"
    model, tok = _load_direct(tiny, attn="eager")
    with torch.inference_mode():
        att = model(tok("abcd", return_tensors="pt")["input_ids"], output_attentions=True).attentions[1][0].mean(0)
    import numpy as np

    np.testing.assert_allclose(np.array(obj["weights"]), att.numpy(), atol=1e-5)


@pytest.mark.parametrize("args, needle", [(["--layer", "2"], "--layer 2"), (["--layer", "-3"], "--layer -3"),
                                          (["--head", "4"], "--head 4"), (["--head", "x"], "--head 'x'")])
def test_attention_unknown_layer_or_head(cli, tiny, args, needle):
    r = cli("attention", "abc", "-m", tiny, *args)
    assert r.exit_code == 2 and r.stdout == ""
    assert needle in r.stderr
    assert not list(Path.cwd().glob("*.png"))


# --- the real built-in model ---------------------------------------------------------------


@pytest.fixture(scope="session")
def builtin(session_cache):
    """Convert the built-in GGUF once into the session cache; the path of the converted folder."""
    os.environ["GENAI_CACHE"] = str(session_cache)  # autouse fixtures are function-scoped
    from genai_cli.text.model import ensure_builtin

    return ensure_builtin()


def test_builtin_converted_cache_folder(builtin, session_cache):
    names = {p.name for p in builtin.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json"} <= names
    assert builtin.parent == session_cache / "models"
    assert not [p for p in builtin.parent.iterdir() if ".tmp" in p.name]  # no half-written folders left
    from safetensors import safe_open

    with safe_open(str(builtin / "model.safetensors"), "pt") as f:
        assert "model.embed_tokens.weight" in f.keys() and "lm_head.weight" not in f.keys()  # tied: stored once


def test_builtin_next_matches_direct_forward(cli, builtin):
    import torch

    r = cli("next", "The capital of France is", "--json", "-k", "5")
    assert r.exit_code == 0, r
    step = json.loads(r.stdout)["steps"][0]
    model, tok = _load_direct(str(builtin))
    with torch.inference_mode():
        ref = torch.softmax(model(tok("The capital of France is", return_tensors="pt")["input_ids"]).logits[0, -1], -1)
    top = torch.topk(ref, 5)
    assert [c["id"] for c in step["candidates"]] == top.indices.tolist()
    assert [c["prob"] for c in step["candidates"]] == pytest.approx(top.values.tolist(), abs=1e-4)
    assert " Paris" in [c["token"] for c in step["candidates"]]
    assert step["top_k_mass"] <= 1.0


def test_builtin_generate_answers(cli, builtin):
    r = cli("generate", "What is the capital of France?", "--greedy", "-n", "12", "--speedup", "none")
    assert r.exit_code == 0, r
    assert "Paris" in r.stdout


def test_builtin_attention_png(cli, builtin):
    from PIL import Image

    r = cli("attention", "The cat sat on the mat because it was tired.", "--json")
    assert r.exit_code == 0, r
    obj = json.loads(r.stdout)
    n = len(obj["token_strings"])
    assert 8 <= n <= 16 and len(obj["weights"]) == n and all(len(row) == n for row in obj["weights"])
    assert obj["layer"] == 29  # -1: the last of SmolLM2-135M's 30 layers
    assert Image.open(obj["path"]).size[0] > 500


# --- lazy imports ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["generate", "chat", "next", "attention"])
def test_help_imports_nothing_heavy(command):
    code = (f"import sys\nsys.argv=['genai','{command}','--help']\nfrom genai_cli.app import app\n"
            "try:\n    app(prog_name='genai')\nexcept SystemExit:\n    pass\n"
            "import json; print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not [m for m in ("torch", "transformers", "matplotlib", "numpy", "accelerate") if m in mods]
