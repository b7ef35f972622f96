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
    assert obj["prompt"] == "hello there" and obj["prompt_tokens"] > len(
        "hello there"
    )  # the chat template added tokens
    assert obj["settings"]["seed"] == 7 and obj["settings"]["max_tokens"] == 24 and obj["settings"]["chat_template"]
    t = obj["timings"]
    assert 0 < t["first_token_s"] <= t["total_s"] and t["decode_tokens_per_s"] > 0 and t["load_s"] > 0


def test_generate_same_seed_same_text(cli, tiny):
    runs = [
        json.loads(cli("generate", "abc", "-m", tiny, "-n", "30", "--seed", s, "--json").stdout)["text"]
        for s in ("1", "1", "2")
    ]
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
    new = out[0, ids.shape[1] :].tolist()
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
    p = subprocess.Popen(
        [str(exe), "generate", "go", "-m", tiny, "-n", "8000", "--seed", "1", "--raw"],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
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
    r = cli(
        "chat", "-m", tiny, "-n", "6", "--seed", "4", "--json", input="hello\nand more\n/reset\nhello\n/exit\nignored\n"
    )
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
    greedy = json.loads(
        cli("generate", "ab", "-m", tiny, "-n", "4", "--greedy", "--repetition-penalty", "1", "--raw", "--json").stdout
    )["text"]
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
        assert all(v == 0 for v in row[i + 1 :])  # causal: no looking ahead
    img = Image.open(path)
    assert img.format == "PNG" and min(img.size) > 300
    settings = json.loads(img.info["genai"])
    assert settings["layer"] == 1 and settings["text"] == "the cat sat" and settings["command"] == "attention"
    assert "parameters" not in img.info  # not an AUTOMATIC1111 image: image tools would show the text as a prompt
    info = json.loads(cli("info", "--json", str(path)).stdout)
    assert info["recipe"]["generator"] == "genai" and info["recipe"]["extras"]["command"] == "attention"
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


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--layer", "2"], "--layer 2"),
        (["--layer", "-3"], "--layer -3"),
        (["--head", "4"], "--head 4"),
        (["--head", "x"], "--head 'x'"),
    ],
)
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
    code = (
        f"import sys\nsys.argv=['genai','{command}','--help']\nfrom genai_cli.app import app\n"
        "try:\n    app(prog_name='genai')\nexcept SystemExit:\n    pass\n"
        "import json; print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert not [m for m in ("torch", "transformers", "matplotlib", "numpy", "accelerate") if m in mods]


# --- the llama.cpp engine (the default for the built-in GGUF model on the cpu) ---------------
# The tests above run the transformers engine (a tiny transformers model folder, or the
# converted built-in model); the ones below run llama.cpp on the built-in GGUF file and are
# skipped where llama-cpp-python is not installed (scripts/setup.sh builds it).

needs_llama = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("llama_cpp"),
    reason="llama-cpp-python is not installed (scripts/setup.sh builds it)",
)
STORY = "Write a long story about a dragon who learns to bake bread."


def _builtin_gguf() -> str:
    from genai_cli.text.model import gguf_path

    return str(gguf_path())


@needs_llama
def test_llama_is_the_default_and_says_why(cli):
    r = cli("generate", "What is the capital of France?", "--greedy", "-n", "12", "--json", "--threads", "1")
    assert r.exit_code == 0, r
    obj = json.loads(r.stdout)
    assert "Paris" in obj["text"]
    assert obj["settings"]["engine"] == "llama.cpp" and obj["settings"]["threads"] == 1
    assert "llama.cpp engine (auto: GGUF model on the cpu), 1 thread\n" in r.stderr
    t = obj["timings"]
    assert 0 < t["first_token_s"] <= t["total_s"] and t["decode_tokens_per_s"] > 0 and t["load_s"] > 0
    assert obj["new_tokens"] == 12 and obj["finish_reason"] == "length" and obj["prompt_tokens"] > 10


@needs_llama
def test_llama_path_imports_neither_torch_nor_transformers():
    code = (
        "import sys\nsys.argv=['genai','generate','hi','-n','3','--greedy']\nfrom genai_cli.app import app\n"
        "try:\n    app(prog_name='genai')\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
        "import json; print(json.dumps(sorted(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    mods = set(json.loads(out.stdout.strip().splitlines()[-1]))
    assert "llama_cpp" in mods and "llama.cpp engine" in out.stderr
    assert not [m for m in ("torch", "transformers", "accelerate", "gguf") if m in mods]


@needs_llama
def test_llama_greedy_text_matches_llama_cpp_python(cli):
    """Same chat template, same tokens: genai's text is the direct create_chat_completion's, exactly."""
    from llama_cpp import Llama

    r = cli("generate", STORY, "--greedy", "--repetition-penalty", "1", "-n", "40", "--threads", "2")
    assert r.exit_code == 0, r
    llm = Llama(model_path=_builtin_gguf(), n_threads=2, n_threads_batch=2, verbose=False)
    out = llm.create_chat_completion([{"role": "user", "content": STORY}], max_tokens=40, temperature=0)
    assert r.stdout == out["choices"][0]["message"]["content"] + "\n"


@needs_llama
def test_llama_system_and_raw_prompts(cli):
    plain = json.loads(cli("generate", "Hi", "--greedy", "-n", "4", "--json").stdout)
    system = json.loads(cli("generate", "Hi", "--greedy", "-n", "4", "--json", "--system", "Be brief.").stdout)
    raw = json.loads(cli("generate", "Hi", "--greedy", "-n", "4", "--json", "--raw").stdout)
    assert raw["prompt_tokens"] == 1 and raw["settings"]["chat_template"] is False  # "Hi" alone, no template
    # the GGUF template puts its own default system prompt in when none is given
    assert plain["prompt_tokens"] > system["prompt_tokens"] > raw["prompt_tokens"]


@needs_llama
def test_llama_seed_and_sampling_settings(cli):
    def text(*args):
        r = cli("generate", "Tell me a word.", "-n", "24", "--json", *args)
        assert r.exit_code == 0, r
        return json.loads(r.stdout)

    a, b, c = text("--seed", "3"), text("--seed", "3"), text("--seed", "4")
    assert a["text"] == b["text"] != c["text"] and a["settings"]["seed"] == 3
    # top-k 1 and temperature 0 are greedy whatever the seed
    g1, g2 = text("--seed", "1", "--top-k", "1"), text("--seed", "2", "--temperature", "0")
    assert g1["text"] == g2["text"]
    # the repetition penalty changes the greedy text of a long answer
    p1 = cli("generate", STORY, "--greedy", "-n", "60", "--repetition-penalty", "1").stdout
    p2 = cli("generate", STORY, "--greedy", "-n", "60", "--repetition-penalty", "1.5").stdout
    assert p1 != p2


@needs_llama
def test_llama_stop_string_is_not_printed(cli):
    full = cli("generate", STORY, "--greedy", "-n", "40").stdout.rstrip("\n")
    stop = full.split()[5]  # a word from the middle of the answer
    r = cli("generate", STORY, "--greedy", "-n", "40", "--stop", stop, "--json")
    obj = json.loads(r.stdout)
    assert obj["finish_reason"] == "stop" and stop not in obj["text"]
    assert full.startswith(obj["text"]) and len(obj["text"]) == full.index(stop)
    streamed = cli("generate", STORY, "--greedy", "-n", "40", "--stop", stop)
    assert streamed.stdout == obj["text"] + "\n"


@needs_llama
def test_llama_prompts_from_stdin(cli):
    r = cli("generate", "--greedy", "-n", "6", "--json", input="Say one\n\nSay two\n")
    objs = _json_lines(r.stdout)
    assert r.exit_code == 0 and [o["prompt"] for o in objs] == ["Say one", "Say two"]
    assert all(o["new_tokens"] <= 6 and o["settings"]["engine"] == "llama.cpp" for o in objs)


@needs_llama
def test_llama_prompt_longer_than_context(cli, monkeypatch):
    long = "word " * 8300  # > 8192 tokens, the built-in model's context (read from its GGUF header)
    r = cli("generate", long, "-n", "4", "--raw")
    assert r.exit_code == 2 and r.stdout == "" and "8192" in r.stderr and "--truncate" in r.stderr
    # --truncate evaluates a full context: at 8,192 tokens that is minutes of CPU, so the model's context is
    # made 1,024 here (the same code path: fit_context, then llama.cpp at a full KV cache)
    from genai_cli.text.llama_engine import LlamaLM

    monkeypatch.setattr(LlamaLM, "context_length", property(lambda self: 1024))
    short = cli("generate", "word " * 1100, "-n", "4", "--raw")
    assert short.exit_code == 2 and "1024" in short.stderr
    ok = cli("generate", "word " * 1100, "-n", "4", "--raw", "--truncate", "--json", "--greedy")
    assert ok.exit_code == 0, ok
    assert json.loads(ok.stdout)["prompt_tokens"] == 1024 - 4 and "truncated" in ok.stderr


@needs_llama
def test_llama_chat_reuses_the_cache_between_turns(cli):
    turns = "My name is Ada.\nWhat is my name?\nSay it again.\n/reset\nHello.\n"
    r = cli("chat", "--greedy", "-n", "16", "--json", input=turns)
    assert r.exit_code == 0, r
    recs = _json_lines(r.stdout)
    assert [o["turn"] for o in recs] == [1, 2, 3, 1]
    assert "Ada" in recs[1]["text"]  # the history is kept
    # turn 2 and 3 compute only what is new: the conversation so far is in the KV cache
    assert recs[0]["cached_prompt_tokens"] == 0
    for prev, cur in zip(recs[:2], recs[1:3]):
        assert cur["prompt_tokens"] > prev["prompt_tokens"]
        assert cur["cached_prompt_tokens"] >= prev["prompt_tokens"] - 1
    # after /reset the new conversation shares only the template's head with the old one
    assert recs[3]["prompt_tokens"] < recs[2]["prompt_tokens"]
    assert recs[3]["cached_prompt_tokens"] < recs[0]["prompt_tokens"]


@needs_llama
def test_llama_chat_answers_match_uncached_generation(cli):
    """Reusing the cache changes nothing: turn 2's answer equals a fresh run of the whole history."""
    r = cli("chat", "--greedy", "-n", "12", "--json", input="Name a fruit.\nName another one.\n")
    first, second = _json_lines(r.stdout)
    from genai_cli.text.engine import plan
    from genai_cli.text.generate import SamplingSettings
    from genai_cli.text.llama_engine import LlamaLM

    lm = LlamaLM(info=plan("smollm2", "llama.cpp", "cpu").gguf, name="builtin", threads=2, gpu_layers=0)
    lm.load(1024)
    ids = lm.chat_ids(
        [
            {"role": "user", "content": "Name a fruit."},
            {"role": "assistant", "content": first["text"]},
            {"role": "user", "content": "Name another one."},
        ]
    )
    g = lm.generate(ids, SamplingSettings(max_tokens=12, greedy=True, repetition_penalty=1.1))
    assert g.text == second["text"] and lm.reused_tokens == 0


@needs_llama
def test_llama_ctrl_c_keeps_text_and_exits_130():
    exe = Path(sys.executable).parent / "genai"
    p = subprocess.Popen(
        [str(exe), "generate", STORY, "-n", "4000", "--seed", "1", "--threads", "1"],
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=os.environ.copy(),
    )
    got = os.read(p.stdout.fileno(), 64)  # blocks until the first tokens are streamed
    assert got
    time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    rest, err = p.communicate(timeout=120)
    assert p.returncode == 130, err.decode()
    assert len((got + rest).decode("utf-8", "replace")) > 1 and "interrupted" in err.decode()


def test_engine_falls_back_to_transformers_without_llama_cpp(cli, builtin, monkeypatch):
    """llama-cpp-python hidden: auto runs transformers with a one-line note; --engine llama.cpp is exit 2."""
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # `import llama_cpp` fails, find_spec finds nothing
    r = cli("generate", "What is the capital of France?", "--greedy", "-n", "8", "--json")
    assert r.exit_code == 0, r
    obj = json.loads(r.stdout)
    assert obj["settings"]["engine"] == "transformers" and "Paris" in obj["text"]
    notes = [line for line in r.stderr.splitlines() if "llama-cpp-python is not installed" in line]
    assert len(notes) == 2 and "scripts/setup.sh" in notes[0]  # the note, and the reason in the device line
    forced = cli("generate", "hi", "--engine", "llama.cpp")
    assert forced.exit_code == 2 and forced.stdout == "" and "scripts/setup.sh" in forced.stderr


def test_engine_transformers_on_the_builtin_model(cli, builtin):
    r = cli("generate", "What is the capital of France?", "--greedy", "-n", "8", "--json", "--engine", "transformers")
    assert r.exit_code == 0, r
    obj = json.loads(r.stdout)
    assert obj["settings"]["engine"] == "transformers" and "Paris" in obj["text"]
    assert "transformers engine (--engine transformers)" in r.stderr


def test_engine_auto_picks_transformers_for_a_model_folder(cli, tiny):
    r = cli("generate", "hi", "-m", tiny, "-n", "3", "--json")
    assert json.loads(r.stdout)["settings"]["engine"] == "transformers"
    assert "transformers engine (a transformers model)" in r.stderr


def test_gguf_type_table_matches_the_gguf_package():
    from gguf.constants import GGML_QUANT_SIZES

    from genai_cli.text.gguf_file import TYPE_SIZES

    assert TYPE_SIZES == {int(k): v for k, v in GGML_QUANT_SIZES.items()}


def test_gguf_header_of_the_builtin_file():
    from genai_cli.text.gguf_file import read_header

    info = read_header(Path(_builtin_gguf()))
    assert info.architecture == "llama" and info.context_length == 8192 and info.n_tensors == 272
    assert "<|im_start|>" in info.chat_template
