"""Contextual word vectors: one vector per *occurrence* of a word, shaped by its sentence.

A static vector (GloVe, word2vec) gives *bank* one vector whatever the sentence. A Transformer
gives each occurrence its own: the hidden state at the word's tokens after some layer, where
attention has mixed in the other words. Here:

    check_inputs(word, sentences)          the word is in every sentence; counts within limits
    prepare(name) / load(enc, device, dtype)   config + tokenizer, then the bare model (AutoModel), once
    occurrences(enc, word, sentences)      every occurrence's vector at every layer
    similarity(occs, layer)                [k, k] cosine matrix between the occurrences
    plot_pca(occs, layer, out)             the occurrences on a plane (PCA to 2-D)

Layers count hidden states as transformers returns them: 0 is the token embedding (no context
at all: the same token always has the same vector, like GloVe), n is the output of the last
block. The default is the middle layer, n // 2: the first layers are still close to the token
embedding, and the last layers of a causal LM turn towards predicting the *next* token; the
middle ones hold the most word-sense information (Ethayarajh 2019, "How contextual are
contextualized word representations?"; Tenney et al. 2019, "BERT rediscovers the classical
NLP pipeline").

A causal model (SmolLM2, GPT) lets each token see only the tokens before it: in "the bank
approved the loan", *bank* has seen only "the". Encoder models (BERT) see both sides.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from genai_cli.errors import GenaiError, UsageError, shorten

MAX_SENTENCES = 100  # sentences per run at most (a 100 x 100 matrix is already past reading)
MAX_WORD_CHARS = 100  # characters of WORD at most
MAX_SENTENCE_CHARS = 100_000  # characters per sentence at most, checked before tokenizing (then: the model's context)
BATCH_TOKENS = 4096  # padded tokens per forward pass (a sentence longer than this goes alone)
MAX_TABLE_PAIRS = 10  # --layers: pairs shown as columns in the text table (--json has them all)


@dataclass
class Encoder:
    model: Any  # a bare transformers model (AutoModel), eval mode
    tokenizer: Any  # a fast tokenizer (character offsets are needed)
    name: str  # as the user named it
    path: Path  # the folder it was loaded from
    n_layers: int  # hidden layers; hidden states are 0 (embeddings) .. n_layers
    context: int  # tokens the model can take
    causal: bool  # True when a token sees only the tokens before it (measured once loaded)
    load_s: float
    config: Any = None


@dataclass
class Occurrence:
    label: str  # "2", or "2.1", "2.2" when the word occurs twice in sentence 2
    sentence: int  # 1-based sentence number
    text: str  # the sentence
    start: int  # the word's character span in the sentence
    end: int
    tokens: list[str]  # the model's tokens that make up the word
    vectors: np.ndarray  # [n_layers + 1, hidden] float32: mean over the word's tokens, per layer

    def marked(self) -> str:
        """The sentence with this occurrence in [brackets]."""
        return f"{self.text[: self.start]}[{self.text[self.start : self.end]}]{self.text[self.end :]}"

    def before(self) -> str:
        return self.text[: self.start].strip()


def check_out(out: Path) -> None:
    """A --out path for the plot, checked before any model is loaded."""
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out must end in .png: {out}")
    if out.is_dir():
        raise UsageError(f"--out is a folder: {out}", hint="give a file name ending in .png")
    if not out.parent.exists():
        raise UsageError(f"folder does not exist: {out.parent}")


def _pattern(word: str) -> re.Pattern:
    return re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)", re.IGNORECASE)


def check_inputs(word: str, sentences: list[str]) -> None:
    """Everything that can be checked before a model is loaded; a UsageError names the bad value."""
    if not word or not word.strip():
        raise UsageError("--word is empty", hint="give the word whose occurrences to compare, e.g. --word bank")
    if len(word) > MAX_WORD_CHARS:
        raise UsageError(f"--word {shorten(word)} is longer than {MAX_WORD_CHARS} characters")
    if not sentences:
        raise UsageError(
            "no sentences given",
            hint='e.g. genai embed contextual --word bank "the river bank" "the bank approved the loan"',
        )
    if len(sentences) > MAX_SENTENCES:
        raise UsageError(f"{len(sentences)} sentences given; at most {MAX_SENTENCES} are allowed")
    pattern = _pattern(word.strip())
    for n, s in enumerate(sentences, 1):
        if not s.strip():
            raise UsageError(f"sentence {n} is empty")
        if len(s) > MAX_SENTENCE_CHARS:
            raise UsageError(
                f"sentence {n} is {len(s):,} characters; at most {MAX_SENTENCE_CHARS:,} are allowed: {shorten(s)}"
            )
        if not pattern.search(s):
            raise UsageError(
                f"sentence {n} does not contain the word {word.strip()!r}: {shorten(s)}",
                hint="the word must appear as a whole word (any case) in every sentence",
            )
    if sum(len(pattern.findall(s)) for s in sentences) < 2:
        raise UsageError(
            f"{word.strip()!r} occurs only once: nothing to compare", hint="give two or more sentences that contain it"
        )


def prepare(name: str, on_info: Callable[[str], None] = lambda s: None) -> Encoder:
    """Config and tokenizer only (no weights yet), so that the layer and the sentence lengths are
    checked before the model is loaded. The folder is the one `genai next` loads from: the
    built-in SmolLM2 (converted once into the genai cache), a model folder, or a cached hub id."""
    import time

    from transformers import AutoConfig, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from genai_cli.text.model import resolve_model

    t0 = time.perf_counter()
    path = resolve_model(name, on_info)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    with _load_errors(name, path):
        config = AutoConfig.from_pretrained(path, trust_remote_code=False)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    if not getattr(tokenizer, "is_fast", False):
        raise UsageError(
            f"model {name!r} has no fast tokenizer (tokenizer.json)",
            hint="contextual vectors need the tokenizer's character offsets to find the word's tokens",
        )
    n_layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    context = int(getattr(config, "max_position_embeddings", 0) or getattr(tokenizer, "model_max_length", 512))
    return Encoder(None, tokenizer, name, path, n_layers, context, False, time.perf_counter() - t0, config)


def load(enc: Encoder, device: Any, dtype: Any) -> Encoder:
    """The bare model (AutoModel: no LM head) into `enc`, in eval mode on `device`; whether it is causal is measured."""
    import time

    import torch
    from transformers import AutoModel

    from genai_cli.text.model import _has_safetensors

    t0 = time.perf_counter()
    with _load_errors(enc.name, enc.path):
        model = AutoModel.from_pretrained(
            enc.path,
            config=enc.config,
            dtype=dtype,
            trust_remote_code=False,
            use_safetensors=_has_safetensors(enc.path),
        )
    enc.model = model.eval().to(device)
    with torch.inference_mode(), _load_errors(enc.name, enc.path):  # an encoder-decoder (T5) fails here, cleanly
        enc.causal = _is_causal(enc)
    enc.load_s += time.perf_counter() - t0
    return enc


@contextmanager
def _load_errors(name: str, path: Path):
    try:
        yield
    except MemoryError:
        raise
    except Exception as e:  # transformers raises OSError, ValueError, KeyError, UnpicklingError ... on a bad folder
        raise UsageError(
            f"could not load model {name!r} from {path}: {type(e).__name__}: {shorten(str(e), 300)}",
            hint=(
                "give a transformers model folder or cached hub id: a causal LM or an encoder "
                "(not an encoder-decoder such as T5); custom code is never run"
            ),
        ) from None


def _is_causal(enc: Encoder) -> bool:
    """Measured, not guessed from the config: change the last token and see whether the first one moves."""
    import torch

    vocab = int(getattr(enc.model.config, "vocab_size", 0) or len(enc.tokenizer))
    a = torch.tensor([[min(5, vocab - 1), min(6, vocab - 1), min(7, vocab - 1)]], device=enc.model.device)
    b = a.clone()
    b[0, -1] = min(8, vocab - 1) if vocab > 8 else 0
    ha = enc.model(a).last_hidden_state[0, 0].float()
    hb = enc.model(b).last_hidden_state[0, 0].float()
    return bool(torch.allclose(ha, hb, atol=1e-4, rtol=1e-3))


def resolve_layer(layer: int | None, n_layers: int) -> int:
    """None: the middle layer. Negative layers count from the last (-1 = n_layers)."""
    if layer is None:
        return n_layers // 2
    if not -(n_layers + 1) <= layer <= n_layers:
        raise UsageError(
            f"--layer {layer} does not exist: the model has hidden states 0 .. {n_layers}",
            hint=f"0 is the token embedding, {n_layers} the last layer; -1 .. -{n_layers + 1} count from the last",
        )
    return layer % (n_layers + 1)


def tokenize(enc: Encoder, sentences: list[str]) -> list[Any]:
    """Each sentence's encoding (ids and character offsets), checked against the context length."""
    out = []
    for n, s in enumerate(sentences, 1):
        e = enc.tokenizer(s, return_offsets_mapping=True, add_special_tokens=True)
        if len(e["input_ids"]) > enc.context:
            raise UsageError(
                f"sentence {n} is {len(e['input_ids'])} tokens, "
                f"longer than the model's context of {enc.context}: {shorten(s)}",
                hint="shorten it, or split it into sentences",
            )
        out.append(e)
    return out


def occurrences(enc: Encoder, word: str, sentences: list[str], encodings: list[Any] | None = None) -> list[Occurrence]:
    """Every occurrence of `word` in every sentence, with its vector at every layer; the vector
    of a word split into several tokens is their mean. Sentences go through the model in
    batches of up to BATCH_TOKENS tokens, padded on the right and masked: a real token never
    attends to the padding, so each vector is what the sentence alone would give."""
    import torch

    encodings = encodings if encodings is not None else tokenize(enc, sentences)
    pattern = _pattern(word.strip())
    pad = enc.tokenizer.pad_token_id if enc.tokenizer.pad_token_id is not None else (enc.tokenizer.eos_token_id or 0)
    out: list[Occurrence] = []
    for batch in _batches([len(e["input_ids"]) for e in encodings]):
        width = max(len(encodings[n]["input_ids"]) for n in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)  # [B, T]
        mask = torch.zeros((len(batch), width), dtype=torch.long)  # [B, T], 1 = a real token
        for b, n in enumerate(batch):
            row = encodings[n]["input_ids"]
            ids[b, : len(row)] = torch.tensor(row)
            mask[b, : len(row)] = 1
        with torch.inference_mode():
            hidden = enc.model(
                ids.to(enc.model.device), attention_mask=mask.to(enc.model.device), output_hidden_states=True
            ).hidden_states  # n_layers + 1 x [B, T, H]
            for b, n in enumerate(batch):
                s, e = sentences[n], encodings[n]
                matches = list(pattern.finditer(s))
                for k, m in enumerate(matches, 1):
                    rows = [
                        i for i, (a, z) in enumerate(e["offset_mapping"]) if z > a and a < m.end() and z > m.start()
                    ]
                    if not rows:
                        raise GenaiError(
                            f"no token of sentence {n + 1} covers {m.group(0)!r}; the tokenizer gives no offsets for it"
                        )
                    vectors = torch.stack([h[b, rows].float().mean(0) for h in hidden]).cpu().numpy()  # [L + 1, H]
                    tokens = enc.tokenizer.convert_ids_to_tokens([e["input_ids"][i] for i in rows])
                    label = str(n + 1) if len(matches) == 1 else f"{n + 1}.{k}"
                    out.append(Occurrence(label, n + 1, s, m.start(), m.end(), tokens, vectors))
    return out


def _batches(lengths: list[int]) -> list[list[int]]:
    """Consecutive sentence indices, grouped so that each padded batch holds <= BATCH_TOKENS tokens."""
    batches: list[list[int]] = []
    current: list[int] = []
    for n, length in enumerate(lengths):
        if current and (len(current) + 1) * max(length, *(lengths[i] for i in current)) > BATCH_TOKENS:
            batches.append(current)
            current = []
        current.append(n)
    if current:
        batches.append(current)
    return batches


def similarity(occs: list[Occurrence], layer: int) -> np.ndarray:
    """[k, k] cosine similarity between the occurrences' vectors at `layer`."""
    X = np.stack([o.vectors[layer] for o in occs]).astype(np.float64)  # [k, H]
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    U = X / norms
    return np.clip(U @ U.T, -1.0, 1.0)


def by_layer(occs: list[Occurrence]) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every pair of occurrences, and their cosine at every layer: ([(i, j)], [n_layers + 1, pairs])."""
    pairs = [(i, j) for i in range(len(occs)) for j in range(i + 1, len(occs))]
    n = occs[0].vectors.shape[0]
    table = np.empty((n, len(pairs)))
    for layer in range(n):
        sim = similarity(occs, layer)
        table[layer] = [sim[i, j] for i, j in pairs]
    return pairs, table


def plot_pca(
    occs: list[Occurrence], layer: int, out: Path, force: bool, title: str, recipe: dict | None = None
) -> dict:
    """The occurrences' vectors at `layer` projected to 2-D with PCA, each labelled by its sentence."""
    from genai_cli.vectors.plot import pca_2d

    X = np.stack([o.vectors[layer] for o in occs]).astype(np.float64)
    coords, ratio = pca_2d(X)

    import matplotlib

    matplotlib.use("Agg")
    import textwrap

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 6), dpi=120)
    colors = plt.get_cmap("tab10")
    for (x, y), o in zip(coords, occs):
        color = colors((o.sentence - 1) % 10)
        ax.scatter(
            [x],
            [y],
            s=70,
            color=color,
            zorder=3,
            label=textwrap.shorten(f"{o.label}: {o.marked()}", 90, placeholder=" …"),
        )
        ax.annotate(
            o.label,
            (x, y),
            xytext=(6, 5),
            textcoords="offset points",
            fontsize=11,
            fontweight="bold",
            color=color,
            zorder=4,
        )
    ax.set_xlabel(f"PC 1 ({ratio[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ratio[1]:.0%} of variance)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.margins(0.15)
    if len(occs) <= 20:  # one legend line per occurrence: its sentence, the word in [brackets]
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), fontsize=9, frameon=False, ncol=1)
    fig.tight_layout()
    from genai_cli.files import save_figure

    path = save_figure(fig, out, force, recipe=recipe, bbox_inches="tight")  # the legend sits below the axes
    return {"path": str(path), "coords": coords.round(6).tolist(), "explained_variance": ratio.round(6).tolist()}


def plot_layers(
    occs: list[Occurrence],
    pairs: list[tuple[int, int]],
    table: np.ndarray,
    layer: int,
    out: Path,
    force: bool,
    title: str,
    recipe: dict | None = None,
) -> dict:
    """One line per pair of occurrences: their cosine similarity from layer 0 (token embeddings) to the last."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    layers = np.arange(table.shape[0])
    for k, (i, j) in enumerate(pairs[:MAX_TABLE_PAIRS]):
        ax.plot(layers, table[:, k], marker="o", markersize=3, lw=1.6, label=f"{occs[i].label}-{occs[j].label}")
    ax.axvline(layer, color="gray", ls="--", lw=1)
    ax.annotate(f"layer {layer}", (layer, 1.0), xytext=(4, -12), textcoords="offset points", fontsize=9, color="gray")
    ax.set_xlabel("layer (0 = token embeddings)")
    ax.set_ylabel("cosine similarity")
    ax.set_xlim(0, table.shape[0] - 1)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, title="pair", loc="lower left")
    import textwrap

    shown = sorted({i for p in pairs[:MAX_TABLE_PAIRS] for i in p})  # the occurrences the lines connect
    key = "\n".join(textwrap.shorten(f"{occs[i].label}: {occs[i].marked()}", 90, placeholder=" …") for i in shown)
    ax.text(0.0, -0.14, key, transform=ax.transAxes, va="top", ha="left", fontsize=9)
    fig.tight_layout()
    from genai_cli.files import save_figure

    path = save_figure(fig, out, force, recipe=recipe, bbox_inches="tight")  # the key sits below the axes
    return {"path": str(path), "pairs_drawn": min(len(pairs), MAX_TABLE_PAIRS)}
