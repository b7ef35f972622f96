"""Benchmark: one analogy query end to end, genai vs `import numpy` vs gensim; and `genai embed math`.

    .venv/bin/python scripts/bench/embed_analogy.py [--runs 15]

Each command runs as a fresh process (what a user waits for), `--runs` times, interleaved;
the median wall time is reported. genai runs once first so its cache exists. The gensim
path is the fastest one a user could write: the same GloVe vectors saved once in gensim's
native format and memory-mapped, then `most_similar`.
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

GENSIM_QUERY = """
import sys
from gensim.models import KeyedVectors
kv = KeyedVectors.load(sys.argv[1], mmap="r")
print(kv.most_similar(positive=["paris", "england"], negative=["france"], topn=10)[0][0])
"""


def prepare_gensim(folder: Path) -> Path:
    import numpy as np
    from gensim.models import KeyedVectors

    from genai_cli.vectors import store

    vs = store.load("glove-6b-50d")
    kv = KeyedVectors(vector_size=vs.dim)
    kv.add_vectors(vs.words, np.asarray(vs.vectors))
    path = folder / "glove-6b-50d.kv"
    kv.save(str(path))
    return path


def timed(cmd: list[str]) -> float:
    t = time.perf_counter()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    elapsed = time.perf_counter() - t
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="genai-bench-"))
    try:
        kv_path = prepare_gensim(tmp)
        cmds = {
            "python -c 'import numpy'": [PY, "-c", "import numpy"],
            "genai embed analogy paris france england": [GENAI, "embed", "analogy", "paris", "france", "england"],
            "gensim: load (mmap) + most_similar": [PY, "-c", GENSIM_QUERY, str(kv_path)],
            'genai embed math "king - man + woman"': [GENAI, "embed", "math", "king - man + woman"],
        }
        for cmd in cmds.values():  # warm-up: caches built, files in the page cache
            timed(cmd)
        times: dict[str, list[float]] = {k: [] for k in cmds}
        for _ in range(args.runs):
            for name, cmd in cmds.items():
                times[name].append(timed(cmd))
        med = {k: statistics.median(v) for k, v in times.items()}
        for k, v in med.items():
            print(f"{v * 1000:8.1f} ms  median of {args.runs}  {k}")
        numpy_t, genai_t, gensim_t, math_t = med.values()
        print(f"genai / import numpy = {genai_t / numpy_t:.2f}x   (target: at most 2x)")
        print(f"gensim / genai       = {gensim_t / genai_t:.2f}x   (target: genai faster, > 1x)")
        print(f"math / import numpy  = {math_t / numpy_t:.2f}x   (target: at most 2x)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "0")
    main()
