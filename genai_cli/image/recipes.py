"""The recipe of an image made by genai, AUTOMATIC1111, ComfyUI, Fooocus, InvokeAI or NovelAI.

Each tool stores its settings in its own way (PNG text chunks; EXIF `UserComment` in JPEG and WEBP):

  genai          `parameters` (A1111 text) + `genai` (its resolved settings as JSON); genai's figures (attention,
                 anatomy, conv, diffuse, embed plots) only `genai`, with the `command` that drew them
  AUTOMATIC1111  `parameters`: prompt, `Negative prompt: ...`, `Steps: 20, Sampler: Euler a, ...` (PNG or EXIF)
  Fooocus        `parameters` as JSON (+ `fooocus_scheme`), or A1111 text with `Version: Fooocus ...`
  ComfyUI        `prompt` (the executed node graph, JSON) + `workflow` (the editor's graph, JSON)
  InvokeAI       `invokeai_metadata` (JSON), `sd-metadata` (JSON, 2.x) or `Dream` (1.x command line)
  NovelAI        `Comment` (JSON) + `Description` (the prompt) + `Source` (the model)

genai and A1111 text is read by genai's own parser (pngmeta.parse_parameters, which keeps quoted
values whole); the JSON formats by the `sd-parsers` library (MIT; plain parsing, it runs nothing).
Every JSON text is checked for size and nesting (MAX_JSON_CHARS, MAX_JSON_DEPTH) before any parser
sees it. `normalise` gives one shape for all:

  {"generator", "prompt", "negative", "seed", "steps", "guidance", "sampler", "scheduler",
   "width", "height", "model", "extras": {the generator-specific rest}}
"""

from __future__ import annotations

import json
import re
from typing import Any

from genai_cli.errors import UsageError

MAX_JSON_CHARS = 1024 * 1024  # one metadata JSON text (real ComfyUI workflows: 5-100 KB)
MAX_JSON_DEPTH = 32  # nesting of [ and { (real metadata: under 10)
MAX_GRAPH_NODES = 2000  # nodes in a ComfyUI `prompt` graph (real graphs: tens to a few hundred)

FIELDS = ("prompt", "negative", "seed", "steps", "guidance", "sampler", "scheduler", "width", "height", "model")
# the chunks each generator's recipe is read from (hidden in `genai info` text output unless --raw)
SOURCES = {
    "genai": ("parameters", "genai", "Software"),  # Software: genai marks its figures
    "AUTOMATIC1111": ("parameters",),
    "Fooocus": ("parameters", "fooocus_scheme"),
    "ComfyUI": ("prompt", "workflow"),
    "InvokeAI": ("invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream"),
    "NovelAI": ("Comment", "Description", "Source", "Software", "Title", "Generation time"),
}


# --- guards ------------------------------------------------------------------------------


def check_json(text: str, where: str, max_chars: int = MAX_JSON_CHARS) -> None:
    """Refuse a JSON text over MAX_JSON_CHARS or nested deeper than MAX_JSON_DEPTH, before parsing it.

    Linear in the text: escapes, then strings are dropped, and the brackets left are counted."""
    if len(text) > max_chars:
        raise UsageError(f"{where}: metadata JSON too large ({len(text):,} characters; the limit is {max_chars:,})")
    bare = re.sub(r'"[^"]*"', "", re.sub(r"\\.", "", text, flags=re.S))
    depth = 0
    for c in re.sub(r"[^\[\]{}]+", "", bare):
        depth += 1 if c in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            raise UsageError(f"{where}: metadata JSON nested too deep (over {MAX_JSON_DEPTH} levels)")


def load_json(text: str, where: str) -> Any:
    """`json.loads` after check_json; None when the text is not JSON."""
    check_json(text, where)
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


# --- reading ------------------------------------------------------------------------------


def from_text_chunks(text: dict[str, str], where: str) -> tuple[dict[str, Any] | None, str | None]:
    """(recipe, problem) from an image's text metadata (PNG chunks, or {"parameters": UserComment}).

    recipe is None when there is none; problem says why a recipe that is there could not be read."""
    for key in ("genai", "prompt", "workflow", "invokeai_metadata", "sd-metadata", "Comment"):
        if key in text and text[key].lstrip()[:1] in ("{", "["):
            check_json(text[key], f"{where} ({key} chunk)")
    if "genai" in text:
        genai = load_json(text["genai"], f"{where} (genai chunk)")
        if isinstance(genai, dict) and isinstance(genai.get("command"), str):  # a figure (imagine's has no command)
            return _genai_figure(genai), None
        if isinstance(genai, dict) and isinstance(genai.get("prompt"), str):
            return _from_genai(genai, text.get("parameters")), None
    params = text.get("parameters")
    if params is not None and params.lstrip().startswith("{"):
        figure = load_json(params, f"{where} (parameters chunk)") if text.get("Software") == "genai" else None
        if isinstance(figure, dict) and isinstance(figure.get("command"), str):  # conv figures of genai <= 0.1.0
            return _genai_figure(figure), None
        return _with_parser("Fooocus", {"parameters": params}, where)
    if params is not None:
        return _from_a1111(params), None
    if "prompt" in text and text["prompt"].lstrip().startswith("{"):
        return _comfyui(text, where)
    if any(k in text for k in ("invokeai_metadata", "sd-metadata", "Dream")):
        return _with_parser("InvokeAI", text, where)
    if "Comment" in text and text["Comment"].lstrip().startswith("{"):
        return _with_parser("NovelAI", {"Description": "", "Source": "", **text}, where)
    return None, None


def user_comment(exif_value: Any) -> str | None:
    """The text of an EXIF UserComment (8-byte charset prefix, then the text; A1111 writes UTF-16)."""
    if isinstance(exif_value, str):
        return exif_value
    if not isinstance(exif_value, (bytes, bytearray)) or len(exif_value) <= 8:
        return None
    prefix, body = bytes(exif_value[:8]), bytes(exif_value[8:])
    if prefix.startswith(b"UNICODE"):
        # big-endian is the EXIF default; a little-endian writer leaves the zero byte second
        le = len(body) > 1 and body[0] != 0 and body[1] == 0
        return body.decode("utf-16-le" if le else "utf-16-be", errors="replace")
    return body.rstrip(b"\0").decode("utf-8", errors="replace")


def _from_genai(genai: dict[str, Any], parameters: str | None) -> dict[str, Any]:
    from genai_cli.image import pngmeta

    a1111 = pngmeta.parse_parameters(parameters) if parameters else {}
    known = {"prompt", "negative", "seed", "steps", "guidance", "sampler", "scheduler", "width", "height", "model"}
    return {
        "generator": "genai",
        "prompt": genai.get("prompt"),
        "negative": genai.get("negative") or "",
        "seed": _int(genai.get("seed")),
        "steps": _int(genai.get("steps")),
        "guidance": _float(genai.get("guidance")),
        "sampler": genai.get("sampler") or a1111.get("Sampler"),
        "scheduler": genai.get("scheduler"),
        "width": _int(genai.get("width")),
        "height": _int(genai.get("height")),
        "model": a1111.get("Model") or genai.get("model"),
        "extras": {k: v for k, v in genai.items() if k not in known},
    }


def _genai_figure(settings: dict[str, Any]) -> dict[str, Any]:
    """A figure genai drew (attention, anatomy, conv, diffuse, embed plot / contextual): its settings, and no
    prompt to draw again (an anatomy diagram's prompt stays in extras)."""
    command = settings["command"].removeprefix("genai ").strip()
    model = settings.get("model")
    return {
        "generator": "genai",
        **{k: None for k in FIELDS},
        "negative": "",
        "seed": _int(settings.get("seed")),
        "model": model if isinstance(model, str) else None,
        "extras": {**{k: v for k, v in settings.items() if k not in ("seed", "model")}, "command": command},
    }


def figure_command(recipe: dict[str, Any]) -> str | None:
    """The genai command that drew this figure (`attention`, `conv apply` ...); None for an image with a prompt."""
    command = (recipe.get("extras") or {}).get("command")
    return command if recipe["generator"] == "genai" and recipe["prompt"] is None and isinstance(command, str) else None


def _from_a1111(text: str) -> dict[str, Any]:
    from genai_cli.image import pngmeta

    p = pngmeta.parse_parameters(text)
    rest = {k: v for k, v in p.items() if k not in ("prompt", "negative_prompt")}
    width, height = _size(rest.pop("Size", None))
    version = str(rest.get("Version", ""))
    generator = (
        "genai" if version.startswith("genai") else "Fooocus" if version.startswith("Fooocus") else "AUTOMATIC1111"
    )
    return {
        "generator": generator,
        "prompt": p["prompt"],
        "negative": p["negative_prompt"],
        "seed": _int(rest.pop("Seed", None)),
        "steps": _int(rest.pop("Steps", None)),
        "guidance": _float(rest.pop("CFG scale", None)),
        "sampler": rest.pop("Sampler", None),
        "scheduler": rest.pop("Schedule type", None),
        "width": width,
        "height": height,
        "model": rest.pop("Model", None),
        "extras": rest,
    }


def _comfyui(text: dict[str, str], where: str) -> tuple[dict[str, Any] | None, str | None]:
    graph = load_json(text["prompt"], f"{where} (prompt chunk)")
    if not isinstance(graph, dict):
        return None, "the ComfyUI `prompt` chunk is not a JSON object"
    if len(graph) > MAX_GRAPH_NODES:
        raise UsageError(f"{where}: ComfyUI graph too large ({len(graph):,} nodes; the limit is {MAX_GRAPH_NODES:,})")
    params: dict[str, Any] = {"prompt": graph}
    workflow = load_json(text["workflow"], f"{where} (workflow chunk)") if "workflow" in text else None
    if not (isinstance(workflow, dict) and isinstance(workflow.get("links"), list)):
        # API-format files carry only `prompt`: the links are in each node's inputs ([source id, slot])
        links = []
        for target, node in graph.items():
            inputs = node.get("inputs", {}) if isinstance(node, dict) else {}
            for name, value in inputs.items() if isinstance(inputs, dict) else ():
                if isinstance(value, list) and len(value) == 2 and isinstance(value[0], (str, int)):
                    links.append([len(links), str(value[0]), value[1], str(target), 0, str(name).upper()])
        workflow = {"links": links}
    params["workflow"] = workflow
    recipe, problem = _with_parser("ComfyUI", params, where)
    if recipe is not None and not isinstance(recipe["model"], str):
        # sd-parsers stops at the first `model` input, which may be a link (a LoraLoader's): take the checkpoint
        names = [
            n["inputs"].get(k)
            for n in graph.values()
            if isinstance(n, dict) and isinstance(n.get("inputs"), dict)
            for k in ("ckpt_name", "unet_name")
        ]
        recipe["model"] = next((x for x in names if isinstance(x, str)), None)
    return recipe, problem


def _with_parser(generator: str, params: dict[str, Any], where: str) -> tuple[dict[str, Any] | None, str | None]:
    """Run sd-parsers' parser for `generator` on `params`; normalise its PromptInfo."""
    from sd_parsers import parsers

    cls = {
        "Fooocus": parsers.FooocusParser,
        "ComfyUI": parsers.ComfyUIParser,
        "InvokeAI": parsers.InvokeAIParser,
        "NovelAI": parsers.NovelAIParser,
    }[generator]
    try:
        info = cls().parse(params)
    except Exception as e:  # sd-parsers' ParserError, and anything a malformed graph provokes
        reason = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        return None, f"its {generator} metadata could not be read ({reason})"
    return normalise(info, params), None


def normalise(info: Any, params: dict[str, Any]) -> dict[str, Any]:
    """One recipe from sd-parsers' PromptInfo: the first sampler's values, the rest under `extras`."""
    generator = info.generator.value if hasattr(info.generator, "value") else str(info.generator)
    sampler = info.samplers[0] if info.samplers else None
    sp = dict(sampler.parameters) if sampler else {}
    meta = {str(k): v for k, v in (info.metadata or {}).items()}
    model = next((m.name or m.hash for m in ([sampler.model] if sampler and sampler.model else [])), None)
    width, height = _int(meta.pop("width", None)), _int(meta.pop("height", None))
    if "resolution" in meta:  # Fooocus: "(1152, 896)"
        width, height = _size(meta.pop("resolution"))
    for latent in meta.get("EmptyLatentImage", [])[:1]:  # ComfyUI
        width, height = _int(latent.get("width")), _int(latent.get("height"))
    steps = sp.pop("steps", meta.pop("steps", None))
    scheduler = sp.pop("scheduler", meta.pop("noise_schedule", None))
    if generator == "InvokeAI" and model is None:  # newer InvokeAI: {"model": {"name": ...}}
        raw = _json_or_none(params.get("invokeai_metadata"))
        m = raw.get("model") if isinstance(raw, dict) else None
        model = (m.get("name") or m.get("model_name")) if isinstance(m, dict) else m if isinstance(m, str) else None
    seed = sp.pop("seed", sp.pop("noise_seed", None))
    guidance = sp.pop("cfg_scale", None)
    extras: dict[str, Any] = {**meta, **({"sampler_parameters": sp} if sp else {})}
    if len(info.samplers) > 1:
        extras["other_samplers"] = [{"name": s.name, **s.parameters} for s in info.samplers[1:]]
    prompts = [p.value for p in info.prompts]
    negatives = [p.value for p in info.negative_prompts]
    return {
        "generator": generator,
        "prompt": ", ".join(prompts),
        "negative": ", ".join(negatives),
        "seed": _int(seed),
        "steps": _int(steps),
        "guidance": _float(guidance),
        "sampler": sampler.name if sampler else None,
        "scheduler": scheduler if isinstance(scheduler, str) else None,
        "width": width,
        "height": height,
        "model": model,
        "extras": _jsonable(extras),
    }


def _json_or_none(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return None


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _int(v: Any) -> int | None:
    try:
        return int(str(v).strip()) if v is not None and not isinstance(v, bool) else None
    except ValueError:
        try:
            f = float(str(v))
            return int(f) if f.is_integer() else None
        except ValueError:
            return None


def _float(v: Any) -> float | None:
    try:
        return float(str(v).strip()) if v is not None and not isinstance(v, bool) else None
    except ValueError:
        return None


def _size(v: Any) -> tuple[int | None, int | None]:
    m = re.fullmatch(r"\s*\(?\s*(\d+)\s*[x,]\s*(\d+)\s*\)?\s*", str(v)) if v is not None else None
    return (int(m.group(1)), int(m.group(2))) if m else (None, None)


# --- genai imagine --recipe -----------------------------------------------------------------

# sampler names written by AUTOMATIC1111, ComfyUI, Fooocus, InvokeAI and NovelAI -> genai's --scheduler.
# Keys are lower-cased, with NovelAI's `k_` prefix and any Karras suffix removed (see scheduler_for).
SAMPLERS = {
    "euler": "euler",
    "euler a": "euler-a",
    "euler_a": "euler-a",
    "euler_ancestral": "euler-a",
    "euler-a": "euler-a",
    "lms": "lms",
    "ddim": "ddim",
    "plms": "pndm",
    "pndm": "pndm",
    "dpm++ 2m": "dpm++2m",
    "dpmpp_2m": "dpm++2m",
    "dpm++2m": "dpm++2m",
}
# noise schedules (A1111 `Schedule type`, ComfyUI `scheduler`, NovelAI `noise_schedule`) genai keeps as the model's
PLAIN_SCHEDULES = {"", "normal", "automatic", "default", "native", "uniform"}
# ComfyUI nodes that a plain text-to-image run has; any other node is a graph feature genai does not reproduce
COMFY_BASIC = {
    "KSampler",
    "KSamplerAdvanced",
    "CheckpointLoaderSimple",
    "CLIPTextEncode",
    "EmptyLatentImage",
    "VAEDecode",
    "SaveImage",
    "PreviewImage",
    "Reroute",
    "Note",
}
# A1111 fields that do not change the image
A1111_HARMLESS = {"Version", "Model hash", "VAE hash", "Hashes", "TI hashes", "Lora hashes", "Emphasis"}


def scheduler_for(recipe: dict[str, Any]) -> tuple[str | None, list[str]]:
    """(genai scheduler name or None, what of the recipe's sampler/schedule is not honoured)."""
    from genai_cli.image import schedulers

    if recipe["generator"] == "genai" and recipe.get("scheduler"):
        try:
            return schedulers.check_name(recipe["scheduler"]), []
        except UsageError:
            return None, [f"scheduler {recipe['scheduler']!r} (not one of genai's)"]
    name = recipe.get("sampler")
    if not name:
        return None, []
    key = str(name).strip().lower()
    key = key[2:] if key.startswith("k_") else key
    karras = False
    for suffix in (" karras", "_karras", "_k"):
        if key.endswith(suffix):
            key, karras = key[: -len(suffix)], True
    problems = []
    schedule = str(recipe.get("scheduler") or "").strip().lower()
    if karras or schedule == "karras":
        problems.append(f"the Karras noise schedule of {name!r} (genai uses the model's own)")
    elif schedule not in PLAIN_SCHEDULES:
        problems.append(f"noise schedule {recipe['scheduler']!r} (genai uses the model's own)")
    if key not in SAMPLERS:
        why = "no diffusers equivalent in genai; see the sampler table in docs/imagine.md"
        return None, [f"sampler {name!r} ({why})", *problems]
    return SAMPLERS[key], problems


def for_imagine(path: Any, cfg: dict[str, Any], given: set[str], model_given: bool) -> str:
    """Put a recipe's values into imagine's merged config `cfg` (in place) where no flag was given
    (`given`: the names of the flags that were); say on stderr what cannot be honoured. Returns its prompt.

    The recipe's model is never loaded from it: with --model it is compared, without it only reported."""
    from pathlib import Path

    from genai_cli import console
    from genai_cli.errors import GenaiError
    from genai_cli.image import inspect, loading

    info = inspect.describe(Path(path), raw=True)
    name = inspect.escape(path)
    recipe = info.get("recipe") if info["type"] != "safetensors" else None
    if recipe is None:
        raise UsageError(
            f"{name}: no recipe in this file ({info.get('problem') or 'no generation metadata'})",
            hint="genai info FILE shows what a file holds",
        )
    figure = figure_command(recipe)
    if figure is not None:
        raise UsageError(
            f"{name}: a figure of genai {inspect.escape(figure)}, not a generated image: it has no prompt to draw",
            hint="genai info FILE shows its settings",
        )
    ignored: list[str] = []
    values: dict[str, Any] = {k: recipe.get(k) for k in ("negative", "steps", "guidance", "seed", "width", "height")}
    values["scheduler"], problems = scheduler_for(recipe)
    ignored += problems
    if values["seed"] is not None and not 0 <= values["seed"] < 2**32:
        ignored.append(f"seed {values.pop('seed')} (genai seeds are 0 .. 2**32-1)")
    if values["steps"] is not None and not 1 <= values["steps"] <= 1000:
        ignored.append(f"steps {values.pop('steps')} (1 .. 1000)")
    if values["guidance"] is not None and values["guidance"] < 0:
        ignored.append(f"guidance {values.pop('guidance')}")
    w, h = values.pop("width"), values.pop("height")
    if w and h and "width" not in given and "height" not in given:
        try:
            limits = loading.size_limits(loading.locate(cfg["model"]))
        except GenaiError:
            limits = None  # the model's own check reports it later
        lo, hi = (limits[1], limits[2]) if limits else (8, 8192)
        if w % 8 or h % 8 or not (lo <= w <= hi and lo <= h <= hi):
            ignored.append(f"size {w}x{h} (this model takes multiples of 8 in {lo}..{hi})")
        else:
            values.update(width=w, height=h)
    for key, value in values.items():
        if value is not None and key not in given:
            cfg[key] = value
    if recipe.get("model"):
        if not model_given:
            console.info(
                f"the recipe's model is {inspect.escape(recipe['model'])}; "
                f"using {cfg['model']} (choose one with --model)"
            )
        elif str(recipe["model"]) != str(cfg["model"]):
            ignored.append(f"model {recipe['model']!r} (using --model {cfg['model']})")
    ignored += _features(recipe, info.get("text", {}))
    for item in ignored:
        console.warn(f"recipe {name}: ignored {inspect.escape(item)}")
    if not (recipe.get("prompt") or "").strip():
        raise UsageError(f"{name}: the recipe has no prompt", hint='give one: genai imagine --recipe FILE "a prompt"')
    return recipe["prompt"]


def _features(recipe: dict[str, Any], chunks: dict[str, str]) -> list[str]:
    """What else the recipe did that genai does not reproduce."""
    extras = recipe.get("extras") or {}
    if recipe["generator"] == "ComfyUI":
        graph = _json_or_none(chunks.get("prompt"))
        kinds = (
            sorted({str(n.get("class_type")) for n in graph.values() if isinstance(n, dict)} - COMFY_BASIC)
            if isinstance(graph, dict)
            else []
        )
        return [f"ComfyUI nodes {', '.join(kinds)}"] if kinds else []
    if recipe["generator"] == "AUTOMATIC1111":
        keys = [k for k in extras if k not in A1111_HARMLESS]
        return [f"settings {', '.join(keys)}"] if keys else []
    if recipe["generator"] == "Fooocus":
        return [f"Fooocus styles {extras['styles']}"] if extras.get("styles") not in (None, "", "[]") else []
    return []
