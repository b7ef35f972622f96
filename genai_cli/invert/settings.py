"""What a textual-inversion run is asked to do, and every check that needs no weights.

Imports neither torch nor transformers: `check_settings` runs at the command's start, and
`check_words` reads only the model's tokenizer and configs (the `tokenizers` library for a
tokenizer.json, ~0.2 s), so a bad word or size is refused in about a second, before any weight loads.

Every count and size has a limit. Those of the settings live in one place, the schema's InvertConfig
(genai_cli/schema.py, documented in configs/default.yaml): `check_settings` validates through it. The limits
below are those of things the schema does not hold (words, files the model brings).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable

from genai_cli.errors import UsageError, shorten
from genai_cli.files import slug

MAX_TOKEN_CHARS = 100  # characters in --token and --init-word
MAX_PROMPT_CHARS = 1000  # characters in --validation-prompt (the text encoder reads 77 tokens at most anyway)
MAX_CONFIG_BYTES = 1024 * 1024  # a model's tokenizer_config.json / text_encoder/config.json (real ones: < 10 KB)
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024  # tokenizer.json, vocab.json, merges.txt (CLIP's: about 2 MB)

# words offered when --init-word is not one token; only those this model reads as one token are shown
HINT_WORDS = ("cat", "dog", "person", "face", "star", "circle", "square", "flower", "house", "car", "tree", "painting")


@dataclass
class InvertSettings:
    images: Path  # folder of 3-5 images of the concept
    token: str  # the new word, e.g. "<my-cat>"
    init_word: str  # an existing one-token word its vectors start from, e.g. "cat"
    model: str = "sd15"  # as for `genai imagine --model`
    out: Path | None = None  # output folder; None: ./invert-<token>
    property: str = "object"  # object | style: which prompt templates
    num_vectors: int = 1  # vectors (tokens) the new word spans
    steps: int = 3000  # optimiser steps
    lr: float = 5e-4  # AdamW learning rate (constant)
    batch_size: int = 1  # images per micro-batch (per process)
    grad_accum: int = 4  # micro-batches per optimiser step
    resolution: int | None = None  # training image side in pixels; None: the model's native size
    repeats: int = 100  # each image appears this often per epoch (the shuffling unit)
    flip: float = 0.5  # probability of a horizontal flip
    seed: int = 0  # the command chooses it by the seed policy (genai_cli/seeds.py) and records it
    format: str = "diffusers"  # diffusers | a1111 (a1111 also writes <name>.pt)
    save_every: int = 500  # snapshot learned_embeds-steps-N.safetensors every N steps (0: off)
    checkpoint_every: int = 500  # checkpoint every N steps (0: only at the end and on Ctrl-C)
    validate_every: int = 0  # validation grid every N steps (0: only at the end, when a prompt is set)
    validation_prompt: str | None = None  # with {} (or the token) where the new word goes
    validation_n: int = 4  # images in the validation grid
    validation_steps: int = 25  # denoising steps of each validation image
    resume: bool = False
    force: bool = False  # start afresh in an --out that holds a run (its checkpoint is replaced by the new one's)
    single_file_config: str | None = None  # as for `genai imagine`
    gradient_checkpointing: bool = False  # the U-Net recomputes activations in backward: less GPU memory, slower

    @classmethod
    def from_section(cls, section: dict[str, Any], **extra: Any) -> "InvertSettings":
        """Settings from the validated `invert` config section (config.section("invert", ...)): every key of the
        section that is a setting, the paths as Paths; `extra` (resume, force, the seed chosen ...) on top."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in section.items() if k in names}
        values.update(extra)
        for key in ("images", "out"):
            if isinstance(values.get(key), str):
                values[key] = Path(values[key]).expanduser()
        return cls(**values)

    def section(self) -> dict[str, Any]:
        """The settings that the `invert` config section holds, as it holds them (paths as text)."""
        from genai_cli.config import section_model

        keys = section_model("invert").model_fields
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(self).items() if k in keys}


def default_out(token: str) -> Path:
    return Path(f"invert-{slug(token) or 'token'}")


def check_settings(s: InvertSettings, examples: Callable[[], list[str]] | None = None) -> InvertSettings:
    """Everything that can be checked before a weight is loaded (names the bad option): the values through the
    schema's InvertConfig, then the words, the prompt, the output folder and the checkpoint to resume.
    `examples()`: one-token words of the model, for the hint when --init-word is not one word."""
    from genai_cli import config
    from genai_cli.invert import checkpoint as C

    values = s.section()
    config.validate_section("invert", values, {k: "--" + k.replace("_", "-") for k in values})
    for name, what in (("token", "--token"), ("init_word", "--init-word")):
        value = getattr(s, name)
        if isinstance(value, str) and len(value) > MAX_TOKEN_CHARS:
            raise UsageError(f"{what} {shorten(value)}: at most {MAX_TOKEN_CHARS} characters")
    if not s.token or not s.token.strip() or any(c.isspace() for c in s.token) or not s.token.isprintable():
        raise UsageError(f"--token {shorten(s.token)}: give one word without spaces, e.g. '<my-cat>'")
    if not s.init_word or not s.init_word.strip() or any(c.isspace() for c in s.init_word.strip()):
        words = examples() if examples else []
        raise UsageError(
            f"--init-word {shorten(s.init_word)}: give one existing word that is close to the concept",
            hint=f"words this model reads as one token: {', '.join(words)}" if words else None,
        )
    s.init_word = s.init_word.strip()
    if s.validation_prompt is not None:
        if len(s.validation_prompt) > MAX_PROMPT_CHARS:
            raise UsageError(
                f"--validation-prompt {shorten(s.validation_prompt)}: at most {MAX_PROMPT_CHARS} characters"
            )
        if "{}" not in s.validation_prompt:  # the token itself marks the place ("a red {}" keeps its "red")
            s.validation_prompt = s.validation_prompt.replace(s.token, "{}")
        if "{}" not in s.validation_prompt:
            raise UsageError(
                f"--validation-prompt {shorten(s.validation_prompt)} does not use the new word",
                hint=f"write {{}} or {s.token} where it goes, e.g. 'a photo of {s.token}'",
            )
        try:
            s.validation_prompt.format("x")
        except (IndexError, KeyError, ValueError):
            raise UsageError(
                f"--validation-prompt {shorten(s.validation_prompt)}: use {{}} once for the new word, and "
                "no other braces"
            ) from None
    s.out = Path(s.out) if s.out is not None else default_out(s.token)
    if s.out.exists() and not s.out.is_dir():
        raise UsageError(f"--out {s.out} is a file, not a folder")
    if s.resume and s.force:
        raise UsageError("--resume and --force: give one", hint="--resume continues the run; --force starts it again")
    if (
        s.resume
    ):  # the newest complete checkpoint, read and checked in full (the vectors' width once the model is known)
        folder, state = C.find(s.out)
        C.load(folder, state, (s.num_vectors, None))
    elif not s.force and C.holds_run(s.out):
        raise UsageError(
            f"{s.out} already holds a textual-inversion run",
            hint="continue it with --resume (a larger --steps trains further), start it again with "
            "--force, or choose another --out",
        )
    if not s.images.is_dir():
        raise UsageError(f"--images {s.images}: not a folder", hint="give a folder holding 3-5 images of the concept")
    return s


# --- the model's words, read from its tokenizer alone -----------------------------------------------------------


@dataclass
class Words:
    """What the checks need from a tokenizer, whichever library read it."""

    encode: Callable[[str], list[int]]  # text -> ids, no start/end tokens
    vocab: dict[str, int]
    unk_id: int | None
    context: int  # tokens the text encoder reads, start and end included
    width: int | None = None  # the text encoder's hidden size (a vector's length), when its config says

    @classmethod
    def of(cls, tokenizer: Any, context: int | None = None) -> "Words":
        """From a loaded transformers tokenizer (the pipeline's)."""
        context = min(c for c in (tokenizer.model_max_length, context) if c)
        return cls(
            lambda t: list(tokenizer.encode(t, add_special_tokens=False)),
            dict(tokenizer.get_vocab()),
            tokenizer.unk_token_id,
            int(context),
        )


def read_words(folder: Path) -> Words | None:
    """The tokenizer and context of a diffusers folder, without weights; None if it has no tokenizer folder.

    A tokenizer.json is read with the `tokenizers` library (what transformers' CLIPTokenizer runs on); an older
    folder (vocab.json + merges.txt) through transformers' CLIPTokenizer, a fixed class: no remote code."""
    from genai_cli.files import require_regular_file

    tok_dir, te_config = folder / "tokenizer", folder / "text_encoder" / "config.json"
    if not tok_dir.is_dir():
        return None
    limits, width = [], None
    for path, key in (
        (tok_dir / "tokenizer_config.json", "model_max_length"),
        (te_config, "max_position_embeddings"),
        (te_config, "hidden_size"),
    ):
        try:
            big = path.is_file() and path.stat().st_size > MAX_CONFIG_BYTES
            value = json.loads(path.read_text()).get(key) if path.is_file() and not big else None
        except (OSError, ValueError, AttributeError):
            value = None
        if key == "hidden_size":
            width = value if isinstance(value, int) and 0 < value < 1_000_000 else None
        elif isinstance(value, int) and 2 < value < 1_000_000:
            limits.append(value)
    context = min(limits) if limits else 77
    for name in ("tokenizer.json", "vocab.json", "merges.txt"):
        if (tok_dir / name).exists():
            require_regular_file(tok_dir / name, "tokenizer file")
            if (tok_dir / name).stat().st_size > MAX_TOKENIZER_BYTES:
                raise UsageError(f"{tok_dir / name}: over {MAX_TOKENIZER_BYTES // 2**20} MB, too large for a tokenizer")
    if (tok_dir / "tokenizer.json").is_file():
        import tokenizers

        try:
            tk = tokenizers.Tokenizer.from_file(str(tok_dir / "tokenizer.json"))
        except Exception as e:  # the Rust library raises its own exception type
            raise UsageError(
                f"{tok_dir / 'tokenizer.json'}: not a tokenizer ({str(e).splitlines()[0][:120]})"
            ) from None
        unk = getattr(tk.model, "unk_token", None)
        return Words(
            lambda t: tk.encode(t, add_special_tokens=False).ids,
            tk.get_vocab(with_added_tokens=True),
            tk.token_to_id(unk) if unk else None,
            context,
            width,
        )
    from genai_cli.image.loading import quiet_libraries

    quiet_libraries()
    from transformers import CLIPTokenizer

    try:
        tok = CLIPTokenizer.from_pretrained(str(tok_dir), local_files_only=True, trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise UsageError(f"{tok_dir}: cannot read the tokenizer ({str(e).splitlines()[0][:120]})") from None
    words = Words.of(tok, context)
    words.width = width
    return words


def check_words(words: Words, token: str, init_word: str, num_vectors: int) -> int:
    """The new word is new, the init word is one token, the vectors fit the context -> the init word's id.

    A new word must not already be one token of the model (CLIP reads `red` as its `red</w>`: the run would
    train a copy it can never use), nor part of one (an added `ed` would split every `red` in a prompt)."""
    if num_vectors > words.context - 2:
        raise UsageError(
            f"--num-vectors {num_vectors}: this model's text encoder reads {words.context} tokens, "
            f"so a word can span at most {words.context - 2}"
        )
    placeholders = [token] + [f"{token}_{i}" for i in range(1, num_vectors)]
    by_id = {i: t for t, i in words.vocab.items()}
    for word in placeholders:
        if word in words.vocab:  # the literal entry, e.g. "the</w>"
            raise UsageError(
                f"--token {shorten(word)}: the model already has the token {word!r}",
                hint=f"choose a new word, e.g. with angle brackets: <{token.strip('<>')}>",
            )
        ids = words.encode(word)
        if len(ids) == 1 and ids[0] != words.unk_id:
            raise UsageError(
                f"--token {shorten(word)}: this model already has that word (its token "
                f"{by_id.get(ids[0], ids[0])!r}); a new word needs a name of its own",
                hint=f"choose a new word, e.g. with angle brackets: <{token.strip('<>')}>",
            )
    lowered = token.lower()
    inside = next((t for t in words.vocab if lowered in t.replace("</w>", "")), None)
    if inside is not None:
        raise UsageError(
            f"--token {shorten(token)} is part of the model's token {inside!r}: added as a word it "
            "would change how prompts with that token are read",
            hint=f"choose a new word, e.g. with angle brackets: <{token.strip('<>')}>",
        )
    ids = words.encode(init_word)
    if len(ids) != 1 or ids[0] == words.unk_id:
        raise UsageError(
            f"--init-word {shorten(init_word)} is {len(ids)} tokens for this model; it must be one",
            hint="pick a word close to the concept that this model reads as one token, e.g. "
            + ", ".join(hint_words(words)),
        )
    return ids[0]


def hint_words(words: Words, n: int = 3) -> list[str]:
    """Up to n common words this model reads as one token (from HINT_WORDS, else from its vocabulary)."""
    found = [w for w in HINT_WORDS if len(words.encode(w)) == 1 and words.encode(w)[0] != words.unk_id][:n]
    for entry, _ in sorted(words.vocab.items(), key=lambda kv: kv[1]):
        if len(found) >= n:
            break
        word = entry.removesuffix("</w>")
        if (
            entry.endswith("</w>")
            and len(word) >= 3
            and word.isalpha()
            and word not in found
            and len(words.encode(word)) == 1
        ):
            found.append(word)
    return found


def example_words(source: Any) -> list[str]:
    """Up to three words the located model (image.loading.locate) reads as one token, from its own tokenizer,
    for hints: star, circle, square for the toy model; [] when its tokenizer cannot be read without weights."""
    if getattr(source, "kind", None) != "folder":
        return []
    try:
        words = read_words(source.path)
    except UsageError:
        return []
    return hint_words(words) if words is not None else []


def check_model(s: InvertSettings, source: Any) -> None:
    """The checks that need the model, from its tokenizer and configs alone (a diffusers folder; a single-file
    checkpoint is checked once its pipeline is built): the new word, the init word, --num-vectors, --resolution."""
    from genai_cli.image import loading

    if source.kind != "folder":
        return
    words = read_words(source.path)
    if words is not None:
        check_words(words, s.token, s.init_word, s.num_vectors)
        if s.resume and words.width:  # the checkpoint's vectors must fit this text encoder
            from genai_cli.invert import checkpoint as C

            folder, state = C.find(s.out)
            C.load(folder, state, (s.num_vectors, words.width))
    limits = loading.size_limits(source)
    if limits and s.resolution is not None and not limits[1] <= s.resolution <= limits[2]:
        raise UsageError(f"--resolution {s.resolution}: this model works between {limits[1]} and {limits[2]} pixels")
