"""What a textual-inversion run is asked to do, and every check that needs no weights.

Imports neither torch nor transformers: `check_settings` runs at the command's start, and
`check_words` reads only the model's tokenizer and configs (the `tokenizers` library for a
tokenizer.json, ~0.2 s), so a bad word or size is refused in about a second, before any weight loads.

Limits: every count and size has one; the schema's InvertConfig (genai_cli/schema.py) checks them, and
configs/default.yaml documents them:
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from genai_cli.errors import UsageError, shorten

MAX_STEPS = 100_000  # optimiser steps (3000-5000 is the usual run; also bounds save/checkpoint/validate_every)
MAX_BATCH_SIZE = 64  # images per micro-batch, per process
MAX_GRAD_ACCUM = 256  # micro-batches per optimiser step
MAX_REPEATS = 1000  # times each image appears per epoch (an epoch's order is a permutation of images x repeats)
MAX_NUM_VECTORS = 64  # vectors of the new word; also at most the text encoder's context minus 2 (start, end)
MAX_RESOLUTION = 2048  # training image side in pixels; also at most the model's own largest size (4 x native)
MAX_LR = 10.0  # learning rate (a finite number above 0)
MAX_VALIDATION_N = 64  # images in a validation grid
MAX_VALIDATION_STEPS = 1000  # denoising steps of each validation image
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
    seed: int = 0
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


def slug(text: str) -> str:
    """'<my-cat>' -> 'my-cat' (as genai_cli.toyworld.files.slug, whose module imports numpy)."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def default_out(token: str) -> Path:
    return Path(f"invert-{slug(token) or 'token'}")


# (setting, smallest, largest) of every count; the flag is --setting-name
_COUNTS = (
    ("steps", 1, MAX_STEPS), ("batch_size", 1, MAX_BATCH_SIZE), ("grad_accum", 1, MAX_GRAD_ACCUM),
    ("num_vectors", 1, MAX_NUM_VECTORS), ("repeats", 1, MAX_REPEATS), ("validation_n", 1, MAX_VALIDATION_N),
    ("validation_steps", 1, MAX_VALIDATION_STEPS), ("save_every", 0, MAX_STEPS), ("checkpoint_every", 0, MAX_STEPS),
    ("validate_every", 0, MAX_STEPS),
)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def check_settings(s: InvertSettings) -> InvertSettings:
    """Everything that can be checked before a weight is loaded (names the bad option)."""
    from genai_cli.invert import checkpoint as C
    from genai_cli.invert import data as D

    for name, what in (("token", "--token"), ("init_word", "--init-word")):
        value = getattr(s, name)
        if isinstance(value, str) and len(value) > MAX_TOKEN_CHARS:
            raise UsageError(f"{what} {shorten(value)}: at most {MAX_TOKEN_CHARS} characters")
    if not s.token or not s.token.strip() or any(c.isspace() for c in s.token) or not s.token.isprintable():
        raise UsageError(f"--token {shorten(s.token)}: give one word without spaces, e.g. '<my-cat>'")
    if not s.init_word or not s.init_word.strip() or any(c.isspace() for c in s.init_word.strip()):
        raise UsageError(f"--init-word {shorten(s.init_word)}: give one existing word that is close to the concept, e.g. cat")
    s.init_word = s.init_word.strip()
    if s.property not in D.TEMPLATES:
        raise UsageError(f"--property {shorten(s.property)}: use object or style")
    if s.format not in ("diffusers", "a1111"):
        raise UsageError(f"--format {shorten(s.format)}: use diffusers or a1111")
    for name, low, high in _COUNTS:
        value = getattr(s, name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise UsageError(f"{_flag(name)} {shorten(value)}: must be a whole number from {low} to {high}")
    if not (isinstance(s.lr, (int, float)) and math.isfinite(s.lr) and 0 < s.lr <= MAX_LR):
        raise UsageError(f"--lr {s.lr}: must be a number above 0 and at most {MAX_LR:g}")
    if not (isinstance(s.flip, (int, float)) and 0 <= s.flip <= 1):  # NaN fails both comparisons
        raise UsageError(f"--flip {s.flip}: must be a probability from 0 to 1")
    if s.resolution is not None and (not isinstance(s.resolution, int) or not 8 <= s.resolution <= MAX_RESOLUTION
                                     or s.resolution % 8):
        raise UsageError(f"--resolution {shorten(s.resolution)}: must be a multiple of 8 from 8 to {MAX_RESOLUTION}")
    if s.validation_prompt is not None:
        if len(s.validation_prompt) > MAX_PROMPT_CHARS:
            raise UsageError(f"--validation-prompt {shorten(s.validation_prompt)}: at most {MAX_PROMPT_CHARS} characters")
        if "{}" not in s.validation_prompt:  # the token itself marks the place ("a red {}" keeps its "red")
            s.validation_prompt = s.validation_prompt.replace(s.token, "{}")
        if "{}" not in s.validation_prompt:
            raise UsageError(f"--validation-prompt {shorten(s.validation_prompt)} does not use the new word",
                             hint=f"write {{}} or {s.token} where it goes, e.g. 'a photo of {s.token}'")
        try:
            s.validation_prompt.format("x")
        except (IndexError, KeyError, ValueError):
            raise UsageError(f"--validation-prompt {shorten(s.validation_prompt)}: use {{}} once for the new word, and "
                             "no other braces") from None
    s.out = Path(s.out) if s.out is not None else default_out(s.token)
    if s.out.exists() and not s.out.is_dir():
        raise UsageError(f"--out {s.out} is a file, not a folder")
    if s.resume and s.force:
        raise UsageError("--resume and --force: give one", hint="--resume continues the run; --force starts it again")
    if s.resume:  # the newest complete checkpoint, read and checked in full (the vectors' width once the model is known)
        folder, state = C.find(s.out)
        C.load(folder, state, (s.num_vectors, None))
    elif not s.force and C.holds_run(s.out):
        raise UsageError(f"{s.out} already holds a textual-inversion run",
                         hint="continue it with --resume (a larger --steps trains further), start it again with "
                         "--force, or choose another --out")
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
        return cls(lambda t: list(tokenizer.encode(t, add_special_tokens=False)), dict(tokenizer.get_vocab()),
                   tokenizer.unk_token_id, int(context))


def read_words(folder: Path) -> Words | None:
    """The tokenizer and context of a diffusers folder, without weights; None if it has no tokenizer folder.

    A tokenizer.json is read with the `tokenizers` library (what transformers' CLIPTokenizer runs on); an older
    folder (vocab.json + merges.txt) through transformers' CLIPTokenizer, a fixed class: no remote code."""
    from genai_cli.files import require_regular_file

    tok_dir, te_config = folder / "tokenizer", folder / "text_encoder" / "config.json"
    if not tok_dir.is_dir():
        return None
    limits, width = [], None
    for path, key in ((tok_dir / "tokenizer_config.json", "model_max_length"), (te_config, "max_position_embeddings"),
                      (te_config, "hidden_size")):
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
            raise UsageError(f"{tok_dir / 'tokenizer.json'}: not a tokenizer ({str(e).splitlines()[0][:120]})") from None
        unk = getattr(tk.model, "unk_token", None)
        return Words(lambda t: tk.encode(t, add_special_tokens=False).ids, tk.get_vocab(with_added_tokens=True),
                     tk.token_to_id(unk) if unk else None, context, width)
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
        raise UsageError(f"--num-vectors {num_vectors}: this model's text encoder reads {words.context} tokens, "
                         f"so a word can span at most {words.context - 2}")
    placeholders = [token] + [f"{token}_{i}" for i in range(1, num_vectors)]
    by_id = {i: t for t, i in words.vocab.items()}
    for word in placeholders:
        if word in words.vocab:  # the literal entry, e.g. "the</w>"
            raise UsageError(f"--token {shorten(word)}: the model already has the token {word!r}",
                             hint=f"choose a new word, e.g. with angle brackets: <{token.strip('<>')}>")
        ids = words.encode(word)
        if len(ids) == 1 and ids[0] != words.unk_id:
            raise UsageError(f"--token {shorten(word)}: this model already has that word (its token "
                             f"{by_id.get(ids[0], ids[0])!r}); a new word needs a name of its own",
                             hint=f"choose a new word, e.g. with angle brackets: <{token.strip('<>')}>")
    lowered = token.lower()
    inside = next((t for t in words.vocab if lowered in t.replace("</w>", "")), None)
    if inside is not None:
        raise UsageError(f"--token {shorten(token)} is part of the model's token {inside!r}: added as a word it "
                         "would change how prompts with that token are read",
                         hint=f"choose a new word, e.g. with angle brackets: <{token.strip('<>')}>")
    ids = words.encode(init_word)
    if len(ids) != 1 or ids[0] == words.unk_id:
        raise UsageError(f"--init-word {shorten(init_word)} is {len(ids)} tokens for this model; it must be one",
                         hint="pick a word close to the concept that this model reads as one token, e.g. "
                         + ", ".join(hint_words(words)))
    return ids[0]


def hint_words(words: Words, n: int = 3) -> list[str]:
    """Up to n common words this model reads as one token (from HINT_WORDS, else from its vocabulary)."""
    found = [w for w in HINT_WORDS if len(words.encode(w)) == 1 and words.encode(w)[0] != words.unk_id][:n]
    for entry, _ in sorted(words.vocab.items(), key=lambda kv: kv[1]):
        if len(found) >= n:
            break
        word = entry.removesuffix("</w>")
        if entry.endswith("</w>") and len(word) >= 3 and word.isalpha() and word not in found \
                and len(words.encode(word)) == 1:
            found.append(word)
    return found


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
