"""Benchmark: reading a large word2vec text file, genai's one-time conversion vs gensim.

    .venv/bin/python scripts/bench/vectors_convert.py [--words 400000] [--dim 300] [--runs 1]

Makes a synthetic word2vec text file at run time (not committed): the built-in GloVe words
(400,000) with their 50-d vectors tiled to --dim and seeded noise added, written with 6
decimals (400,000 x 300 is about 1 GB; use a smaller --words for a quick run). Then, each in a
fresh process, interleaved --runs times:

* genai: `genai embed vector WORD --vectors FILE` with an empty GENAI_CACHE, i.e. the one-time
  conversion (parse, checks, the cache written) plus one query; its progress bar is on stderr;
* gensim: `KeyedVectors.load_word2vec_format(FILE)` then the same vector.

Prints wall time (median) and peak resident memory of each, the ratio, and genai's peak against
the float32 matrix alone (target: at most the matrix plus a small constant).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
GENAI = str(Path(PY).with_name("genai"))
GENSIM = (
    "import sys; from gensim.models import KeyedVectors; "
    "kv = KeyedVectors.load_word2vec_format(sys.argv[1]); print(kv[sys.argv[2]][0])"
)


def make_file(path: Path, n_words: int, dim: int, seed: int = 0) -> None:
    import numpy as np

    from genai_cli.vectors import store

    glove = store.load("glove-6b-50d")
    n_words = min(n_words, len(glove))
    words = glove.words[:n_words]
    rng = np.random.default_rng(seed)
    reps = -(-dim // glove.dim)
    row_fmt = "%s " + " ".join(["%.6f"] * dim) + "\n"
    with open(path, "w", encoding="utf-8") as f:
        f.write(f"{n_words} {dim}\n")
        for start in range(0, n_words, 10000):
            block = np.tile(np.asarray(glove.vectors[start : start + 10000]), reps)[:, :dim]
            block = block + rng.normal(0, 0.05, block.shape).astype(np.float32)
            f.write("".join(row_fmt % (w, *row) for w, row in zip(words[start : start + 10000], block.tolist())))
    print(f"wrote the test file: {n_words:,} words", file=sys.stderr)


def run(cmd: list[str], env: dict | None = None, show_stderr: bool = False) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of one fresh process."""
    t = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=None if show_stderr else subprocess.PIPE, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    elapsed = time.perf_counter() - t
    out = p.stdout.read().decode()
    err = p.stderr.read().decode() if p.stderr else ""
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{out}\n{err}")
    return elapsed, usage.ru_maxrss * 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--words", type=int, default=400_000)
    ap.add_argument("--dim", type=int, default=300)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        make_file(args.make, args.words, args.dim)
        return
    tmp = Path(tempfile.mkdtemp(prefix="genai-bench-vectors-"))
    try:
        path = tmp / f"synthetic-{args.words}x{args.dim}.txt"
        # made in a child process: a child's peak RSS starts from its parent's (fork), so the
        # parent stays small and the figures below are the commands' own
        subprocess.run(
            [PY, __file__, "--make", str(path), "--words", str(args.words), "--dim", str(args.dim)], check=True
        )
        size = path.stat().st_size
        n_words = int(path.open().readline().split()[0])
        matrix_bytes = n_words * args.dim * 4
        print(
            f"file: {n_words:,} words x {args.dim} dims, {size / 1e6:,.0f} MB; "
            f"float32 matrix {matrix_bytes / 1e6:,.0f} MB"
        )
        _, base_rss = run([GENAI, "embed", "vector", "paris", "--vectors", "slide"])
        times: dict[str, list[float]] = {"genai": [], "gensim": []}
        rss: dict[str, int] = {"genai": 0, "gensim": 0}
        for i in range(args.runs):
            cache = tmp / f"cache{i}"
            env = {**os.environ, "GENAI_CACHE": str(cache)}
            t, m = run([GENAI, "embed", "vector", "the", "--vectors", str(path)], env, show_stderr=True)
            times["genai"].append(t)
            rss["genai"] = max(rss["genai"], m)
            shutil.rmtree(cache, ignore_errors=True)
            t, m = run([PY, "-c", GENSIM, str(path), "the"])
            times["gensim"].append(t)
            rss["gensim"] = max(rss["gensim"], m)
        med = {k: statistics.median(v) for k, v in times.items()}
        for k in ("genai", "gensim"):
            print(f"{med[k]:8.2f} s   peak RSS {rss[k] / 1e6:7.0f} MB   {k}  (median of {args.runs})")
        print(f"gensim / genai time = {med['gensim'] / med['genai']:.2f}x   (target: at least 2x)")
        extra = rss["genai"] - matrix_bytes
        print(
            f"genai peak RSS = matrix {matrix_bytes / 1e6:,.0f} MB + {extra / 1e6:,.0f} MB "
            f"(the same genai command on the built-in 2-D slide set: {base_rss / 1e6:,.0f} MB)   "
            "(target: matrix + a small constant)"
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
