"""Text (or image) to image, end to end: the one entry point behind `genai imagine`.

`imagine(settings, ...)` reads as numbered steps, as diffusers' `__call__` does:

    1. check every input before any weight is loaded (settings, model, learned words, LoRAs, init image, size)
    2. processes, device and this process's share of the jobs (image k of the run gets seed + k)
    3. load the pipeline, teach it the learned words and LoRAs, prepare it for the device
    4. generate: each image is written as soon as it exists and yielded at once (Ctrl-C keeps what was made)
    5. NaN accounting: images that came out NaN fail the run at the end, after every file is written

The command (genai_cli/commands/imagine.py), scripts/bench/imagine.py and the tests call it. It never
prints: `on_info(line)` gets what a user should read on stderr, `on_warn(line)` the warnings, and
`on_progress(n, total)` the denoising steps (called once with n=0 and the total before the first step).
With several processes (torchrun, accelerate launch) only process 0 calls them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence

from genai_cli.image.settings import ImagineSettings

Say = Optional[Callable[[str], None]]
Progress = Optional[Callable[..., None]]

FALLBACK_PROMPT = "a red fox in the snow"  # the example for a model whose vocabulary is not known here
MAX_VOCAB_BYTES = 8 * 1024 * 1024  # a tokenizer file read for the example prompt (CLIP's tokenizer.json: 3.6 MB)


def imagine(
    s: ImagineSettings,
    *,
    read_prompts: Callable[[], list[str]] | None = None,
    embeddings: Sequence[Path | str] = (),
    loras: Sequence[str] = (),
    init_image: Path | None = None,
    strength: float | None = None,
    device: str = "auto",
    precision: str = "auto",
    seed_source: str = "random",
    on_info: Say = None,
    on_warn: Say = None,
    on_progress: Progress = None,
) -> Iterator[Any]:
    """Generate `s.n` images per prompt; yields each ImageResult (genai_cli/image/generate.py) once its PNG exists.

    The prompts are `s.prompts`; when that is empty and `read_prompts` is given (stdin), it is called only
    after the model has passed its checks (a hostile folder reads nothing), on process 0. `s.seed` is the
    seed of the first image (genai_cli/seeds.py chooses it; `seed_source` says where from, for the stderr line
    that records it); None draws one. Raises UsageError for bad input (exit 2) and GenaiError when images came
    out NaN (after all of them were written)."""
    from genai_cli import distributed
    from genai_cli.errors import GenaiError, UsageError
    from genai_cli.image import generate, img2img, loading, sdxl
    from genai_cli.image import lora as L
    from genai_cli.image.settings import check_options, check_prompts, check_size
    from genai_cli.invert import embeddings as E

    # 1. check every input before any weight is loaded (with several processes, process 0 reads stdin)
    st = distributed.state()  # None unless launched with several processes
    main = st is None or st.is_main_process
    info, warn = (on_info, on_warn or on_info) if main else (None, None)
    late = not s.prompts and read_prompts is not None  # prompts from stdin: read once the model passed its checks
    if not late:
        check_prompts(s.prompts, example=example_prompt(s.model, device) if not s.prompts else FALLBACK_PROMPT)
    s = check_options(s)
    s.model = loading.resolve_auto(s.model, device, info)  # auto: sd15 on a GPU, else toy
    source = loading.locate(s.model)  # a folder that would run code of its own is refused here
    learned = [sdxl.read_any(Path(p)) for p in embeddings]  # unreadable files fail here, before the model loads
    lora_specs = [L.check_file(spec) for spec in L.parse_specs(list(loras))]  # bad weights, pickles: refused now
    if strength is not None and init_image is None:
        raise UsageError(
            "--strength needs --init-image", hint="genai imagine --init-image photo.png --strength 0.6 PROMPT"
        )
    init = (
        None
        if init_image is None
        else img2img.read(
            init_image, img2img.check_strength(img2img.DEFAULT_STRENGTH if strength is None else strength, s.steps)
        )
    )
    limits = loading.size_limits(source)  # from the folder's configs; None for a single file
    size = check_size(s, limits)
    tokenizer = loading.load_tokenizer(source) if learned else None  # None for a single file: checked after loading
    for emb in learned if tokenizer is not None else []:
        E.check_new_word(tokenizer, emb)  # a learned `red` would silently replace the colour
    if late:
        texts = distributed.from_main(st, read_prompts() if main else None)
        s.prompts = check_prompts(texts, example=example_prompt(s.model, device))

    # 2. processes, device, seeds, and this process's share of the jobs
    from genai_cli import runtime, seeds

    rt = runtime.setup(device, precision, None)
    if info:
        info(rt.describe())
    if s.seed is None:
        s.seed, seed_source = seeds.choose(None)
    s.seed = base_seed = distributed.from_main(st, s.seed)  # process 0's, on every process
    if info:
        info(seeds.describe(base_seed, seed_source))
    start = distributed.from_main(st, generate.next_index(s.out))
    first, stop = distributed.share(st, len(s.prompts) * s.n)
    jobs = generate.plan_jobs(s.prompts, s.n, base_seed, start, first, stop)  # lazy: nothing grows with --n
    if st is not None and on_info:
        on_info(f"process {st.process_index}/{st.num_processes}: {stop - first} image(s)")

    # 3. load the pipeline, teach it the learned words and LoRAs, prepare it for the device
    if info:
        info(f"loading {s.model}" + (f" ({source.path})" if str(source.path) != s.model else ""))
    pipe = loading.load_pipeline(source, rt.dtype, s.single_file_config, tokenizer)
    for emb in learned:
        sdxl.add_any(pipe, emb)  # SDXL files (clip_l + clip_g) teach both text encoders
        if info:
            info(f"learned word {emb.token} ({emb.vectors.shape[0]} vector(s)) from {emb.source}")
    L.load_into(pipe, lora_specs)  # a LoRA for another architecture: exit 2 naming it
    if warn:
        for line in unknown_word_warnings(pipe.tokenizer, [*s.prompts, s.negative]):
            warn(line)
        if source.path == loading.TOY_PIPELINE and s.scheduler in TOY_POOR_SAMPLERS:
            warn(
                f"the toy model draws poorly with --scheduler {s.scheduler} (4th-order multistep: "
                f"{TOY_POOR_SAMPLERS[s.scheduler]}); its own sampler, euler, euler-a and ddim draw it right at 25 steps"
            )
    if limits is None:  # a single file: its size range is known only now
        size = check_size(s, loading.pipeline_size_limits(pipe))
    pipe = generate.prepare(pipe, s, rt.device)
    if init is not None:  # the img2img pipeline of the same family, sharing the loaded components
        pipe = img2img.pipeline(pipe)
        fitted = img2img.fit(init, size[0], size[1])
        if info:
            info(fitted)
    run_info = {
        "model_path": str(source.path),
        "device": str(rt.device),
        "precision": rt.precision,
        "embeddings": [{"token": e.token, "path": str(e.source)} for e in learned],
        "loras": [spec.to_json() for spec in lora_specs],
        "init_image": init.to_json() if init is not None else None,
    }

    # 4. generate: every image written, then yielded
    per_image = img2img.steps_run(s.steps, init.strength) if init is not None else s.steps
    progress = on_progress if main else None
    if progress:
        progress(0, total=(stop - first) * per_image)
    on_step = (lambda job: progress(1)) if progress else None
    if init is not None:
        results = img2img.generate(pipe, s, jobs, size[0], size[1], source.label, run_info, on_step, init=init)
    else:
        results = generate.generate(pipe, s, jobs, size[0], size[1], source.label, run_info, on_step)
    failed = 0
    for r in results:
        failed += "nan" in r.problems
        yield r

    # 5. NaN accounting, once every process is done
    distributed.finish(st)
    if failed:
        raise GenaiError(f"{failed} image(s) came out as NaN", hint="run again with --precision fp32 (or bf16)")


# Samplers the built-in toy model draws poorly with. LMS and PLMS extrapolate the noise prediction from the last
# 4 steps, and the small model's predictions change too fast for that. Measured by scripts/toyworld/samplers.py
# (16 images, BENCHMARKS.md "samplers on the toy model"): 0 right at 25 steps; at 100, LMS 12, PLMS 15; its own
# DPM++ 2M, Euler, Euler a and DDIM 15-16 at 25.
TOY_POOR_SAMPLERS = {"lms": "noise at 25 steps, 3 in 4 right at 100", "pndm": "noise at 25 steps, right at 100"}


def unknown_word_warnings(tokenizer: Any, prompts: list[str]) -> list[str]:
    """A toy-world model knows a few dozen words: one line per prompt naming the words it will not understand
    (CLIP's tokenizer would silently split them into meaningless letters). None for any other model."""
    from genai_cli.image.loading import is_toy_tokenizer

    if not is_toy_tokenizer(tokenizer):
        return []
    from genai_cli.errors import shorten
    from genai_cli.toyworld import vocab

    lines = []
    for prompt in dict.fromkeys(p for p in prompts if p):
        unknown = vocab.unknown_words(prompt, tokenizer)
        if unknown:
            lines.append(
                f"{vocab.unknown_message(unknown, tokenizer=tokenizer, suggest=True)} (in {shorten(prompt)}); "
                "`genai toy words` lists the words it knows"
            )
    return lines


def example_prompt(model: str, device: str = "auto") -> str:
    """A prompt the model named `model` understands, for hints: from its own vocabulary when that is a toy-world
    one (the built-in model or a copy: `a red star on a blue background`), else FALLBACK_PROMPT. Reads only
    the tokenizer's vocabulary of a local folder: no download, no weights."""
    from genai_cli import models
    from genai_cli.image import loading

    try:
        name = loading.resolve_auto(model, device)
        path = models.builtin(name, "image") or Path(models.aliases("image").get(name, name)).expanduser()
        words = _vocabulary(path / "tokenizer")
    except (OSError, ValueError, TypeError, AttributeError, UnicodeDecodeError):
        return FALLBACK_PROMPT
    if not isinstance(words, dict) or len(words) >= 1000 or "background</w>" not in words:
        return FALLBACK_PROMPT
    from genai_cli.toyworld import vocab

    return vocab.example_prompt({str(w).removesuffix("</w>") for w in words}) or FALLBACK_PROMPT


def _vocabulary(folder: Path) -> dict | None:
    """A tokenizer folder's vocabulary {token: id}: vocab.json (slow tokenizers) or tokenizer.json's model.vocab
    (fast ones, as the toy model ships); None when neither is there or a file is too large to be a tokenizer's."""
    for name in ("vocab.json", "tokenizer.json"):
        file = folder / name
        if file.is_file() and file.stat().st_size <= MAX_VOCAB_BYTES:
            data = json.loads(file.read_text(encoding="utf-8"))
            return data if name == "vocab.json" else data["model"]["vocab"]
    return None
