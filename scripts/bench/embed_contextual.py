"""Benchmark: `genai embed contextual` on 10 sentences vs `genai next` on one prompt, end to end.

    .venv/bin/python scripts/bench/embed_contextual.py [--runs 5]

Both load the same built-in SmolLM2-135M from the same cache folder (converted once, before
the timed runs) and run it on the CPU; each command runs as a fresh process (what a user
waits for), `--runs` times, interleaved; the median wall time is reported, with the model
load time each command reports on stderr.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable
GENAI = str(Path(PY).with_name("genai"))

SENTENCES = [
    "he sat down on the river bank",
    "the boat drifted towards the muddy bank",
    "wild flowers grew along the bank",
    "we had a picnic on the grassy bank",
    "the fisherman stood on the bank",
    "she deposited cash at the bank",
    "he asked the bank for a mortgage",
    "my salary is paid into the bank",
    "the robbers broke into the bank",
    "interest rates at the bank went up",
]


def timed(cmd: list[str]) -> tuple[float, float | None]:
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    m = re.search(r"loaded \S+ in ([\d.]+) s", p.stderr)
    return elapsed, float(m.group(1)) if m else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    cmds = {
        'genai next "The capital of France is"': [GENAI, "next", "The capital of France is"],
        "genai embed contextual --word bank (10 sentences)": [
            GENAI,
            "embed",
            "contextual",
            "--word",
            "bank",
            *SENTENCES,
        ],
    }
    for cmd in cmds.values():  # warm-up: model converted, files in the page cache
        timed(cmd)
    times: dict[str, list[float]] = {k: [] for k in cmds}
    loads: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(args.runs):
        for name, cmd in cmds.items():
            wall, load = timed(cmd)
            times[name].append(wall)
            if load is not None:
                loads[name].append(load)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        load = f"  (model load {statistics.median(loads[k]):.2f} s)" if loads[k] else ""
        print(f"{v:8.2f} s  median of {args.runs}  {k}{load}")
    next_t, ctx_t = med.values()
    print(f"contextual (10 sentences) / next (1 prompt) = {ctx_t / next_t:.2f}x")


if __name__ == "__main__":
    main()
