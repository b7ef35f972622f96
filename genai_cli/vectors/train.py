"""Train word2vec with gensim on a text file; save vectors that `--vectors` loads."""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Callable, Iterator

from genai_cli.errors import UsageError

TOKEN = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+", re.UNICODE)  # words (with apostrophes) and numbers


class Corpus:
    """Re-iterable token stream: one list of lower-cased tokens per non-empty line."""

    def __init__(self, path: Path):
        self.path = path

    def __iter__(self) -> Iterator[list[str]]:
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                tokens = TOKEN.findall(line.lower())
                if tokens:
                    yield tokens


def check_inputs(corpus: Path, out: Path, force: bool, settings: dict) -> None:
    """Everything that can be wrong with the request, before any work."""
    if not corpus.is_file():
        raise UsageError(f"corpus not found: {corpus}")
    if corpus.stat().st_size == 0:
        raise UsageError(f"corpus is empty: {corpus}")
    if out.exists() and out.is_dir():
        raise UsageError(f"--out is a folder: {out}")
    if out.exists() and not force:
        raise UsageError(f"{out} exists", hint="use --force to overwrite it, or another --out")
    if not out.parent.resolve().exists():
        raise UsageError(f"folder does not exist: {out.parent}")
    if settings["format"] not in ("word2vec-binary", "word2vec", "gensim"):
        raise UsageError(f"unknown save format {settings['format']!r}", hint="use word2vec-binary, word2vec or gensim")


def train(corpus: Path, out: Path, settings: dict, progress: Callable[..., None] | None = None) -> dict:
    from gensim.models import Word2Vec
    from gensim.models.callbacks import CallbackAny2Vec

    class Epochs(CallbackAny2Vec):
        def on_epoch_end(self, model) -> None:
            if progress:
                progress(1)

    t0 = time.perf_counter()
    sentences = Corpus(corpus)
    model = Word2Vec(
        vector_size=settings["vector_size"],
        window=settings["window"],
        min_count=settings["min_count"],
        sg=int(settings["sg"]),
        negative=settings["negative"],
        hs=0 if settings["negative"] > 0 else 1,
        workers=settings["workers"],
        seed=settings["seed"],
    )
    model.build_vocab(sentences)
    if not model.wv.index_to_key:
        raise UsageError(
            f"no word in {corpus} occurs at least {settings['min_count']} times",
            hint="lower --min-count, or give a larger corpus",
        )
    model.train(sentences, total_examples=model.corpus_count, epochs=settings["epochs"], callbacks=[Epochs()])
    kv = model.wv
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        if settings["format"] == "gensim":
            kv.save(str(tmp))
        else:
            kv.save_word2vec_format(str(tmp), binary=settings["format"] == "word2vec-binary")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return {
        "path": str(out),
        "format": settings["format"],
        "vocab_size": len(kv.index_to_key),
        "vector_size": kv.vector_size,
        "corpus_words": model.corpus_total_words,
        "epochs": settings["epochs"],
        "seed": settings["seed"],
        "workers": settings["workers"],
        "seconds": round(time.perf_counter() - t0, 3),
    }
