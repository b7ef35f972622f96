"""The configuration schema: one pydantic model per section, unknown keys rejected.

configs/default.yaml holds the same defaults with a comment per key; a test checks
that the two agree. Add a section here and in default.yaml together.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from genai_cli.conv import limits as conv_limits


class Section(BaseModel):
    # strict: `topn: true` is not 1 and `steps: "5"` is not 5 (a YAML bool or string is never a number);
    # allow_inf_nan=False: `.nan` / `.inf` are refused in every float field (nan would turn guidance off).
    model_config = ConfigDict(extra="forbid", validate_assignment=True, strict=True, allow_inf_nan=False)


class RuntimeConfig(Section):
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    precision: Literal["auto", "fp32", "fp16", "bf16"] = "auto"
    seed: int | None = Field(default=None, ge=0, lt=2**32)


class EmbedTrainConfig(Section):
    vector_size: int = Field(default=100, ge=1, le=10000)
    window: int = Field(default=5, ge=1, le=100)
    min_count: int = Field(default=5, ge=1, le=1_000_000_000)
    epochs: int = Field(default=5, ge=1, le=1000)
    sg: bool = False
    negative: int = Field(default=5, ge=0, le=100)
    workers: int = Field(default=2, ge=1, le=256)
    seed: int | None = Field(default=None, ge=0, le=2**32 - 1)
    format: Literal["word2vec-binary", "word2vec", "gensim"] = "word2vec-binary"


class EmbedConfig(Section):
    vectors: str = "glove-6b-50d"
    format: Literal["auto", "gensim", "word2vec", "word2vec-binary", "glove", "fasttext"] = "auto"
    topn: int = Field(default=10, ge=1, le=10000)
    method: Literal["add", "mul"] = "add"
    restrict: int = Field(default=300000, ge=1, le=10_000_000)
    plot_dir: str = "."
    train: EmbedTrainConfig = EmbedTrainConfig()


class ConvConfig(Section):
    kernel: str = "vertical-edges"
    stride: int = Field(default=1, ge=1, le=conv_limits.MAX_STRIDE)
    padding: int = Field(default=0, ge=0, le=conv_limits.MAX_PADDING)
    pool: Literal["max", "avg", "none"] = "max"
    pool_size: int = Field(default=2, ge=1, le=conv_limits.MAX_POOL_SIZE)
    channels: Literal["gray", "rgb"] = "gray"
    plot_dir: str = "."
    dpi: int = Field(default=110, ge=30, le=600)
    model: str = "digits-cnn"
    layer: int = Field(default=1, ge=1, le=conv_limits.MAX_CNN_LAYERS)


class DiffuseConfig(Section):
    schedule: str = "toy"
    steps: str | None = None
    n: int = Field(default=6, ge=2, le=64)
    size: int = Field(default=256, ge=8, le=4096)
    seed: int = Field(default=0, ge=0, lt=2**32)
    out: str = "."


class ImageConfig(Section):
    model: str = "auto"
    negative: str = ""
    steps: int = Field(default=25, ge=1, le=1000)
    guidance: float = Field(default=7.5, ge=0)
    width: int | None = Field(default=None, ge=8, le=8192, multiple_of=8)  # the model's own range is checked later
    height: int | None = Field(default=None, ge=8, le=8192, multiple_of=8)
    n: int = Field(default=1, ge=1, le=10_000)  # image.settings.MAX_N
    seed: int | None = Field(default=None, ge=0, lt=2**32)
    scheduler: str = "default"
    out: str = "."
    low_memory: bool = False
    show_steps: bool = False
    step_frames: int = Field(default=6, ge=2, le=64)
    batch_size: int = Field(default=1, ge=1, le=64)  # image.settings.MAX_BATCH_SIZE
    single_file_config: str | None = None
    embeddings: list[str] = []
    diffuse: DiffuseConfig = DiffuseConfig()


class TextNextConfig(Section):
    top_k: int = Field(default=10, ge=1, le=1000)
    steps: int = Field(default=1, ge=1, le=1000)


class TextAttentionConfig(Section):
    layer: int = Field(default=-1, ge=-1000, le=1000)
    head: str = "mean"
    max_tokens: int = Field(default=64, ge=2, le=512)
    plot_dir: str = "."


class TextConfig(Section):
    model: str = "smollm2-135m-instruct"
    engine: Literal["auto", "llama.cpp", "transformers"] = "auto"
    threads: int | None = Field(default=None, ge=1, le=1024)
    speedup: Literal["none", "int8"] = "none"
    max_tokens: int = Field(default=256, ge=1, le=100_000)
    temperature: float = Field(default=0.7, ge=0, le=100)
    top_p: float = Field(default=0.9, gt=0, le=1)
    top_k: int = Field(default=50, ge=0)
    repetition_penalty: float = Field(default=1.1, gt=0, le=10)
    greedy: bool = False
    stop: list[str] = []
    system: str | None = None
    raw: bool = False
    truncate: bool = False
    next: TextNextConfig = TextNextConfig()
    attention: TextAttentionConfig = TextAttentionConfig()


class ToyConfig(Section):
    n: int = Field(default=5, ge=1, le=100000)
    out: str = "."
    size: int = Field(default=32, ge=8, le=1024)


class InvertConfig(Section):
    model: str = "auto"
    images: str | None = None
    token: str | None = None
    init_word: str | None = None
    out: str | None = None
    property: Literal["object", "style"] = "object"
    # the limits are genai_cli/invert/settings.py's MAX_* (tests/hostile/test_hostile_invert.py keeps them equal)
    num_vectors: int = Field(default=1, ge=1, le=64)
    steps: int = Field(default=3000, ge=1, le=100_000)
    lr: float = Field(default=5e-4, gt=0, le=10)
    batch_size: int = Field(default=1, ge=1, le=64)
    grad_accum: int = Field(default=4, ge=1, le=256)
    resolution: int | None = Field(default=None, ge=8, le=2048, multiple_of=8)  # and within the model's range
    repeats: int = Field(default=100, ge=1, le=1000)
    flip: float = Field(default=0.5, ge=0, le=1)
    seed: int | None = Field(default=None, ge=0, lt=2**32)  # null: runtime.seed, else random (recorded)
    format: Literal["diffusers", "a1111"] = "diffusers"
    save_every: int = Field(default=500, ge=0, le=100_000)
    checkpoint_every: int = Field(default=500, ge=0, le=100_000)
    validate_every: int = Field(default=0, ge=0, le=100_000)
    validation_prompt: str | None = None
    validation_n: int = Field(default=4, ge=1, le=64)
    validation_steps: int = Field(default=25, ge=1, le=1000)
    gradient_checkpointing: bool = False


class GenaiConfig(Section):
    runtime: RuntimeConfig = RuntimeConfig()
    embed: EmbedConfig = EmbedConfig()
    conv: ConvConfig = ConvConfig()
    image: ImageConfig = ImageConfig()
    text: TextConfig = TextConfig()
    toy: ToyConfig = ToyConfig()
    invert: InvertConfig = InvertConfig()
