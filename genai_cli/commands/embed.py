"""`genai embed`: word vectors and their arithmetic.

Every query command answers the words given on the command line, or, with `-` or no words
and a piped stdin, one query per line: one answer line (or JSON object) per query, flushed
as it is written. In stdin mode a bad line is reported (on stderr, or as a JSON error object)
and the rest go on; the exit code is then 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Callable, Optional

import typer

from genai_cli.commands.common import (
    ConfigOpt,
    DeviceOpt,
    ForceOpt,
    JsonOpt,
    PrecisionOpt,
    model_option,
    out_option,
    refuse_existing_file,
    seed_option,
)

app = typer.Typer(
    help="Word vectors: analogies, neighbours, evaluation, plots, training.", no_args_is_help=True, add_completion=False
)

VectorsOpt = Annotated[
    Optional[str],
    typer.Option(
        "--vectors",
        "-v",
        help=(
            "glove-6b-50d (built-in), slide (the talk's 2-D example), or a gensim / word2vec / GloVe / fastText file. "
            "(config: embed.vectors)"
        ),
        show_default=False,
    ),
]
FormatOpt = Annotated[
    Optional[str],
    typer.Option(
        "--format",
        help="Vector file format: auto, gensim, word2vec, word2vec-binary, glove, fasttext. (config: embed.format)",
        show_default=False,
    ),
]
TopnOpt = Annotated[
    Optional[int],
    typer.Option(
        "--topn", "-n", min=1, max=10000, help="How many words to list. (config: embed.topn)", show_default=False
    ),
]
WordsArg = Annotated[
    Optional[list[str]],
    typer.Argument(help="Words; `-` or none (with piped stdin) reads one query per line.", show_default=False),
]


MAX_TITLE = 200  # characters of a plot's --title


def _settings(config: Optional[Path], **flags) -> dict:
    from genai_cli import config as cfg
    from genai_cli.errors import UsageError, shorten

    s = cfg.section("embed", config, **flags)
    for key, allowed in (("method", ("add", "mul")), ("format", store_formats())):
        if key in flags and flags[key] is not None and flags[key] not in allowed:
            raise UsageError(f"--{key} {shorten(flags[key])} is not one of: {', '.join(allowed)}")
    return s


def store_formats() -> tuple[str, ...]:
    from genai_cli.vectors.store import FORMATS

    return FORMATS


def _open(settings: dict):
    from genai_cli import console
    from genai_cli.vectors import store

    return store.load(
        settings["vectors"], settings["format"], notify=console.info, warn=console.warn, progress=console.progress
    )


def _stdin_mode(words: Optional[list[str]]) -> bool:
    from genai_cli.commands.queries import wants_stdin

    return wants_stdin(words)


def _run_queries(
    words: Optional[list[str]],
    answer: Callable[[list[str]], tuple[dict, str]],
    as_json: bool,
    usage: str,
) -> None:
    """Answer the command-line query, or every stdin line (genai_cli.commands.queries).
    `answer(words) -> (json_obj, text)`."""
    from genai_cli import console
    from genai_cli.commands import queries

    queries.run(
        words,
        lambda q: console.emit(*answer(q), as_json),
        as_json=as_json,
        what="words",
        usage=usage,
        hint="give the words as arguments, or pipe one query per line",
        parse=str.split,
    )


def _arity(words: list[str], n: int, usage: str) -> None:
    from genai_cli.errors import UsageError, shorten

    if len(words) != n:
        raise UsageError(
            f"expected {n} word{'s' if n > 1 else ''}, got {len(words)}: {shorten(' '.join(words))}", hint=usage
        )


# --- analogy ---------------------------------------------------------------------------


@app.command()
def analogy(
    words: WordsArg = None,
    method: Annotated[
        Optional[str],
        typer.Option("--method", help="add (3CosAdd) or mul (3CosMul). (config: embed.method)", show_default=False),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Show the arithmetic: each vector, the result vector, the words nearest to it."),
    ] = False,
    vectors: VectorsOpt = None,
    fmt: FormatOpt = None,
    topn: TopnOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """A - B + C: the word that is to C what A is to B (`paris france england` -> paris - france + england)."""
    from genai_cli.vectors import ops

    s = _settings(config, vectors=vectors, format=fmt, topn=topn, method=method)
    vs = _open(s)
    usage = "genai embed analogy A B C   (A - B + C, e.g. paris france england)"
    multi = _stdin_mode(words)  # one line per query: candidates side by side

    def answer(q: list[str]) -> tuple[dict, str]:
        _arity(q, 3, usage)
        res = ops.analogy(vs, q[0], q[1], q[2], s["topn"], s["method"])
        obj = res.as_dict()
        obj["expression"] = f"{q[0]} - {q[1]} + {q[2]}"
        if explain:
            obj["explain"] = ops.explain(vs, q[0], q[1], q[2], topn=min(5, s["topn"] + 3))
            return obj, _explain_text(obj["explain"], res)
        if multi:
            return obj, res.one_line()
        return obj, "\n".join(res.text_lines())

    _run_queries(words, answer, json_out, usage)


def _fmt_vec(v: list[float], width: int = 6) -> str:
    shown = ", ".join(f"{x:.2f}" for x in v[:width])
    return f"[{shown}{', …' if len(v) > width else ''}]" + (f"  ({len(v)} dims)" if len(v) > width else "")


def _explain_text(ex: dict, res) -> str:
    return _arithmetic_text([t["word"] for t in ex["terms"]], ex, res, f"answer ({res.method}, input words excluded):")


def _arithmetic_text(labels: list[str], ex: dict, res, answer: str) -> str:
    """The terms with their vectors, the result, its nearest words, then the answer (analogy and math --explain)."""
    width = max(len(x) for x in [*labels, "result"]) + 2
    lines = [f"{t['sign'] or ' '} {label:<{width}}{_fmt_vec(t['vector'])}" for t, label in zip(ex["terms"], labels)]
    lines.append(f"= {'result':<{width}}{_fmt_vec(ex['result'])}")
    lines.append("")
    lines.append(f"nearest to the result{'':<8}cosine  distance")
    for n in ex["nearest"]:
        lines.append(f"  {n['word']:<27}{n['cosine']:.4f}  {n['distance']:8.4f}")
    lines.append("")
    lines.append(answer)
    lines.extend("  " + line for line in res.text_lines())
    return "\n".join(lines)


# --- neighbours and similarity ---------------------------------------------------------


@app.command()
def similar(
    words: WordsArg = None,
    vectors: VectorsOpt = None,
    fmt: FormatOpt = None,
    topn: TopnOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """The words nearest to WORD (cosine similarity)."""
    from genai_cli.vectors import ops

    s = _settings(config, vectors=vectors, format=fmt, topn=topn)
    vs = _open(s)
    multi = _stdin_mode(words)

    def answer(q: list[str]) -> tuple[dict, str]:
        _arity(q, 1, "genai embed similar WORD")
        res = ops.similar(vs, q[0], s["topn"])
        if multi:
            return res.as_dict(), res.one_line()
        return res.as_dict(), "\n".join(res.text_lines())

    _run_queries(words, answer, json_out, "genai embed similar WORD")


@app.command()
def similarity(
    words: WordsArg = None,
    vectors: VectorsOpt = None,
    fmt: FormatOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """The cosine similarity of two words."""
    from genai_cli.vectors import ops

    s = _settings(config, vectors=vectors, format=fmt)
    vs = _open(s)

    def answer(q: list[str]) -> tuple[dict, str]:
        _arity(q, 2, "genai embed similarity W1 W2")
        value = ops.similarity(vs, q[0], q[1])
        return {"words": q, "similarity": round(value, 6)}, f"{value:.4f}"

    _run_queries(words, answer, json_out, "genai embed similarity W1 W2")


@app.command("doesnt-match")
def doesnt_match(
    words: WordsArg = None,
    vectors: VectorsOpt = None,
    fmt: FormatOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """The word that does not belong with the others."""
    from genai_cli.vectors import ops

    s = _settings(config, vectors=vectors, format=fmt)
    vs = _open(s)

    def answer(q: list[str]) -> tuple[dict, str]:
        res = ops.doesnt_match(vs, q)
        return res, res["odd_one_out"]

    _run_queries(words, answer, json_out, "genai embed doesnt-match W1 W2 W3 ...")


@app.command()
def vector(
    words: WordsArg = None,
    vectors: VectorsOpt = None,
    fmt: FormatOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """The vector of WORD (space-separated numbers, or JSON)."""
    from genai_cli.vectors import ops

    s = _settings(config, vectors=vectors, format=fmt)
    vs = _open(s)

    def answer(q: list[str]) -> tuple[dict, str]:
        _arity(q, 1, "genai embed vector WORD")
        v = ops.vector(vs, q[0])
        return {"word": q[0], "dim": len(v), "vector": v}, " ".join(f"{x:.6g}" for x in v)

    _run_queries(words, answer, json_out, "genai embed vector WORD")


# --- evaluate ----------------------------------------------------------------------------


@app.command()
def evaluate(
    restrict: Annotated[
        Optional[int],
        typer.Option(
            "--restrict",
            min=1,
            max=10_000_000,
            help="Only the N most frequent words are candidates (gensim: restrict_vocab). (config: embed.restrict)",
            show_default=False,
        ),
    ] = None,
    analogies: Annotated[
        Optional[Path],
        typer.Option(
            "--analogies",
            help="An analogy file in the Google format (default: questions-words.txt shipped with gensim).",
            show_default=False,
        ),
    ] = None,
    method: Annotated[
        Optional[str],
        typer.Option(
            "--method", help="add (3CosAdd, as gensim) or mul (3CosMul). (config: embed.method)", show_default=False
        ),
    ] = None,
    skip_pairs: Annotated[
        bool, typer.Option("--skip-pairs", help="Only the analogy test, not SimLex-999 / WordSim-353.")
    ] = False,
    vectors: VectorsOpt = None,
    fmt: FormatOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Analogy accuracy (Google set) per section, and correlation with human judgements (SimLex-999, WordSim-353)."""
    import time

    from genai_cli import console
    from genai_cli.vectors import evaluate as ev

    s = _settings(config, vectors=vectors, format=fmt, restrict=restrict, method=method)
    if analogies is not None:
        ev.read_analogies(analogies)  # a bad file is refused before the vectors load
    vs = _open(s)
    t0 = time.perf_counter()
    with console.progress("analogies") as advance:
        report = ev.evaluate_analogies(
            vs, analogies or ev.dataset_path("questions-words.txt"), s["restrict"], method=s["method"], progress=advance
        )
    pairs = []
    if not skip_pairs:
        with console.progress("word pairs", total=len(ev.PAIR_SETS)) as advance:
            for name in ev.PAIR_SETS:
                pairs.append(ev.evaluate_pairs(vs, ev.dataset_path(name), s["restrict"]))
                advance()
    elapsed = time.perf_counter() - t0
    if json_out:
        console.result_json(
            {"vectors": vs.name, "analogies": report, "word_pairs": pairs, "seconds": round(elapsed, 3)}
        )
        return
    console.print_table(_analogy_table(report, vs.name))
    if pairs:
        console.print_table(_pairs_table(pairs))
    console.info(f"evaluated in {elapsed:.2f} s")


def _analogy_table(report: dict, name: str):
    from rich.table import Table

    t = Table(
        title=(
            f"Google analogies on {name}: {report['method']}, "
            f"candidates = the {report['restrict']:,} most frequent words"
        ),
        title_justify="left",
    )
    t.add_column("section")
    t.add_column("correct", justify="right")
    t.add_column("asked", justify="right")
    t.add_column("accuracy", justify="right")
    t.add_column("skipped (unknown words)", justify="right")
    for sec in report["sections"]:
        t.add_row(sec["section"], str(sec["correct"]), str(sec["asked"]), f"{sec['accuracy']:.4f}", str(sec["skipped"]))
    o = report["overall"]
    t.add_row("[b]overall[/b]", str(o["correct"]), str(o["asked"]), f"[b]{o['accuracy']:.4f}[/b]", str(o["skipped"]))
    t.caption = (
        f"coverage: {o['asked']:,} of {o['total']:,} questions ({o['coverage']:.1%}); "
        "questions with a word outside the candidates are skipped, as gensim does"
    )
    return t


def _pairs_table(pairs: list[dict]):
    from rich.table import Table

    t = Table(title="Word-pair similarity vs human judgement", title_justify="left")
    for col in ("dataset", "pairs used", "skipped", "pearson r", "spearman rho"):
        t.add_column(col, justify="left" if col == "dataset" else "right")
    for p in pairs:
        t.add_row(p["dataset"], str(p["used"]), str(p["skipped"]), f"{p['pearson']:.4f}", f"{p['spearman']:.4f}")
    return t


# --- plot ------------------------------------------------------------------------------------


@app.command()
def plot(
    words: Annotated[list[str], typer.Argument(help="Words to place on the plane (two or more).")],
    pairs: Annotated[
        bool,
        typer.Option(
            "--pairs", help="Read the words as pairs (country capital country capital ...) and draw an arrow for each."
        ),
    ] = False,
    out: Annotated[
        Optional[Path], out_option("PNG path; default: embed-plot.png in embed.plot_dir, a fresh name if it exists.")
    ] = None,
    force: ForceOpt = False,
    title: Annotated[
        Optional[str], typer.Option("--title", help="Figure title (at most 200 characters).", show_default=False)
    ] = None,
    vectors: VectorsOpt = None,
    fmt: FormatOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """A PNG of the words projected to 2-D with PCA (arrows for analogy pairs with --pairs)."""
    from genai_cli import console
    from genai_cli.vectors import plot as vplot

    if title is not None and len(title) > MAX_TITLE:
        from genai_cli.errors import UsageError

        raise UsageError(f"--title is {len(title):,} characters long; at most {MAX_TITLE}")
    s = _settings(config, vectors=vectors, format=fmt)
    refuse_existing_file(out, force)
    vs = _open(s)
    target = out if out is not None else Path(s["plot_dir"]) / "embed-plot.png"
    recipe = {"command": "embed plot", "vectors": vs.name, "words": words, "pairs": pairs, "title": title}
    info = vplot.plot_words(
        vs, words, target, pairs=pairs, force=force, fresh_name=out is None, title=title, recipe=recipe
    )
    console.emit(info, info["path"], json_out)


# --- context ----------------------------------------------------------------------------------


@app.command()
def context(
    file: Annotated[
        Optional[Path],
        typer.Argument(
            help=(
                "A YAML file with `contexts` (slot sentences) and `words` (a row of 0/1 per word). "
                "Default: the talk's tezgüino example."
            ),
            show_default=False,
        ),
    ] = None,
    word: Annotated[
        Optional[str],
        typer.Option(
            "--word",
            "-w",
            help="The word whose neighbours to show (default: the file's `target`, else its first word).",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """The talk's tezgüino demonstration: words that fit the same contexts mean similar things."""
    from genai_cli import console
    from genai_cli.vectors import context as ctx

    example = ctx.load_example(file)
    res = ctx.analyse(example, word)
    if json_out:
        console.result_json(res)
        return
    console.print_table(_context_table(res))
    console.print_table(_context_sim_table(res))


def _context_table(res: dict):
    from rich.table import Table

    t = Table(title="Which words fit which context (1 = fits)", title_justify="left")
    t.add_column("word")
    for i, c in enumerate(res["contexts"], start=1):
        t.add_column(f"({i}) {c}", justify="center")
    for w, row in zip(res["words"], res["matrix"]):
        t.add_row(w, *[f"{x:g}" for x in row])
    return t


def _context_sim_table(res: dict):
    from rich.table import Table

    t = Table(title=f"Words whose context vectors are most like {res['target']!r}", title_justify="left")
    t.add_column("word")
    t.add_column("cosine", justify="right")
    for r in res["similar"]:
        t.add_row(r["word"], f"{r['cosine']:.4f}")
    return t


# --- train ----------------------------------------------------------------------------------------


@app.command()
def train(
    corpus: Annotated[Path, typer.Argument(help="A text file: one sentence (or paragraph) per line.")],
    out: Annotated[Path, out_option("Where to save the vectors (usable with --vectors).")] = Path("vectors.bin"),
    force: ForceOpt = False,
    vector_size: Annotated[
        Optional[int],
        typer.Option(
            "--size", min=1, max=10000, help="Vector dimensions. (config: embed.train.vector_size)", show_default=False
        ),
    ] = None,
    window: Annotated[
        Optional[int],
        typer.Option(
            "--window",
            min=1,
            max=100,
            help="Context words on each side. (config: embed.train.window)",
            show_default=False,
        ),
    ] = None,
    min_count: Annotated[
        Optional[int],
        typer.Option(
            "--min-count",
            min=1,
            max=1_000_000_000,
            help="Ignore rarer words. (config: embed.train.min_count)",
            show_default=False,
        ),
    ] = None,
    epochs: Annotated[
        Optional[int],
        typer.Option(
            "--epochs", min=1, max=1000, help="Passes over the corpus. (config: embed.train.epochs)", show_default=False
        ),
    ] = None,
    sg: Annotated[
        Optional[bool],
        typer.Option("--sg/--cbow", help="Skip-gram or CBOW. (config: embed.train.sg)", show_default=False),
    ] = None,
    workers: Annotated[
        Optional[int],
        typer.Option(
            "--workers", min=1, max=256, help="Training threads. (config: embed.train.workers)", show_default=False
        ),
    ] = None,
    seed: Annotated[
        Optional[int],
        seed_option(
            "Seed of the initial vectors; a seed trains with 1 worker, so the vectors repeat; "
            "unset: a fresh random seed, printed on stderr.",
            "embed.train.seed, runtime.seed",
        ),
    ] = None,
    out_format: Annotated[
        Optional[str],
        typer.Option(
            "--save-format",
            help="word2vec-binary, word2vec (text) or gensim. (config: embed.train.format)",
            show_default=False,
        ),
    ] = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Train word2vec (gensim) on a text file and save vectors that --vectors can load."""
    from genai_cli import config as cfg
    from genai_cli import console
    from genai_cli.vectors import train as vtrain

    loaded = cfg.load(config)
    s = dict(loaded["embed"]["train"])
    flags = dict(
        vector_size=vector_size,
        window=window,
        min_count=min_count,
        epochs=epochs,
        sg=sg,
        workers=workers,
        format=out_format,
    )
    s.update({k: v for k, v in flags.items() if v is not None})
    refuse_existing_file(out, force)
    vtrain.check_inputs(corpus, out, force, s)
    _train_seed(s, seed, loaded["runtime"]["seed"], workers)
    with console.progress("training word2vec", total=s["epochs"]) as advance:
        info = vtrain.train(corpus, out, s, progress=advance)
    console.info(
        f"{info['vocab_size']:,} words x {info['vector_size']} dims "
        f"from {info['corpus_words']:,} tokens in {info['seconds']:.1f} s"
    )
    console.emit(info, info["path"], json_out)


def _train_seed(s: dict, flag: Optional[int], runtime_seed: Optional[int], workers_flag: Optional[int]) -> None:
    """The seed policy (genai_cli.seeds) for word2vec: gensim's threads race, so a given seed trains with one
    worker (said on stderr) unless --workers asks for more (then a warning: the vectors will differ)."""
    from genai_cli import console, seeds

    s["seed"], where = seeds.choose(flag, s.get("seed"), runtime_seed)
    if where == "random":
        console.info(
            f"seed {s['seed']} (random; --seed {s['seed']} trains again with 1 worker, which repeats its vectors)"
        )
        return
    console.info(seeds.describe(s["seed"], where))
    if workers_flag is not None and workers_flag > 1:
        console.warn(
            f"--workers {workers_flag}: gensim's threads make the vectors differ from run to run even with a seed "
            "(--workers 1 repeats them)"
        )
    elif s["workers"] != 1:
        s["workers"] = 1
        console.info(
            "training with 1 worker so that the seed repeats the vectors exactly "
            "(--workers N is faster, not repeatable)"
        )


# --- math: any number of terms -------------------------------------------------------------------


@app.command("math")
def math_expr(
    words: Annotated[
        Optional[list[str]],
        typer.Argument(
            help=(
                'An expression: words joined by + and -, weights as 0.5*paris ("king - man + woman", quoted or as '
                "separate words); `-` or none (with piped stdin) reads one per line."
            ),
            show_default=False,
        ),
    ] = None,
    keep_inputs: Annotated[
        bool,
        typer.Option(
            "--keep-inputs",
            help="Let the expression's own words be answers (gensim leaves them out, and so does genai by default).",
        ),
    ] = False,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="Show the arithmetic: each vector, the weighted sum, the words nearest to it."),
    ] = False,
    vectors: VectorsOpt = None,
    fmt: FormatOpt = None,
    topn: TopnOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
) -> None:
    """Word arithmetic with any number of terms: the words nearest to "king - man + woman" (as gensim's
    most_similar). At most 100 terms."""
    from genai_cli.vectors import math as vmath

    s = _settings(config, vectors=vectors, format=fmt, topn=topn)
    vs = _open(s)
    multi = _stdin_mode(words)

    def answer(q: list[str]) -> tuple[dict, str]:
        terms = vmath.parse(" ".join(q))
        res = vmath.nearest(vs, terms, s["topn"], keep_inputs)
        obj = res.as_dict()
        obj["expression"] = vmath.expression_text(terms)
        obj["terms"] = [{"word": t.word, "weight": t.weight} for t in terms]
        obj["inputs_excluded"] = not keep_inputs
        if explain:
            obj["explain"] = vmath.explain(vs, terms, topn=min(5, s["topn"] + len(terms)))
            return obj, _math_explain_text(obj["explain"], res, keep_inputs)
        if multi:
            return obj, res.one_line()
        return obj, "\n".join(res.text_lines())

    _run_queries(words, answer, json_out, vmath.USAGE)


def _math_explain_text(ex: dict, res, keep_inputs: bool) -> str:
    labels = [t["word"] if abs(t["weight"]) == 1 else f"{abs(t['weight']):g}*{t['word']}" for t in ex["terms"]]
    answer = f"answer ({res.method} on unit vectors, input words {'kept' if keep_inputs else 'excluded'}):"
    return _arithmetic_text(labels, ex, res, answer)


# --- contextual: one vector per occurrence -------------------------------------------------------


@app.command()
def contextual(
    sentences: Annotated[
        Optional[list[str]],
        typer.Argument(
            help="Sentences that contain WORD; `-` or none (with piped stdin) reads one per line.", show_default=False
        ),
    ] = None,
    word: Annotated[
        str,
        typer.Option(
            "--word", "-w", help="The word whose occurrences to compare (whole word, any case).", show_default=False
        ),
    ] = "",
    layer: Annotated[
        Optional[int],
        typer.Option(
            "--layer",
            "-l",
            help=(
                "Hidden state to use: 0 = token embeddings .. N = last layer, negative from the last. "
                "Default: the middle layer, N // 2."
            ),
            show_default=False,
        ),
    ] = None,
    layers: Annotated[
        bool,
        typer.Option(
            "--layers", help="Also show each pair's similarity at every layer, from the token embeddings to the last."
        ),
    ] = False,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot",
            help=(
                "Draw the occurrences on a plane (PCA to 2-D) as a PNG and print its path; "
                "with --layers, also a line plot of the layers."
            ),
        ),
    ] = False,
    out: Annotated[
        Optional[Path],
        out_option(
            "PNG path of the plot (implies --plot); default: contextual-WORD.png in embed.plot_dir, "
            "a fresh name if it exists."
        ),
    ] = None,
    force: ForceOpt = False,
    model: Annotated[
        Optional[str],
        model_option(
            "smollm2-135m-instruct (built-in), a transformers model folder or cached hub id, encoders included.",
            "text.model",
        ),
    ] = None,
    vectors: VectorsOpt = None,
    fmt: FormatOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Contextual vectors: each occurrence of WORD gets its own vector from a Transformer; compare them
    (static GloVe: always 1.0).

    The built-in SmolLM2 is causal: an occurrence's vector sees only the words before it.
    """
    from genai_cli.commands.text import _passive_threads

    _passive_threads()
    from genai_cli import config as cfgmod
    from genai_cli import console
    from genai_cli.commands import queries
    from genai_cli.commands.common import setup_runtime
    from genai_cli.vectors import contextual as ctx

    if queries.wants_stdin(sentences):  # all of them first: they are compared with each other
        sentences = queries.read_all(
            "sentence",
            max_chars=ctx.MAX_SENTENCE_CHARS,
            max_queries=ctx.MAX_SENTENCES,
            hint="pipe one sentence per line, or give them as arguments",
        )
    sentences = list(sentences or [])
    ctx.check_inputs(word, sentences)
    s = _settings(config, vectors=vectors, format=fmt)
    target = out if out is not None else Path(s["plot_dir"]) / f"contextual-{_safe_name(word)}.png"
    plot = plot or out is not None  # --out names the plot: asking for it is asking for the plot
    if plot:
        ctx.check_out(target)
        refuse_existing_file(out, force)
    name = cfgmod.section("text", config, model=model)["model"]
    enc = ctx.prepare(name, on_info=console.info)  # config and tokenizer: check the layer and the lengths first
    li = ctx.resolve_layer(layer, enc.n_layers)
    encodings = ctx.tokenize(enc, sentences)
    rt = setup_runtime(config, device, precision, None)
    ctx.load(enc, rt.device, rt.dtype)
    console.info(
        f"loaded {enc.name} in {enc.load_s:.1f} s "
        f"({enc.n_layers} layers, {'causal' if enc.causal else 'sees both sides'})"
    )
    occs = ctx.occurrences(enc, word, sentences, encodings)
    sim = ctx.similarity(occs, li)
    static = _static_similarity(s, word)
    causal_note = (
        "causal model: each occurrence's vector sees only the words before it (left of the [brackets])"
        if enc.causal
        else "this model sees the words on both sides of each occurrence"
    )
    obj: dict = {
        "word": word.strip(),
        "model": enc.name,
        "model_path": str(enc.path),
        "layer": li,
        "n_layers": enc.n_layers,
        "causal": enc.causal,
        "note": causal_note,
        "occurrences": [
            {
                "label": o.label,
                "sentence": o.sentence,
                "text": o.text,
                "start": o.start,
                "end": o.end,
                "tokens": o.tokens,
                "context_seen": o.before() if enc.causal else o.text,
            }
            for o in occs
        ],
        "similarity": sim.round(6).tolist(),
        "static": static,
    }
    pairs = table = None
    if layers:
        pairs, table = ctx.by_layer(occs)
        obj["layers"] = [
            {
                "layer": n,
                "pairs": {f"{occs[i].label}-{occs[j].label}": round(float(v), 6) for (i, j), v in zip(pairs, row)},
            }
            for n, row in enumerate(table)
        ]
    if plot:
        title = f"'{word.strip()}' in {len(sentences)} sentences: {enc.name}, layer {li} of {enc.n_layers} (PCA to 2-D)"
        recipe = {"command": "embed contextual", "word": word.strip(), "sentences": sentences, "model": enc.name}
        info = ctx.plot_pca(occs, li, target, force, title, recipe={**recipe, "layer": li})
        if Path(info["path"]) != target:
            console.warn(f"{target} exists: wrote {info['path']} instead (--force overwrites)")
        obj["plot"] = info
        if layers:  # and the table as a picture: one line per pair, layer by layer
            lt = target.with_name(f"{target.stem}-layers.png")
            linfo = ctx.plot_layers(
                occs,
                pairs,
                table,
                li,
                lt,
                force,
                f"'{word.strip()}': similarity of each pair by layer, {enc.name}",
                recipe={**recipe, "layers": True},
            )
            if Path(linfo["path"]) != lt:
                console.warn(f"{lt} exists: wrote {linfo['path']} instead (--force overwrites)")
            obj["layers_plot"] = linfo
    if json_out:
        console.result_json(obj)
        return
    _print_contextual(obj, occs, sim, enc, li)
    if layers:
        console.print_table(_layers_table(occs, pairs, table, li))
    if plot:
        console.result(obj["plot"]["path"])
        if layers:
            console.result(obj["layers_plot"]["path"])


def _safe_name(word: str) -> str:
    import re

    return re.sub(r"[^\w-]+", "_", word.strip())[:40] or "word"


def _static_similarity(s: dict, word: str) -> dict:
    """The static vectors' similarity between two occurrences of the same word: the cosine of
    its one vector with itself (1.0), computed, or None when the word is not in the vocabulary."""
    import numpy as np

    vs = _open(s)
    i = vs.index(word.strip())
    if i is None:
        return {"vectors": vs.name, "similarity": None, "in_vocabulary": False}
    u = np.asarray(vs.unit[i], dtype=np.float64)
    return {"vectors": vs.name, "similarity": round(float(u @ u), 6), "in_vocabulary": True}


def _print_contextual(obj: dict, occs, sim, enc, li: int) -> None:
    from rich.markup import escape
    from rich.table import Table

    from genai_cli import console

    t = Table(
        title=(
            f"{obj['word']!r} in context: cosine similarity of its vectors, {enc.name}, layer {li} of 0-{enc.n_layers}"
        ),
        title_justify="left",
    )
    t.add_column("")
    t.add_column("sentence")
    for o in occs:
        t.add_column(o.label, justify="right")
    for o, row in zip(occs, sim):
        t.add_row(o.label, escape(o.marked()), *[f"{v:.4f}" for v in row])
    st = obj["static"]
    static = (
        f"static {st['vectors']}: {st['similarity']:.4f} for every pair (one vector per word, whatever the sentence)"
        if st["in_vocabulary"]
        else f"static {st['vectors']}: {obj['word']!r} is not in its vocabulary"
    )
    t.caption = escape(f"{static}\n{obj['note']}")
    t.caption_justify = "left"
    console.print_table(t)


def _layers_table(occs, pairs, table, li: int):
    from rich.table import Table

    from genai_cli.vectors.contextual import MAX_TABLE_PAIRS

    t = Table(title="similarity of each pair, layer by layer (0 = token embeddings)", title_justify="left")
    t.add_column("layer", justify="right")
    shown = pairs[:MAX_TABLE_PAIRS]
    for i, j in shown:
        t.add_column(f"{occs[i].label}-{occs[j].label}", justify="right")
    for n, row in enumerate(table):
        label = f"{n} *" if n == li else str(n)
        t.add_row(label, *[f"{v:.4f}" for v in row[: len(shown)]])
    t.caption = "* the layer used above" + (
        f"; the first {MAX_TABLE_PAIRS} of {len(pairs)} pairs (--json has all)" if len(pairs) > len(shown) else ""
    )
    t.caption_justify = "left"
    return t
