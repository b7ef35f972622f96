"""Learned embeddings on disk, in the two layouts the ecosystem reads.

    diffusers   learned_embeds.safetensors: {token: tensor[num_vectors, dim]} (+ string metadata);
                what `StableDiffusionPipeline.load_textual_inversion` reads unchanged
    a1111       <name>.pt: {"string_to_token": {"*": 265}, "string_to_param": {"*": tensor[num_vectors, dim]},
                "name", "step", "sd_checkpoint", "sd_checkpoint_name"}: AUTOMATIC1111's embeddings folder

Reading is safe: safetensors, or a pickle through torch.load(weights_only=True) (tensors, dicts,
strings and numbers only; no code). A single-tensor safetensors whose key is `emb_params` (kohya /
A1111 style) is named after its file, as AUTOMATIC1111 does.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError

DIFFUSERS_NAME = "learned_embeds.safetensors"
A1111_TOKEN_ID = 265  # the id A1111 writes for "*"; it is not used when loading


@dataclass
class Embedding:
    token: str
    vectors: Any  # torch.Tensor (num_vectors, dim), float32
    source: Path


def save_diffusers(path: Path, token: str, vectors, metadata: dict[str, str]) -> Path:
    """Write {token: vectors} atomically; metadata values are strings (the safetensors header)."""
    from safetensors.torch import save_file

    from genai_cli.files import temp_path

    tmp = temp_path(path)
    try:
        save_file({token: vectors.detach().float().cpu().contiguous()}, str(tmp), metadata=metadata)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def save_a1111(path: Path, token: str, vectors, step: int, base_model: str) -> Path:
    import torch

    from genai_cli.files import temp_path

    data = {
        "string_to_token": {"*": A1111_TOKEN_ID},
        "string_to_param": {"*": vectors.detach().float().cpu().clone()},
        "name": token,
        "step": step,
        "sd_checkpoint": None,
        "sd_checkpoint_name": base_model,
    }
    tmp = temp_path(path)
    try:
        torch.save(data, str(tmp))
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read(path: Path) -> Embedding:
    """One embedding file (either layout) -> Embedding; a clear UsageError for anything else."""
    import torch

    path = Path(path).expanduser()
    from genai_cli.files import require_regular_file

    if not path.exists():
        raise UsageError(f"--embedding {path}: no such file")
    require_regular_file(path, "--embedding")  # a FIFO would block the reader forever
    suffix = path.suffix.lower()
    try:
        if suffix == ".safetensors":
            from safetensors.torch import load_file

            data: Any = load_file(str(path))
        elif suffix in (".pt", ".bin"):
            data = torch.load(str(path), map_location="cpu", weights_only=True)  # no code runs
        else:
            raise UsageError(f"--embedding {path.name}: expected a .safetensors, .pt or .bin embedding file")
    except UsageError:
        raise
    except Exception as e:  # a damaged file, or a pickle that is more than tensors
        raise UsageError(f"--embedding {path.name}: cannot read it ({str(e).splitlines()[0][:160]})") from None
    if isinstance(data, dict) and "string_to_param" in data:  # AUTOMATIC1111
        params = data["string_to_param"]
        tensor = next(iter(params.values())) if isinstance(params, dict) and params else None
        token = str(data.get("name") or path.stem)
    elif isinstance(data, dict) and len(data) == 1:  # diffusers {token: tensor}, or kohya's {"emb_params": tensor}
        token, tensor = next(iter(data.items()))
        if token == "emb_params":
            token = path.stem
    else:
        raise UsageError(
            f"--embedding {path.name}: not a textual-inversion embedding",
            hint="expected {token: tensor} (diffusers) or AUTOMATIC1111's string_to_param layout",
        )
    if not isinstance(tensor, torch.Tensor) or tensor.ndim not in (1, 2) or not tensor.is_floating_point():
        raise UsageError(f"--embedding {path.name}: its vectors are not a float tensor of shape (n, dim)")
    vectors = tensor.float()[None] if tensor.ndim == 1 else tensor.float()
    if not torch.isfinite(vectors).all():
        raise UsageError(f"--embedding {path.name}: its vectors hold NaN or infinite values")
    return Embedding(token, vectors, path)


def word_taken(tokenizer, token: str) -> bool:
    """Whether `token` already means something to `tokenizer`: a vocabulary entry, or text that the
    tokenizer encodes to one existing id (CLIP stores `red` as `red</w>`, so `red` in the vocabulary
    test alone misses it, and a learned `red` would silently replace the colour)."""
    vocab = tokenizer.get_vocab()
    if token in vocab or f"{token}_1" in vocab:
        return True
    ids = tokenizer(token, add_special_tokens=False).input_ids
    return len(ids) == 1 and ids[0] != tokenizer.unk_token_id


def check_new_word(tokenizer, embedding: "Embedding") -> None:
    """A UsageError naming the token when the file's token is a word the model already has."""
    from genai_cli.errors import shorten

    if word_taken(tokenizer, embedding.token):
        raise UsageError(
            f"--embedding {embedding.source.name}: the model already has a token {shorten(embedding.token)}",
            hint="each embedding needs a new word (like <my-cat>); rename the file's token or drop the duplicate",
        )


def add_to_pipeline(pipe, embedding: Embedding) -> None:
    """Teach a loaded pipeline the file's token (diffusers' load_textual_inversion), after checking it."""
    name = embedding.source.name
    check_new_word(pipe.tokenizer, embedding)
    width = pipe.text_encoder.get_input_embeddings().weight.shape[-1]
    if embedding.vectors.shape[-1] != width:
        raise UsageError(
            f"--embedding {name}: its vectors are {embedding.vectors.shape[-1]} wide, this model's text encoder "
            f"takes {width}",
            hint="an embedding only works with the model family it was learned on",
        )
    pipe.load_textual_inversion({embedding.token: embedding.vectors}, token=embedding.token)
