"""The recipe of an image made by genai, AUTOMATIC1111, ComfyUI, Fooocus, InvokeAI or NovelAI.

Each tool stores its settings in its own way (PNG text chunks; EXIF `UserComment` in JPEG and WEBP):

  genai          `parameters` (A1111 text) + `genai` (its resolved settings as JSON)
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
    "genai": ("parameters", "genai"),
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
        if isinstance(genai, dict) and isinstance(genai.get("prompt"), str):
            return _from_genai(genai, text.get("parameters")), None
    params = text.get("parameters")
    if params is not None and params.lstrip().startswith("{"):
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


def _from_a1111(text: str) -> dict[str, Any]:
    from genai_cli.image import pngmeta

    p = pngmeta.parse_parameters(text)
    rest = {k: v for k, v in p.items() if k not in ("prompt", "negative_prompt")}
    width, height = _size(rest.pop("Size", None))
    version = str(rest.get("Version", ""))
    generator = "genai" if version.startswith("genai") else "Fooocus" if version.startswith("Fooocus") else "AUTOMATIC1111"
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
    return _with_parser("ComfyUI", params, where)


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
