"""Where a Stable Diffusion pipeline comes from, and loading it safely.

    toy                      the built-in toy-world model, shipped in the package (genai_cli/toyworld/data/pipeline)
    sd15, sd21, sd-turbo     aliases in configs/models.yaml (section `image:`) -> hub ids
    org/name                 a hub id: the local Hugging Face cache, the network only when allowed
    ./folder                 a local diffusers folder (model_index.json)
    ./model.safetensors      a single-file checkpoint (A1111 / civitai style)

Weights are loaded from safetensors only; trust_remote_code=False is passed to every loader, and a
folder that would need code of its own (a custom pipeline or component class, `auto_map`, .py files)
is refused before anything is loaded (`vet_folder`); pickled checkpoints (.ckpt, .bin, .pt) are refused.
Local folders and single files are loaded without a safety checker (a documented choice: they are the
user's own models); hub pipelines keep the one they ship.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from genai_cli import models
from genai_cli.errors import GenaiError, UsageError, shorten

TOY = "toy"
TOY_PIPELINE = models.builtin(TOY, "image")  # genai_cli/toyworld/data/pipeline: scripts/toyworld/ trains it
AUTO = "auto"  # the default image.model / invert.model: sd15 with a CUDA or MPS device, else the toy model
AUTO_ACCELERATED = "sd15"  # what `auto` means on a GPU (downloaded once when online, then from the cache)
# what `locate` fetches of a hub model: configs and tokenizer files (vetted, read for size limits)
HUB_CONFIG_PATTERNS = ["model_index.json", "*/*.json", "*/*.txt"]
# the weights `fetch_weights` adds once the precision is known: full precision, or diffusers' fp16 variant
HUB_WEIGHT_PATTERNS = ["*/diffusion_pytorch_model.safetensors", "*/model.safetensors"]
HUB_FP16_PATTERNS = ["*/diffusion_pytorch_model.fp16.safetensors", "*/model.fp16.safetensors"]
HUB_PATTERNS = HUB_CONFIG_PATTERNS + HUB_WEIGHT_PATTERNS  # a full-precision snapshot
FP16 = "fp16"  # the variant name diffusers and the hub use
PICKLED = (".ckpt", ".bin", ".pt", ".pth", ".pkl")
LDM_UNET = "model.diffusion_model."  # the U-Net's tensors in every original-layout (LDM) SD checkpoint
MAX_CONFIG_BYTES = (
    1024 * 1024
)  # a model folder's JSON configs (model_index.json, */config.json ...): real ones are < 10 KB
MAX_TRAIN_TIMESTEPS = 100_000  # scheduler_config.json num_train_timesteps / trained_betas (Stable Diffusion: 1000)
# libraries a model_index.json entry may name: anything else is a module of the folder's own (custom code)
LIBRARIES = ("diffusers", "transformers")


@dataclass(frozen=True)
class ModelSource:
    name: str  # what the user typed (alias, id or path)
    path: Path  # the local folder or file
    kind: str  # "folder" | "single-file"
    hub_id: str | None = None  # when it came from the hub
    variant: str | None = None  # "fp16" when fetch_weights chose the fp16 weight files

    @property
    def label(self) -> str:
        """The name written in the `Model:` field of an image's parameters."""
        if self.hub_id or self.name == TOY:
            return self.name
        return self.path.stem if self.kind == "single-file" else self.path.name


def locate(name: str) -> ModelSource:
    """Find the model named `name` on disk (downloading a hub model only when allowed)."""
    from genai_cli import models

    name = (name or "").strip()
    if not name:
        raise UsageError(
            "empty --model", hint="name an alias (" + ", ".join(models.aliases("image")) + "), a hub id or a path"
        )
    if name == AUTO:  # callers that say which model auto chose resolve it first (resolve_auto)
        name = choose_auto()[0]
    if name == TOY:
        return toy()
    path = models.local(name, "image")  # an alias or path that exists
    if path is not None:
        return _local(name, path)
    known = ", ".join(sorted(models.aliases("image")))
    target = models.hub_id(
        name,
        "image",
        hint=f"aliases: {known}; or a local diffusers folder, or a .safetensors checkpoint; or the built-in model: toy",
    )
    shown = name if name == target else f"{name} ({target})"
    folder = _hub_snapshot(target, HUB_CONFIG_PATTERNS, name)  # the weights come with fetch_weights
    if not (folder / "model_index.json").is_file():
        raise GenaiError(f"hub model {shown} is not a diffusers pipeline (no model_index.json)")
    vet_folder(folder)
    return ModelSource(name, folder, "folder", hub_id=target)


def _hub_snapshot(target: str, patterns: list[str], label: str, revision: str | None = None) -> Path:
    """models.hub_snapshot, its error carrying genai's advice for an image model; with a revision
    (fetch_weights), the cached snapshot is known to lack the files, so it goes to the network."""
    from genai_cli import models

    try:
        pinned = {"revision": revision, "cache_first": False} if revision else {}
        return models.hub_snapshot(target, patterns, label=label, **pinned)
    except GenaiError as e:
        raise GenaiError(
            e.message,
            hint=f"get it with `hf download {target}` on a machine with network"
            + (" (or unset HF_HUB_OFFLINE)" if models.offline() else "")
            + "; offline, "
            "try the built-in model with --model toy (32x32 coloured shapes, no download), or pass a local diffusers "
            "folder or .safetensors file with --model",
            exit_code=e.exit_code,
        ) from None


def _weight_components(folder: Path) -> list[Path]:
    """The component folders of a diffusers pipeline that hold weights (those with a model config.json)."""
    index = read_config_json(folder / "model_index.json", "model_index")
    return [
        folder / c
        for c, entry in index.items()
        if not c.startswith("_")
        and isinstance(entry, list)
        and entry[:1] != [None]
        and (folder / c / "config.json").is_file()
    ]


def _has_weights(folder: Path, variant: str | None) -> bool:
    """Whether every weight component of `folder` has its safetensors file (of `variant`, or full precision)."""
    tail = f".{variant}.safetensors" if variant else ".safetensors"
    names = [f"diffusion_pytorch_model{tail}", f"model{tail}"]
    parts = _weight_components(folder)
    return bool(parts) and all(any((p / n).is_file() for n in names) for p in parts)


def _is_fp16(dtype: Any) -> bool:
    return str(dtype) in ("torch.float16", "float16")


def fetch_weights(source: ModelSource, dtype: Any) -> ModelSource:
    """`source` with its weights on disk and the variant to load, once the run's precision is known.

    In float16 the fp16 variant files (`*.fp16.safetensors`, diffusers' convention) are used when every
    weight component has one, else the full-precision files (no error). A hub model's weights already in
    the cache are used as they are (full-precision ones too, offline); otherwise the fp16 variant is
    downloaded when running in float16 and the repository has it, else the full-precision files.
    The snapshot's revision is pinned, so the configs vet_folder checked are the ones loaded."""
    if source.kind != "folder":
        return source
    fp16 = _is_fp16(dtype)
    if not source.hub_id:
        return replace(source, variant=FP16 if fp16 and _has_weights(source.path, FP16) else None)
    if fp16 and _has_weights(source.path, FP16):
        return replace(source, variant=FP16)
    if _has_weights(source.path, None):
        return replace(source, variant=None)
    from genai_cli import models

    revision = source.path.name  # a snapshot folder is named by its commit
    if fp16 and not models.offline():
        folder = _hub_snapshot(source.hub_id, HUB_CONFIG_PATTERNS + HUB_FP16_PATTERNS, source.name, revision)
        if _has_weights(folder, FP16):
            return replace(source, path=folder, variant=FP16)
    folder = _hub_snapshot(source.hub_id, HUB_PATTERNS, source.name, revision)
    if folder != source.path:
        vet_folder(folder)
    return replace(source, path=folder, variant=None)


def toy() -> ModelSource:
    """The built-in toy-world pipeline (a diffusers folder inside the package)."""
    if not (TOY_PIPELINE / "model_index.json").is_file():
        raise GenaiError(
            f"the built-in toy model is missing from this installation ({TOY_PIPELINE})",
            hint="reinstall genai (pip install -e . from the repository ships it as package data)",
        )
    return ModelSource(TOY, TOY_PIPELINE, "folder")


def accelerator(device: str = "auto") -> str | None:
    """The accelerator a run on `device` (runtime.device) would use: "cuda", "mps", or None (the cpu)."""
    device = (device or "auto").strip().lower()
    if device.startswith(("cuda", "mps")):
        return device.split(":")[0]
    if device != "auto":
        return None
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    return "mps" if mps is not None and mps.is_available() else None


def choose_auto(device: str = "auto") -> tuple[str, str]:
    """-> (the model `auto` stands for on `device`, one line saying which, why, and how to choose another)."""
    found = accelerator(device)
    if found:
        return AUTO_ACCELERATED, (
            f"model auto: {AUTO_ACCELERATED} (a {found} device is here; downloaded once, then "
            "used from the cache); --model toy for the built-in toy model"
        )
    why = "no CUDA or MPS device here" if (device or "auto").strip().lower() == "auto" else f"device {device}"
    return TOY, (
        f"model auto: toy, the built-in 32x32 toy-world model ({why}); "
        f"--model {AUTO_ACCELERATED} runs Stable Diffusion 1.5 on a CPU too, slowly"
    )


def resolve_auto(name: str, device: str = "auto", say: Any = None) -> str:
    """`name`, or the model `auto` stands for; `say` (console.info) gets the line saying why."""
    if (name or "").strip() != AUTO:
        return name
    chosen, line = choose_auto(device)
    if say is not None:
        say(line)
    return chosen


def is_toy_tokenizer(tokenizer: Any) -> bool:
    """A toy-world vocabulary (the built-in model or a copy of it): every word is one token, so
    words it does not know can be listed (genai_cli.toyworld.vocab)."""
    return len(tokenizer.get_vocab()) < 1000 and "background</w>" in tokenizer.get_vocab()


def _local(name: str, path: Path) -> ModelSource:
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise UsageError(
                f"{path} is not a diffusers pipeline folder (no model_index.json)",
                hint="pass a folder written by save_pretrained, or a .safetensors checkpoint file",
            )
        vet_folder(path)
        return ModelSource(name, path, "folder")
    from genai_cli.files import require_regular_file

    require_regular_file(path, "model")
    if path.suffix.lower() in PICKLED:
        raise UsageError(
            f"{path.name}: pickled checkpoints are refused (loading them can run arbitrary code)",
            hint="use the .safetensors version of this model",
        )
    if path.suffix.lower() != ".safetensors":
        raise UsageError(f"{path}: not a model (expected a diffusers folder or a .safetensors file)")
    if not any(k.startswith(LDM_UNET) for k in _tensor_names(path)):
        raise UsageError(
            f"{path.name} is not a Stable Diffusion checkpoint in the original (LDM / AUTOMATIC1111) layout: "
            f"it has no {LDM_UNET}* tensors",
            hint="pass a Stable Diffusion 1.x/2.x single-file checkpoint, or a diffusers folder (model_index.json)",
        )
    return ModelSource(name, path, "single-file")


def read_config_json(path: Path, what: str = "config") -> dict[str, Any]:
    """A model folder's JSON config file as a dict, or a UsageError naming the file: at most
    MAX_CONFIG_BYTES, UTF-8 JSON without NaN or absurd nesting, an object at the top."""
    from genai_cli.files import require_regular_file

    require_regular_file(path, what)

    def no_nan(name: str) -> float:  # diffusers itself writes -Infinity (DPMSolver's lambda_min_clipped); NaN never
        if name == "NaN":
            raise ValueError("NaN is not a number here")
        return float(name)

    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError(f"over {MAX_CONFIG_BYTES // 1024} KB")
        data = json.loads(path.read_bytes().decode("utf-8"), parse_constant=no_nan)
    except RecursionError:
        raise UsageError(f"{path}: a bad {what} JSON (nested too deeply)") from None
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        reason = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise UsageError(f"{path}: a bad {what} JSON ({reason})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: a bad {what} JSON (expected an object, got {type(data).__name__})")
    return data


def check_scheduler_config(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """The fields of a scheduler config that drive memory and arithmetic, checked (a UsageError naming `path`)."""
    import math

    def bad(reason: str):
        return UsageError(f"{path}: a bad scheduler JSON ({reason})")

    name = config.get("_class_name", "DDPMScheduler")
    if not isinstance(name, str) or not name.isidentifier() or not name.endswith("Scheduler"):
        raise bad(f"_class_name {shorten(name)} is not a diffusers scheduler class")
    T = config.get("num_train_timesteps", 1000)
    if isinstance(T, bool) or not isinstance(T, int) or not 2 <= T <= MAX_TRAIN_TIMESTEPS:
        raise bad(f"num_train_timesteps must be a whole number in 2..{MAX_TRAIN_TIMESTEPS}, got {shorten(T)}")
    for key in ("beta_start", "beta_end"):
        v = config.get(key, 0.001)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not (math.isfinite(v) and 0 < v < 1):
            raise bad(f"{key} must be a number in (0, 1), got {shorten(v)}")
    betas = config.get("trained_betas")
    if betas is not None and (
        not isinstance(betas, list)
        or not 2 <= len(betas) <= MAX_TRAIN_TIMESTEPS
        or not all(isinstance(b, (int, float)) and not isinstance(b, bool) and 0 < b < 1 for b in betas)
    ):
        raise bad(f"trained_betas must be a list of 2..{MAX_TRAIN_TIMESTEPS} numbers in (0, 1)")
    schedule = config.get("beta_schedule", "linear")
    if not isinstance(schedule, str) or len(schedule) > 64:
        raise bad(f"beta_schedule {shorten(schedule)} is not a schedule name")
    return config


def vet_folder(path: Path) -> None:
    """Refuse a diffusers folder that would run code of its own, before anything in it is loaded.

    diffusers and transformers import a folder's .py files for a custom pipeline or component
    (`["my_module", "MyUNet"]` in model_index.json, `auto_map` in a config); genai never does, and
    says so up front (exit 2, naming the file) rather than failing half-way or asking on stdin.
    Every JSON config is parsed strictly; the scheduler's fields are range-checked."""
    path = Path(path)

    def refuse(file: Path, reason: str):
        return UsageError(
            f"{file}: this model needs remote code ({reason}); genai never runs code from a model folder",
            hint=(
                "use a standard Stable Diffusion pipeline folder "
                "(diffusers / transformers classes, safetensors weights)"
            ),
        )

    for py in sorted([*path.glob("*.py"), *path.glob("*/*.py")]):
        raise refuse(py, "a Python file that a custom pipeline or component would import")
    index_file = path / "model_index.json"
    index = read_config_json(index_file, "model_index")
    cls = index.get("_class_name")
    if not (isinstance(cls, str) and cls.isidentifier()):
        raise refuse(index_file, f"_class_name {shorten(cls)} is not a diffusers pipeline class")
    if "auto_map" in index or "custom_pipeline" in index:
        raise refuse(index_file, "it carries auto_map / custom_pipeline")
    for component, entry in index.items():
        if component.startswith("_") or not isinstance(entry, list):
            continue
        library, class_name = (entry + [None, None])[:2]
        if library is None and class_name is None:
            continue
        if not (isinstance(library, str) and isinstance(class_name, str) and class_name.isidentifier()):
            raise refuse(index_file, f"component {shorten(component)} names {shorten(entry)}")
        if library not in LIBRARIES and not _diffusers_pipeline_module(library):
            raise refuse(
                index_file,
                f"component {shorten(component)} comes from module {shorten(library)}, not diffusers or transformers",
            )
        folder = path / component
        for name in ("config.json", "tokenizer_config.json", "preprocessor_config.json"):
            if (folder / name).exists():
                if "auto_map" in read_config_json(folder / name):
                    raise refuse(folder / name, "it carries auto_map, a class to import from code")
        if (folder / "scheduler_config.json").exists():
            file = folder / "scheduler_config.json"
            check_scheduler_config(file, read_config_json(file, "scheduler"))


def _diffusers_pipeline_module(name: str) -> bool:
    """Older model_index.json files name diffusers' own pipeline modules
    (`["stable_diffusion", "StableDiffusionSafetyChecker"]`)."""
    if not name.isidentifier():
        return False
    from importlib.util import find_spec

    try:
        return find_spec(f"diffusers.pipelines.{name}") is not None
    except (ImportError, ValueError):
        return False


def load_tokenizer(source: ModelSource):
    """The tokenizer of a folder pipeline alone (to check words before the weights load); None for a single file."""
    if source.kind != "folder":
        return None
    quiet_libraries()
    import transformers

    index = read_config_json(source.path / "model_index.json", "model_index")
    library, cls = (index.get("tokenizer") or [None, None])[:2]
    if library != "transformers" or not isinstance(cls, str) or not cls.startswith("CLIPTokenizer"):
        return None  # diffusers loads it with the pipeline; words are checked then
    try:
        return getattr(transformers, cls).from_pretrained(
            str(source.path / "tokenizer"), local_files_only=True, trust_remote_code=False
        )
    except (OSError, ValueError, AttributeError) as e:
        raise GenaiError(
            f"cannot load the tokenizer in {source.path / 'tokenizer'}: {str(e).splitlines()[0][:200]}"
        ) from None


def _tensor_names(path: Path) -> list[str]:
    """The tensor names in a .safetensors file, read from its header (no weights)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            return list(f.keys())
    except Exception as e:  # safetensors raises its own SafetensorError
        raise UsageError(f"{path.name}: not a valid safetensors file ({str(e).splitlines()[0][:200]})") from None


def _base_model(path: Path) -> str | None:
    """The hub id of the base pipeline whose configs diffusers would fetch for this checkpoint (header only)."""
    try:
        from types import SimpleNamespace

        from diffusers.loaders.single_file_utils import fetch_diffusers_config
        from safetensors import safe_open

        with safe_open(str(path), framework="numpy") as f:  # diffusers reads only names and shapes here
            shapes = {k: SimpleNamespace(shape=tuple(f.get_slice(k).get_shape())) for k in f.keys()}
        return fetch_diffusers_config(shapes)["pretrained_model_name_or_path"]
    except Exception:  # a diffusers internal: if it changes, the message just names no model
        return None


def _offline_miss(e: BaseException) -> bool:
    """Whether `e` (or what caused it) is the hub refusing a look-up because we are offline / uncached."""
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
    except ImportError:  # an older huggingface_hub: the general message then
        return False
    seen = 0
    while e is not None and seen < 10:
        if isinstance(e, (LocalEntryNotFoundError, OfflineModeIsEnabled)):
            return True
        e, seen = e.__cause__ or e.__context__, seen + 1
    return False


def size_limits(source: ModelSource) -> tuple[int, int, int] | None:
    """(native, smallest, largest) image side in pixels, read from a folder's configs, no weights.

    native = U-Net sample_size x VAE scale factor; smallest = one latent per U-Net downsampling
    (at least 8 pixels per latent); largest = 4 x native.
    """
    if source.kind != "folder":
        return None
    try:
        unet = json.loads((source.path / "unet" / "config.json").read_text())
        vae = json.loads((source.path / "vae" / "config.json").read_text())
    except (OSError, ValueError):
        return None
    vae_scale = 2 ** (len(vae.get("block_out_channels", [0] * 4)) - 1)
    sample = unet.get("sample_size", 64)
    sample = sample[0] if isinstance(sample, (list, tuple)) else sample
    native = int(sample) * vae_scale
    down = 2 ** (len(unet.get("block_out_channels", [0] * 4)) - 1)
    return native, max(8, vae_scale * down), 4 * native


def pipeline_size_limits(pipe: Any) -> tuple[int, int, int]:
    """The same as size_limits, from a loaded pipeline."""
    sample = pipe.unet.config.sample_size
    sample = sample[0] if isinstance(sample, (list, tuple)) else sample
    native = int(sample) * pipe.vae_scale_factor
    down = 2 ** (len(pipe.unet.config.block_out_channels) - 1)
    return native, max(8, pipe.vae_scale_factor * down), 4 * native


def quiet_libraries() -> None:
    """diffusers' and transformers' own progress bars and advice go nowhere: we report on stderr."""
    import transformers

    transformers.utils.logging.set_verbosity_error()  # before diffusers imports transformers' models
    import diffusers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()


def _dtype_kwarg(dtype: Any) -> dict[str, Any]:
    """diffusers renamed torch_dtype to dtype (0.36); use the name this version knows."""
    from diffusers.utils import deprecation_utils

    return {"dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype": dtype}


def load_pipeline(source: ModelSource, dtype: Any, single_file_config: str | None = None, tokenizer: Any = None):
    """A StableDiffusionPipeline (any SD 1.x / 2.x / turbo) in `dtype`, on the CPU (with `tokenizer`, when
    one was loaded already by load_tokenizer)."""
    quiet_libraries()
    from genai_cli import models
    from genai_cli.image.sdxl import pipeline_class

    StableDiffusionPipeline = pipeline_class(source)  # or StableDiffusionXLPipeline (genai_cli/image/sdxl.py)

    if source.kind == "folder":
        source = fetch_weights(source, dtype)  # the fp16 variant in float16 when there is one
        kwargs: dict[str, Any] = {} if source.hub_id else {"safety_checker": None, "requires_safety_checker": False}
        if source.variant:
            kwargs["variant"] = source.variant
        if tokenizer is not None:
            kwargs["tokenizer"] = tokenizer
        from safetensors import SafetensorError

        try:
            return StableDiffusionPipeline.from_pretrained(
                str(source.path),
                **_dtype_kwarg(dtype),
                use_safetensors=True,
                local_files_only=True,
                trust_remote_code=False,
                **kwargs,
            )
        except (OSError, ValueError, EnvironmentError) as e:  # missing or damaged weights: the folder is bad input
            raise UsageError(
                f"cannot load the pipeline in {source.path}: {str(e).splitlines()[0]}",
                hint="the folder needs safetensors weights for every component (unet, vae, text_encoder)",
            ) from None
        except SafetensorError as e:  # a truncated or garbage weight file
            raise UsageError(
                f"{source.path}: a damaged safetensors weight file ({str(e).splitlines()[0][:120]})",
                hint="download the model again, or check the folder's *.safetensors files",
            ) from None
    # a single file: the pipeline's configs come from `single_file_config` (a folder or hub id), else
    # from the Hugging Face cache of the base model diffusers infers from the checkpoint's keys
    config = None
    if single_file_config:
        cfg = models.aliases("image").get(single_file_config, single_file_config)
        config = (
            cfg if Path(cfg).expanduser().exists() else str(models.hub_snapshot(cfg, ["*.json", "*/*.json", "*/*.txt"]))
        )
        vet_folder(Path(config).expanduser())
    try:
        return StableDiffusionPipeline.from_single_file(
            str(source.path),
            config=config,
            **_dtype_kwarg(dtype),
            local_files_only=models.offline() or config is not None,
            trust_remote_code=False,
            safety_checker=None,
            requires_safety_checker=False,
        )
    except Exception as e:  # diffusers raises many types here; one case has its own advice
        if config is None and _offline_miss(e):
            base = _base_model(source.path)
            fetch = f"; or, with network, fetch them once: `hf download {base} --include '*.json' '*.txt'`"
            raise GenaiError(
                f"cannot load the single-file checkpoint {source.path.name} offline: diffusers builds the pipeline "
                f"from the configs of the base model it recognises ({base or 'unknown'}), and they are not in "
                "your Hugging Face cache",
                hint="pass --single-file-config (config: image.single_file_config) a diffusers folder of the same "
                "architecture, or a cached alias / hub id such as sd15" + (fetch if base else ""),
            ) from None
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:300]
        raise GenaiError(
            f"cannot load the single-file checkpoint {source.path.name}: {first}",
            hint="it must be a Stable Diffusion 1.x/2.x checkpoint; offline, diffusers also needs the configs of its "
            "base model: set image.single_file_config (or --single-file-config) to a diffusers folder or a cached "
            "hub id such as sd15",
        ) from None
