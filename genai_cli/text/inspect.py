"""Looking inside the model: next-token probabilities, and attention weights.

next_tokens(lm, ids, top_k, steps)   the talk's "how GPT works" slide: a GPT only ever
                                     predicts a probability for every possible next token
attention(lm, ids, layer, head)      the "Attention Is All You Need" slide: how much each
                                     token looks at each earlier one
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from genai_cli.errors import UsageError


@dataclass
class Candidate:
    token_id: int
    token: str  # the token's text as it would be printed (" Paris")
    prob: float  # softmax probability, temperature 1

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.token_id, "token": self.token, "prob": self.prob}


@dataclass
class Step:
    context: str  # the text the model saw before this step (after the prompt: what it added so far)
    candidates: list[Candidate]  # the top-k, most likely first
    chosen: Candidate  # the greedy pick (candidates[0])
    top_k_mass: float  # total probability of the listed candidates (<= 1)


def token_text(tokenizer: Any, token_id: int) -> str:
    return tokenizer.decode([token_id], skip_special_tokens=False)


def next_tokens(lm: Any, ids: list[int], top_k: int = 10, steps: int = 1) -> list[Step]:
    """For each of `steps` greedy steps: the `top_k` most likely next tokens and their probabilities."""
    import torch
    from transformers import DynamicCache

    from genai_cli.text.model import cache_kwargs

    vocab = int(lm.model.config.vocab_size)
    if not 1 <= top_k <= vocab:
        raise UsageError(f"--top-k must be from 1 to the vocabulary size {vocab} (got {top_k})")
    out: list[Step] = []
    added: list[int] = []
    tok = lm.tokenizer
    with torch.inference_mode():
        cache = DynamicCache(config=lm.model.config)
        kw = cache_kwargs(lm.model, cache)
        x = torch.tensor([ids], dtype=torch.long, device=lm.device)  # [1, T]
        for _ in range(steps):
            logits = lm.model(x, **kw, use_cache=True, logits_to_keep=1).logits[0, -1]  # [V]
            probs = torch.softmax(logits.float(), dim=-1)  # [V], sums to 1 over the whole vocabulary
            p, i = torch.topk(probs, top_k)  # [k], [k]
            cands = [Candidate(int(t), token_text(tok, int(t)), float(q)) for q, t in zip(p.tolist(), i.tolist())]
            out.append(Step(tok.decode(added), cands, cands[0], float(p.sum())))
            added.append(cands[0].token_id)
            x = torch.tensor([[cands[0].token_id]], dtype=torch.long, device=lm.device)  # [1, 1]
    return out


def resolve_layer_head(lm: Any, layer: int, head: str | int) -> tuple[int, int | None]:
    """Check the layer and head against the model; negative layers count from the end.
    Returns (layer index, head index or None for the mean over heads)."""
    cfg = lm.model.config
    n_layers, n_heads = int(cfg.num_hidden_layers), int(cfg.num_attention_heads)
    if not -n_layers <= layer < n_layers:
        raise UsageError(
            f"--layer {layer} does not exist: the model has {n_layers} layers",
            hint=f"use 0 .. {n_layers - 1}, or -1 .. -{n_layers} to count from the last",
        )
    layer = layer % n_layers
    h = str(head).strip().lower()
    if h in ("mean", "avg", "average", "all"):
        return layer, None
    try:
        hi = int(h)
    except ValueError:
        raise UsageError(
            f"--head {head!r} is neither a number nor 'mean'", hint=f"use 0 .. {n_heads - 1}, or mean"
        ) from None
    if not 0 <= hi < n_heads:
        raise UsageError(
            f"--head {hi} does not exist: each layer has {n_heads} heads", hint=f"use 0 .. {n_heads - 1}, or mean"
        )
    return layer, hi


def attention(lm: Any, ids: list[int], layer: int, head: int | None) -> Any:
    """The attention weights of one layer: [T, T] numpy, row = the token that looks, column = the
    token looked at; each row sums to 1 (causal: zeros above the diagonal). Head None: the mean
    over heads. The model must be loaded with attn_implementation="eager"."""
    import torch

    with torch.inference_mode():
        x = torch.tensor([ids], dtype=torch.long, device=lm.device)  # [1, T]
        out = lm.model(x, output_attentions=True, use_cache=False, logits_to_keep=1)
    att = out.attentions[layer] if out.attentions else None  # [1, heads, T, T]
    if att is None:
        raise UsageError(
            "this model does not return attention weights", hint="it needs transformers' eager attention implementation"
        )
    att = att[0].float()  # [heads, T, T]
    weights = att.mean(0) if head is None else att[head]  # [T, T]
    return weights.cpu().numpy()
