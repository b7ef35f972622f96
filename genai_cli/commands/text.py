"""`genai generate`, `genai chat`, `genai next`, `genai attention`: a real small GPT.

A thin layer: flags -> config (`text` section) -> genai_cli.text -> stdout. torch and
transformers are imported inside the command bodies only.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from genai_cli.commands.common import (
    ConfigOpt,
    DeviceOpt,
    ForceOpt,
    JsonOpt,
    PrecisionOpt,
    SeedOpt,
    model_option,
    out_option,
)

ModelOpt = Annotated[
    Optional[str], model_option("smollm2-135m-instruct (built-in), a hub id or a local model folder.", "text.model")
]
SpeedupOpt = Annotated[
    Optional[str],
    typer.Option(
        "--speedup",
        help="none (exact) or int8 (dynamic int8 Linear layers, cpu; changes the text). (config: text.speedup)",
        show_default=False,
    ),
]
MaxTokensOpt = Annotated[
    Optional[int],
    typer.Option("--max-tokens", "-n", help="New tokens at most. (config: text.max_tokens)", show_default=False),
]
TemperatureOpt = Annotated[
    Optional[float],
    typer.Option(
        "--temperature", "-t", help="Sampling temperature; 0 = greedy. (config: text.temperature)", show_default=False
    ),
]
TopPOpt = Annotated[
    Optional[float],
    typer.Option("--top-p", help="Nucleus sampling mass, 1 = off. (config: text.top_p)", show_default=False),
]
TopKOpt = Annotated[
    Optional[int],
    typer.Option(
        "--top-k", help="Sample among the k likeliest tokens, 0 = off. (config: text.top_k)", show_default=False
    ),
]
RepPenOpt = Annotated[
    Optional[float],
    typer.Option(
        "--repetition-penalty",
        help=">1 discourages repeats, 1 = off. (config: text.repetition_penalty)",
        show_default=False,
    ),
]
GreedyOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--greedy/--sample", help="Always take the likeliest token. (config: text.greedy)", show_default=False
    ),
]
StopOpt = Annotated[
    Optional[list[str]],
    typer.Option("--stop", help="Stop before this string (repeatable). (config: text.stop)", show_default=False),
]
SystemOpt = Annotated[
    Optional[str],
    typer.Option("--system", help="System prompt for chat models. (config: text.system)", show_default=False),
]
RawOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--raw/--template", help="Plain text, without the chat template. (config: text.raw)", show_default=False
    ),
]
EngineOpt = Annotated[
    Optional[str],
    typer.Option(
        "--engine",
        help="auto (llama.cpp for a GGUF model on the cpu), llama.cpp or transformers. (config: text.engine)",
        show_default=False,
    ),
]
ThreadsOpt = Annotated[
    Optional[int],
    typer.Option(
        "--threads", help="CPU threads, 1-1024; default: the physical cores. (config: text.threads)", show_default=False
    ),
]
TruncateOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--truncate/--no-truncate",
        help="Drop the oldest prompt tokens that do not fit. (config: text.truncate)",
        show_default=False,
    ),
]


# --- shared steps --------------------------------------------------------------------------


def _threads(n: int) -> str:
    return "1 thread" if n == 1 else f"{n} threads"


def _passive_threads() -> None:
    """Let idle OpenMP threads sleep instead of spin (unless the user chose otherwise).

    Token-by-token decoding runs ~200 tiny parallel regions per token; with spinning threads
    a CPU shared with other work slows down ~3x (measured: BENCHMARKS.md). Must run before
    torch is first imported. Not for the llama.cpp engine: its OpenMP threads keep their default
    (spin, then sleep), which decodes ~4x faster than PASSIVE on an idle machine (BENCHMARKS.md)."""
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _settings(cfg: dict[str, Any], seed: Optional[int]):
    from genai_cli.errors import UsageError
    from genai_cli.text.generate import SamplingSettings, check_settings
    from genai_cli.text.model import SPEEDUPS

    if cfg["speedup"] not in SPEEDUPS:
        raise UsageError(f"--speedup {cfg['speedup']!r} is not one of: {', '.join(SPEEDUPS)}")
    s = SamplingSettings(
        max_tokens=cfg["max_tokens"],
        temperature=cfg["temperature"],
        top_p=cfg["top_p"],
        top_k=cfg["top_k"],
        repetition_penalty=cfg["repetition_penalty"],
        greedy=bool(cfg["greedy"]),
        stop=list(cfg["stop"] or []),
        seed=seed,
    )
    check_settings(s)
    return s


MAX_PROMPT_CHARS = 1_000_000  # characters of one prompt line read from stdin (~250k tokens: more than any context)
MAX_PROMPT_LINES = 1_000_000  # prompts (or chat turns) read from stdin in one run
ANSWER_SEPARATOR = "\n"  # text mode, several prompts: a blank line between two answers (as ollama run shows them)


def _seed(seed: Optional[int], config: Optional[Path]) -> tuple[int, str]:
    """The sampler's seed and where it came from: --seed, else runtime.seed, else a fresh one (genai_cli.seeds;
    the text section has no seed of its own). Both engines sample from it; the --json record has it."""
    from genai_cli import config as cfgmod
    from genai_cli import seeds

    return seeds.choose(seed, None, cfgmod.section("runtime", config)["seed"])


def _model_path(cfg: dict[str, Any]) -> Optional[Path]:
    """The model folder, found and checked (no remote code) before stdin is read or anything
    is printed; None for the built-in model (converted on first load)."""
    from genai_cli.text.model import BUILTIN_ALIASES, resolve_model

    if (cfg["model"] or "").strip().lower() in BUILTIN_ALIASES:
        return None
    return resolve_model(cfg["model"])


def _load(cfg: dict[str, Any], rt, attn: Optional[str] = None, path: Optional[Path] = None):
    from genai_cli import console
    from genai_cli.text.model import load_model

    lm = load_model(
        cfg["model"],
        rt.device,
        rt.dtype,
        speedup=cfg["speedup"],
        attn_implementation=attn,
        on_info=console.info,
        path=path,
    )
    extra = ", int8 Linear layers" if lm.speedup == "int8" else ""
    console.info(f"loaded {lm.name} in {lm.load_s:.1f} s ({lm.path.name}{extra})")
    return lm


CHAT_CONTEXT = 4096  # llama.cpp: chat's first KV cache, in tokens (~23 KB each for the built-in model);
# a longer conversation reloads with a larger one (up to the model's context), losing the cache once


class _LlamaRuntime:
    """What the --json record reads from a runtime, for the llama.cpp engine (no torch)."""

    def __init__(self, gpu: bool, seed: Optional[int]):
        self.device, self.precision, self.seed = ("gpu" if gpu else "cpu"), "gguf", seed


def _plan(cfg: dict[str, Any], config: Optional[Path], device: Optional[str], precision: Optional[str] = None):
    """The engine for generate/chat, decided (and the model checked) before stdin is read."""
    from genai_cli import config as cfgmod
    from genai_cli.runtime import check_names
    from genai_cli.text.engine import check_threads, plan

    cfg["threads"] = check_threads(cfg["threads"])
    rtc = cfgmod.section("runtime", config, device=device, precision=precision)
    check_names(rtc["device"], rtc["precision"])  # the llama.cpp engine never asks torch to check them
    return plan(cfg["model"], cfg["engine"], rtc["device"])


def _start(
    p,
    cfg: dict[str, Any],
    config: Optional[Path],
    device: Optional[str],
    precision: Optional[str],
    seed: Optional[int],
    n_ctx: int,
):
    """Runtime + model for the chosen engine, with one device line on stderr saying which ran and why."""
    from genai_cli import config as cfgmod
    from genai_cli import console

    if p.note:
        console.info(p.note)
    if p.engine == "llama.cpp":
        from genai_cli.text.llama_engine import LlamaLM

        rtc = cfgmod.section("runtime", config, precision=precision, seed=seed)
        gpu = p.gpu_layers != 0
        extra = (
            ""
            if rtc["precision"] == "auto"
            else f"; --precision {rtc['precision']} does not apply: the GGUF file's own types are used"
        )
        lm = LlamaLM(info=p.gguf, name=cfg["model"], threads=cfg["threads"], gpu_layers=p.gpu_layers)
        lm.load(n_ctx)  # grows when a prompt needs more; a file llama.cpp cannot load is exit 2 here
        console.info(
            f"using {'the GPU' if gpu else 'cpu'}, llama.cpp engine ({p.reason}), {_threads(cfg['threads'])}{extra}"
        )
        if cfg["speedup"] != "none":
            console.info("--speedup applies to the transformers engine only: the GGUF file is already quantized")
        console.info(f"loaded {lm.name} in {lm.load_s:.2f} s ({lm.path.name}, memory-mapped)")
        return lm, _LlamaRuntime(gpu, rtc["seed"])
    _passive_threads()  # the transformers engine: before torch loads
    from genai_cli import runtime

    rtc = cfgmod.section("runtime", config, device=device, precision=precision, seed=seed)
    rt = runtime.setup(rtc["device"], rtc["precision"], rtc["seed"])
    if rt.device.type == "cpu":
        import torch

        torch.set_num_threads(cfg["threads"])
    console.info(f"{rt.describe()}, transformers engine ({p.reason}), {_threads(cfg['threads'])}")
    return _load(cfg, rt, path=p.folder), rt


def _write(piece: str) -> None:
    sys.stdout.write(piece)
    sys.stdout.flush()


def _record(g, prompt: str, lm, rt, s, cfg: dict[str, Any]) -> dict[str, Any]:
    return {
        "text": g.text,
        "prompt": prompt,
        "prompt_tokens": g.prompt_tokens,
        "new_tokens": g.new_tokens,
        "finish_reason": g.finish_reason,
        "timings": {**g.timings(), "load_s": round(lm.load_s, 4)},
        "cached_prompt_tokens": getattr(lm, "reused_tokens", 0),  # llama.cpp: prompt tokens the KV cache already held
        "settings": {
            **s.resolved(),
            "seed": g.seed,
            "model": lm.name,
            "model_path": str(lm.path),
            "device": str(rt.device),
            "precision": rt.precision,
            "speedup": lm.speedup,
            "system": cfg["system"],
            "raw": bool(cfg["raw"]),
            "truncate": bool(cfg["truncate"]),
            "chat_template": lm.has_chat_template and not cfg["raw"],
            "engine": getattr(lm, "engine", "transformers"),
            "threads": cfg.get("threads"),
        },
    }


def _interrupted() -> None:
    from genai_cli import console
    from genai_cli.errors import EXIT_INTERRUPTED

    console.warn("interrupted: what was generated is kept above")
    raise typer.Exit(EXIT_INTERRUPTED)


# --- generate ------------------------------------------------------------------------------


def generate(
    prompt: Annotated[
        Optional[str],
        typer.Argument(help="The prompt; '-' or a pipe reads one prompt per line of stdin.", show_default=False),
    ] = None,
    model: ModelOpt = None,
    max_tokens: MaxTokensOpt = None,
    temperature: TemperatureOpt = None,
    top_p: TopPOpt = None,
    top_k: TopKOpt = None,
    repetition_penalty: RepPenOpt = None,
    greedy: GreedyOpt = None,
    stop: StopOpt = None,
    system: SystemOpt = None,
    raw: RawOpt = None,
    truncate: TruncateOpt = None,
    engine: EngineOpt = None,
    threads: ThreadsOpt = None,
    speedup: SpeedupOpt = None,
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Continue a prompt with a causal LM, streaming the text to stdout as it is produced.

    Several prompts (one per line of stdin): each answer ends with a newline and a blank line separates two
    answers. An answer may hold blank lines itself: --json gives one object per line.
    """
    from genai_cli import config as cfgmod
    from genai_cli import console
    from genai_cli.text.generate import chat_ids, fit_context
    from genai_cli.text.generate import generate as run

    cfg = cfgmod.section(
        "text",
        config,
        model=model,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        repetition_penalty=repetition_penalty,
        greedy=greedy,
        stop=stop or None,
        system=system,
        raw=raw,
        truncate=truncate,
        speedup=speedup,
        engine=engine,
        threads=threads,
    )
    from genai_cli import seeds
    from genai_cli.commands import queries
    from genai_cli.text.generate import check_prompt

    s = _settings(cfg, None)
    if prompt not in (None, "-"):
        with queries.single(prompt, json_out):
            check_prompt(prompt)  # an argument is checked first
    plan = _plan(cfg, config, device, precision)  # then the engine and the model, before stdin is read
    s.seed, where = _seed(seed, config)
    state: dict[str, Any] = {"lm": None, "rt": None, "answers": 0}

    def answer(text: str) -> None:
        check_prompt(text)
        if state["lm"] is None:
            state["lm"], state["rt"] = _start(plan, cfg, config, device, precision, s.seed, n_ctx=s.max_tokens + 256)
            console.info(seeds.describe(s.seed, where))
        lm, rt = state["lm"], state["rt"]
        messages = ([{"role": "system", "content": cfg["system"]}] if cfg["system"] else []) + [
            {"role": "user", "content": text}
        ]
        ids = fit_context(
            chat_ids(lm, messages, raw=cfg["raw"]), lm.context_length, s.max_tokens, cfg["truncate"], console.warn
        )
        if state["answers"] and not json_out:
            _write(ANSWER_SEPARATOR)  # a blank line between two answers
        state["answers"] += 1
        g = run(lm, ids, s, on_text=None if json_out else _write)
        g.load_s = lm.load_s
        if json_out:
            console.result_json(_record(g, text, lm, rt, s, cfg))
        else:
            _write("\n")
        console.info(
            f"{g.new_tokens} tokens ({g.finish_reason}), first after {g.first_token_s:.2f} s, "
            f"{g.decode_tokens_per_s:.1f} tokens/s, seed {g.seed}"
        )
        if g.finish_reason == "interrupted":
            _interrupted()

    queries.run(
        prompt,
        answer,
        as_json=json_out,
        what="prompt",
        hint="pass the prompt as an argument, or pipe it on stdin",
        max_chars=MAX_PROMPT_CHARS,
        max_queries=MAX_PROMPT_LINES,
    )


# --- chat ----------------------------------------------------------------------------------


def chat(
    model: ModelOpt = None,
    max_tokens: MaxTokensOpt = None,
    temperature: TemperatureOpt = None,
    top_p: TopPOpt = None,
    top_k: TopKOpt = None,
    repetition_penalty: RepPenOpt = None,
    greedy: GreedyOpt = None,
    stop: StopOpt = None,
    system: SystemOpt = None,
    raw: RawOpt = None,
    truncate: TruncateOpt = None,
    engine: EngineOpt = None,
    threads: ThreadsOpt = None,
    speedup: SpeedupOpt = None,
    seed: SeedOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Talk with the model over several turns (the history is kept).

    In a terminal: /reset forgets the conversation, /exit or Ctrl-D ends it.
    With a pipe: each line of stdin is one turn, each answer one line of stdout.
    """
    from genai_cli import config as cfgmod
    from genai_cli import console
    from genai_cli.text.chat import Conversation

    cfg = cfgmod.section(
        "text",
        config,
        model=model,
        max_tokens=max_tokens,
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        repetition_penalty=repetition_penalty,
        greedy=greedy,
        stop=stop or None,
        system=system,
        raw=raw,
        truncate=truncate,
        speedup=speedup,
        engine=engine,
        threads=threads,
    )
    import itertools

    from genai_cli import seeds
    from genai_cli.commands import queries
    from genai_cli.commands.common import stdin_has_input
    from genai_cli.errors import EXIT_INTERRUPTED, UsageError

    s = _settings(cfg, None)
    plan = _plan(cfg, config, device, precision)
    s.seed, where = _seed(seed, config)
    interactive = sys.stdin is not None and not stdin_has_input()
    piped = lines = None
    if not interactive:  # piped: genai_cli.commands.queries reads the turns; at least one, read before loading
        piped = queries.Queries(
            "message",
            json_out,
            hint="type messages in a terminal, or pipe one per line on stdin",
            max_chars=MAX_PROMPT_CHARS,
            max_queries=MAX_PROMPT_LINES,
        )
        lines = iter(piped)
        first = next(lines, None)
        if first is None:
            piped.finish()  # the empty-stdin error
        lines = itertools.chain([first], lines)
    lm, rt = _start(plan, cfg, config, device, precision, s.seed, n_ctx=max(s.max_tokens + 256, CHAT_CONTEXT))
    console.info(seeds.describe(s.seed, where))
    conv = Conversation(lm, s, system=cfg["system"], raw=bool(cfg["raw"]), on_warn=console.warn)
    if interactive:
        console.info("chat: type a message and press Enter; /reset forgets the conversation, /exit or Ctrl-D ends")
    number = 0
    while True:
        if interactive:
            sys.stderr.write("you> ")
            sys.stderr.flush()
        try:
            if lines is not None:
                number, line = next(lines, (0, ""))
            else:
                line = sys.stdin.readline()
                number += 1
        except KeyboardInterrupt:
            if interactive:
                sys.stderr.write("\n")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        if not line:  # EOF (Ctrl-D)
            if interactive:
                sys.stderr.write("\n")
            break
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        if line.strip() in ("/exit", "/quit"):
            break
        if line.strip() == "/reset":
            conv.reset()
            console.info("conversation forgotten")
            continue
        try:
            g = conv.say(line, on_text=None if json_out else _write)
        except UsageError as e:
            if piped is None:
                raise
            piped.fail(number, line, e)  # reported; the next turn goes on
            continue
        if json_out:
            rec = _record(g, line, lm, rt, s, cfg)
            rec["turn"] = conv.turns
            console.result_json(rec)
        else:
            _write("\n")
        if g.finish_reason == "interrupted":
            if interactive:  # stop this answer only; the session goes on
                console.warn("answer interrupted")
                continue
            _interrupted()
    if piped is not None:
        piped.finish()  # exit 2 when a turn was refused


# --- next ----------------------------------------------------------------------------------


def next_token(
    text: Annotated[
        Optional[str],
        typer.Argument(help="The text to continue; '-' or a pipe reads one per line of stdin.", show_default=False),
    ] = None,
    top_k: Annotated[
        Optional[int],
        typer.Option(
            "--top-k", "-k", help="How many candidates to list. (config: text.next.top_k)", show_default=False
        ),
    ] = None,
    steps: Annotated[
        Optional[int],
        typer.Option(
            "--steps", "-s", help="Greedy steps to show, one token each. (config: text.next.steps)", show_default=False
        ),
    ] = None,
    chat_template: Annotated[
        bool, typer.Option("--chat", help="Wrap the text in the model's chat template first (as `generate` does).")
    ] = False,
    model: ModelOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Show how a GPT works: the most likely next tokens and their probabilities."""
    _passive_threads()
    from genai_cli import config as cfgmod
    from genai_cli import console
    from genai_cli.commands.common import setup_runtime
    from genai_cli.errors import UsageError
    from genai_cli.text.generate import chat_ids
    from genai_cli.text.inspect import next_tokens

    cfg = cfgmod.section("text", config, model=model)
    ncfg = {**cfg["next"], **{k: v for k, v in {"top_k": top_k, "steps": steps}.items() if v is not None}}
    if not 1 <= ncfg["top_k"] <= 1000:
        raise UsageError(
            f"--top-k must be from 1 to 1000 (got {ncfg['top_k']})", hint="the same value is config key text.next.top_k"
        )
    if not 1 <= ncfg["steps"] <= 1000:
        raise UsageError(
            f"--steps must be from 1 to 1000 (got {ncfg['steps']})", hint="the same value is config key text.next.steps"
        )
    from genai_cli.commands import queries
    from genai_cli.text.generate import check_prompt

    if text not in (None, "-"):
        with queries.single(text, json_out):
            check_prompt(text, "text")  # an argument is checked first
    path = _model_path(cfg)
    state: dict[str, Any] = {"lm": None}

    def answer(t: str) -> None:
        check_prompt(t, "text")
        if state["lm"] is None:  # the runtime and the model with the first text (an empty stdin says only that)
            rt = setup_runtime(config, device, precision, None)
            state["lm"] = _load({**cfg, "speedup": "none"}, rt, path=path)  # exact probabilities: never quantized
        lm = state["lm"]
        ids = chat_ids(lm, [{"role": "user", "content": t}], raw=not chat_template)
        if len(ids) + ncfg["steps"] > lm.context_length:
            raise UsageError(
                f"the text is {len(ids)} tokens; "
                f"with --steps {ncfg['steps']} it does not fit the context of {lm.context_length}"
            )
        result = next_tokens(lm, ids, ncfg["top_k"], ncfg["steps"])
        if json_out:
            console.result_json(
                {
                    "text": t,
                    "prompt_tokens": len(ids),
                    "model": lm.name,
                    "steps": [
                        {
                            "step": i + 1,
                            "context": st.context,
                            "chosen": st.chosen.as_dict(),
                            "top_k_mass": st.top_k_mass,
                            "candidates": [c.as_dict() for c in st.candidates],
                        }
                        for i, st in enumerate(result)
                    ],
                }
            )
        else:
            _print_next(t, result)

    queries.run(
        text,
        answer,
        as_json=json_out,
        what="text",
        hint="pass the text as an argument, or pipe it on stdin",
        max_chars=MAX_PROMPT_CHARS,
        max_queries=MAX_PROMPT_LINES,
    )


def _show(token: str) -> str:
    import json

    return json.dumps(token, ensure_ascii=False)


def _print_next(text: str, steps) -> None:
    from rich.table import Table

    from genai_cli import console

    if len(steps) == 1:
        st = steps[0]
        table = Table(title=f"next token after {_show(text)}", title_justify="left")
        table.add_column("rank", justify="right")
        table.add_column("token")
        table.add_column("id", justify="right")
        table.add_column("probability", justify="right")
        table.add_column("")
        for r, c in enumerate(st.candidates, 1):
            table.add_row(
                str(r),
                _show(c.token),
                str(c.token_id),
                f"{c.prob:.4f}",
                "█" * max(1, round(c.prob * 40)) if c.prob >= 0.0125 else "▏",
            )
        table.caption = f"the top {len(st.candidates)} hold {st.top_k_mass:.1%} of the probability"
        console.print_table(table)
        return
    table = Table(title=f"greedy continuation of {_show(text)}", title_justify="left")
    table.add_column("step", justify="right")
    table.add_column("chosen")
    table.add_column("p", justify="right")
    table.add_column("other candidates")
    for i, st in enumerate(steps, 1):
        others = ", ".join(f"{_show(c.token)} {c.prob:.2f}" for c in st.candidates[1:])
        table.add_row(str(i), _show(st.chosen.token), f"{st.chosen.prob:.3f}", others)
    console.print_table(table)
    console.result(text + "".join(st.chosen.token for st in steps))


# --- attention -----------------------------------------------------------------------------


def attention(
    text: Annotated[str, typer.Argument(help="The text whose attention to draw.", show_default=False)],
    layer: Annotated[
        Optional[int],
        typer.Option(
            "--layer",
            "-l",
            min=-1000,
            max=1000,
            help="Layer index; negative counts from the last. (config: text.attention.layer)",
            show_default=False,
        ),
    ] = None,
    head: Annotated[
        Optional[str],
        typer.Option("--head", help="Head index, or mean. (config: text.attention.head)", show_default=False),
    ] = None,
    out: Annotated[
        Optional[Path],
        out_option(
            "PNG path; default: attention-LLAYER-HHEAD.png in text.attention.plot_dir, a fresh name if it exists."
        ),
    ] = None,
    force: ForceOpt = False,
    chat_template: Annotated[
        bool, typer.Option("--chat", help="Wrap the text in the model's chat template first.")
    ] = False,
    model: ModelOpt = None,
    json_out: JsonOpt = False,
    config: ConfigOpt = None,
    device: DeviceOpt = None,
    precision: PrecisionOpt = None,
) -> None:
    """Draw a heatmap PNG of attention weights (tokens on both axes) and print its path."""
    _passive_threads()
    from genai_cli import config as cfgmod
    from genai_cli import console
    from genai_cli.commands.common import refuse_existing_file, setup_runtime
    from genai_cli.errors import UsageError
    from genai_cli.text.generate import chat_ids, check_prompt
    from genai_cli.text.inspect import attention as attention_map
    from genai_cli.text.inspect import resolve_layer_head, token_text
    from genai_cli.text.plot import heatmap

    cfg = cfgmod.section("text", config, model=model)
    acfg = {**cfg["attention"], **{k: v for k, v in {"layer": layer, "head": head}.items() if v is not None}}
    check_prompt(text, "text")
    if out is not None and out.suffix.lower() != ".png":
        raise UsageError(f"--out {out} must end in .png")
    if out is not None and out.is_dir():
        raise UsageError(f"--out {out} is a folder", hint="give a file name ending in .png")
    refuse_existing_file(out, force)
    path = _model_path(cfg)
    rt = setup_runtime(config, device, precision, None)
    lm = _load({**cfg, "speedup": "none"}, rt, attn="eager", path=path)
    li, hi = resolve_layer_head(lm, int(acfg["layer"]), acfg["head"])
    ids = chat_ids(lm, [{"role": "user", "content": text}], raw=not chat_template)
    if len(ids) > acfg["max_tokens"]:
        raise UsageError(
            f"the text is {len(ids)} tokens; a heatmap of more than {acfg['max_tokens']} is unreadable",
            hint="shorten the text, or raise text.attention.max_tokens in a config file",
        )
    weights = attention_map(lm, ids, li, hi)  # [T, T]
    tokens = [token_text(lm.tokenizer, i) for i in ids]
    head_label = "mean" if hi is None else str(hi)
    default = Path(acfg["plot_dir"]).expanduser() / f"attention-L{li}-H{head_label}.png"
    target = out.expanduser() if out is not None else default
    n_layers, n_heads = lm.model.config.num_hidden_layers, lm.model.config.num_attention_heads
    title = f"{lm.name}: layer {li} of 0-{n_layers - 1}, " + (
        f"mean of {n_heads} heads" if hi is None else f"head {hi} of 0-{n_heads - 1}"
    )
    recipe = {
        "command": "attention",
        "model": lm.name,
        "layer": li,
        "head": head_label,
        "tokens": len(ids),
        "chat_template": chat_template,
        "text": text,
    }
    path = heatmap(weights, tokens, title, target, recipe, force)
    if path != target:
        console.warn(f"{target} exists: wrote {path} instead (--force overwrites)")
    if json_out:
        console.result_json(
            {**recipe, "path": str(path), "token_strings": tokens, "weights": weights.round(6).tolist()}
        )
    else:
        console.result(str(path))
