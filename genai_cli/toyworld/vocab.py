"""A CLIPTokenizer-compatible vocabulary of the toy world's words, built here (no download).

CLIP's tokenizer is byte-pair encoding: a word is split into characters (the last one marked
`</w>`), then merges are applied lowest rank first. We *learn* the merges from the word list
itself (greedy BPE, the procedure that made CLIP's merges.txt, on ~25 words), running until every
word is one symbol. Because encoding replays the training merges in rank order, every world
word then tokenizes to exactly one whole-word token (`red</w>`). Words outside the world fall
apart into character pieces or <|endoftext|> (CLIP's unknown token): `unknown_words` reports them.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from genai_cli.toyworld.world import (
    BACKGROUNDS,
    COLOURS,
    FILLER_WORDS,
    HELD_OUT,
    SHAPES,
    SKY_COLOURS,
    SKY_WORDS,
)
from genai_cli.toyworld.world import (
    words as split_words,
)

BOS, EOS = "<|startoftext|>", "<|endoftext|>"  # CLIP's special tokens (EOS doubles as unk and pad)
MODEL_MAX_LENGTH = 16  # tokens per prompt, BOS and EOS included (a caption needs 9)
PRIVATE_TOKEN = f"<{HELD_OUT}>"  # training-time token of the held-out shape, removed before shipping


def model_words(sky: bool = True) -> list[str]:
    """The words the shipped model knows: the world's words without the held-out shape, and the night
    sky's words. sky=False: the shapes-only vocabulary of the first model (a prefix of the whole list,
    so a shapes-only dataset trains with the same token ids)."""
    shipped = [*FILLER_WORDS, *SHAPES, *COLOURS, *BACKGROUNDS]
    return list(dict.fromkeys([*shipped, *SKY_WORDS, *SKY_COLOURS] if sky else shipped))


# Words a person may write for something the toy world draws under another name (checked against the
# model's own vocabulary before being suggested, so a shapes-only model suggests none of the sky's).
RELATED: dict[str, tuple[str, ...]] = {
    "cosmos": ("galaxy", "stars", "space"),
    "universe": ("galaxy", "stars", "space"),
    "milky": ("galaxy", "stars"),
    "starry": ("stars", "night", "sky"),
    "starfield": ("stars", "night"),
    "saturn": ("ringed", "planet"),
    "jupiter": ("planet",),
    "world": ("planet",),
    "cloud": ("nebula",),
    "clouds": ("nebula",),
    "gas": ("nebula",),
    "dark": ("black", "night"),
    "grey": ("gray",),
    "violet": ("purple",),
    "pretty": ("beautiful",),
    "lovely": ("beautiful",),
    "shiny": ("bright",),
    "box": ("square",),
    "ring": ("rings", "ringed", "circle"),
    "round": ("circle",),
}


def learn_merges(word_list: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """Greedy BPE on a word list until each word is one symbol -> (merges in rank order, base symbols)."""
    segs = {w: tuple(w[:-1]) + (w[-1] + "</w>",) for w in word_list}
    base = sorted({s for seg in segs.values() for s in seg})
    merges: list[tuple[str, str]] = []
    while True:
        pairs = Counter(p for seg in segs.values() for p in zip(seg, seg[1:]))
        if not pairs:
            return merges, base
        best = min(pairs, key=lambda p: (-pairs[p], p))  # most frequent, ties alphabetical: deterministic
        merges.append(best)
        for w, seg in segs.items():
            out, i = [], 0
            while i < len(seg):
                if i + 1 < len(seg) and (seg[i], seg[i + 1]) == best:
                    out.append(seg[i] + seg[i + 1])
                    i += 2
                else:
                    out.append(seg[i])
                    i += 1
            segs[w] = tuple(out)


def build_vocab(word_list: list[str] | None = None) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """-> (vocab token -> id, merges). Ids: BOS, EOS, base symbols, then merge results in rank order."""
    word_list = model_words() if word_list is None else word_list
    merges, base = learn_merges(word_list)
    tokens = [BOS, EOS, *base, *(a + b for a, b in merges)]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}, merges


def write_tokenizer(directory: str | os.PathLike, word_list: list[str] | None = None) -> Path:
    """Write vocab.json + merges.txt, then let CLIPTokenizer save its own config files next to them."""
    from transformers import CLIPTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = build_vocab(word_list)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False, indent=0) + "\n")
    (directory / "merges.txt").write_text(
        "#version: 0.2 (genai toy world)\n" + "".join(f"{a} {b}\n" for a, b in merges)
    )
    tok = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"), model_max_length=MODEL_MAX_LENGTH)
    tok.save_pretrained(str(directory))
    return directory


def known_words(tokenizer) -> set[str]:
    """The model words this tokenizer has one whole-word token for, plus its added tokens
    (a textual-inversion token such as <moon>). Word-final BPE pieces (`ack</w>`) are not words."""
    whole = {w for w in model_words() if tokenizer.tokenize(w) == [w + "</w>"]}
    return whole | (set(tokenizer.get_added_vocab()) - {BOS, EOS})


def example_prompt(known: set[str] | None = None) -> str:
    """A caption made only of words in `known` (default: the shipped vocabulary), for hints that fit the
    model: "a red star on a blue background". "" when the words for a caption are missing."""
    known = set(model_words()) if known is None else known
    if not {"a", "on", "background"} <= known:
        return ""
    prefer = lambda first, pool: [w for w in (first, *pool) if w in known]  # noqa: E731
    shapes, colours, backs = prefer("star", SHAPES), prefer("red", COLOURS), prefer("blue", BACKGROUNDS)
    colour = next(iter(colours), None)
    back = next((b for b in backs if b != colour), None)
    if not shapes or colour is None or back is None:
        return ""
    return f"a {colour} {shapes[0]} on a {back} background"


def unknown_words(prompt: str, tokenizer=None) -> list[str]:
    """The prompt's words the model has no token for, in order, once each. Without a tokenizer,
    the shipped vocabulary (model_words) is the reference."""
    known = known_words(tokenizer) if tokenizer is not None else set(model_words())
    return [w for w in dict.fromkeys(split_words(prompt)) if w not in known]


def closest_words(word: str, tokenizer=None, n: int = 3) -> list[str]:
    """Up to `n` words the model knows that `word` may have meant: related words (RELATED), then the
    nearest spellings (difflib over the model's whole-word tokens; template words like "a" left out)."""
    import difflib

    known = known_words(tokenizer) if tokenizer is not None else set(model_words())
    candidates = sorted(w for w in known - {"a", "an", "on", "in", "with", "the"} if not w.startswith("<"))
    related = [w for w in RELATED.get(word, ()) if w in known]
    close = difflib.get_close_matches(word, candidates, n=n, cutoff=0.7)
    return list(dict.fromkeys(related + close))[:n]


def unknown_message(unknown: list[str], limit: int = 10, tokenizer=None, suggest: bool = False) -> str:
    """The unknown words, each shortened (errors.shorten) and at most `limit` of them; with suggest=True,
    the closest known words of each (closest_words), as in "galaxies -> galaxy"."""
    from genai_cli.errors import shorten

    shown = [w if len(w) <= 40 else shorten(w) for w in unknown[:limit]]
    more = f" and {len(unknown) - limit} more" if len(unknown) > limit else ""
    text = "the toy model does not know: " + ", ".join(shown) + more
    if suggest:
        pairs = [(s, closest_words(w, tokenizer)) for w, s in zip(unknown[:limit], shown) if len(w) <= 40]
        hints = [f"{s} -> {', '.join(c)}" for s, c in pairs if c]
        if hints:
            text += "; closest known words: " + "; ".join(hints)
    return text
