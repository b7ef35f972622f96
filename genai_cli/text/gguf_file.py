"""A bounded check of a GGUF file's header, before llama.cpp (native code) sees it.

llama.cpp trusts much of what a GGUF header says; a truncated or crafted file can make it
read past the end of the mapping or abort the process. So every count, length and tensor
extent is checked here against the file's real size, in pure Python, reading only the header
(memory-mapped: a 70 GB file costs what its header costs). The gguf package can parse the
same header but builds numpy views of every tensor and takes ~1 s to import; this is ~20 ms.

The layout (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md):

    magic "GGUF" | version u32 | n_tensors u64 | n_kv u64
    n_kv x (key: string, type: u32, value)          string = u64 length + utf-8 bytes
    n_tensors x (name: string, n_dims: u32, dims: n_dims x u64, type: u32, offset: u64)
    padding to `general.alignment` (default 32) | tensor data
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from genai_cli.errors import UsageError, shorten

MAGIC = b"GGUF"
VERSIONS = (2, 3)  # llama.cpp reads v2 and v3; v1 (2023) is long gone
MAX_KV = 100_000  # metadata entries
MAX_TENSORS = 1_000_000
MAX_STRING = 64 * 1024 * 1024  # one string value (chat templates are ~10 KB)
MAX_ARRAY = 100_000_000  # elements of one metadata array (vocabularies are ~250 k)
MAX_DIMS = 4  # GGML_MAX_DIMS

# scalar metadata types: GGUFValueType -> struct format
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9

# ggml tensor types: id -> (elements per block, bytes per block); the same table as
# gguf.constants.GGML_QUANT_SIZES (a test checks that the two agree)
TYPE_SIZES = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 40),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
    40: (64, 36),
    41: (128, 18),
}
_U64 = struct.Struct("<Q")


@dataclass
class GGUFInfo:
    path: Path
    version: int
    architecture: str
    name: str  # general.name, or the file name
    context_length: int  # <arch>.context_length (tokens the model was trained for)
    chat_template: str | None
    n_tensors: int
    size: int  # bytes
    metadata: dict[str, Any] = field(default_factory=dict)  # scalar and string values only


class _Reader:
    def __init__(self, buf: Any, path: Path):
        self.buf, self.pos, self.size, self.path = buf, 0, len(buf), path

    def fail(self, why: str) -> UsageError:
        return UsageError(
            f"{self.path} is not a usable GGUF model file: {why}",
            hint="give a complete .gguf file (a download may have been cut short)",
        )

    def take(self, n: int) -> int:
        if n < 0 or self.pos + n > self.size:
            raise self.fail(f"truncated: the header needs byte {self.pos + n:,} but the file has {self.size:,}")
        start = self.pos
        self.pos += n
        return start

    def scalar(self, fmt: str) -> Any:
        n = struct.calcsize(fmt)
        return struct.unpack_from(fmt, self.buf, self.take(n))[0]

    def string(self, what: str) -> str:
        n = self.scalar("<Q")
        if n > MAX_STRING:
            raise self.fail(f"{what} claims a string of {n:,} bytes (limit {MAX_STRING:,})")
        start = self.take(n)
        return bytes(self.buf[start : start + n]).decode("utf-8", errors="replace")

    def skip_string(self, what: str) -> None:
        n = self.scalar("<Q")
        if n > MAX_STRING:
            raise self.fail(f"{what} claims a string of {n:,} bytes (limit {MAX_STRING:,})")
        self.take(n)

    def value(self, vtype: int, key: str, keep: bool) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string(key) if keep else self.skip_string(key)
        if vtype == _ARRAY:
            etype, count = self.scalar("<I"), self.scalar("<Q")
            if count > MAX_ARRAY:
                raise self.fail(f"metadata {shorten(key)} claims {count:,} elements (limit {MAX_ARRAY:,})")
            if etype in _SCALARS:
                self.take(count * struct.calcsize(_SCALARS[etype]))
            elif etype == _STRING:  # vocabularies: ~100 k strings, so a tight loop
                buf, pos, size, unpack = self.buf, self.pos, self.size, _U64.unpack_from
                for _ in range(count):
                    if pos + 8 > size:
                        break
                    n = unpack(buf, pos)[0]
                    pos += 8 + n
                    if n > MAX_STRING:
                        raise self.fail(
                            f"metadata {shorten(key)} claims a string of {n:,} bytes (limit {MAX_STRING:,})"
                        )
                self.take(pos - self.pos)  # raises "truncated" when the strings run past the end
            else:  # arrays of arrays: not used by any model file
                raise self.fail(f"metadata {shorten(key)} has an array of unsupported type {etype}")
            return None
        raise self.fail(f"metadata {shorten(key)} has unknown value type {vtype}")


def read_header(path: Path) -> GGUFInfo:
    """Check a GGUF file's header and tensor extents; return what genai needs from it.

    Raises UsageError naming the file for anything that is not a complete GGUF file."""
    from genai_cli.files import require_regular_file

    path = Path(path)
    require_regular_file(path, "model file")
    size = path.stat().st_size
    if size < 24:
        raise UsageError(f"{path} is not a GGUF model file: only {size} bytes")
    with open(path, "rb") as f:
        if f.read(4) != MAGIC:
            raise UsageError(
                f"{path} is not a GGUF model file (it does not start with 'GGUF')",
                hint="give a .gguf file, or a transformers model folder",
            )
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _parse(_Reader(buf, path), path, size)


def _parse(r: _Reader, path: Path, size: int) -> GGUFInfo:
    try:
        r.take(4)
        version = r.scalar("<I")
        if version not in VERSIONS:
            raise r.fail(f"GGUF version {version} (llama.cpp reads versions {' and '.join(map(str, VERSIONS))})")
        n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
        if n_tensors > MAX_TENSORS or n_kv > MAX_KV:
            raise r.fail(
                f"claims {n_tensors:,} tensors and {n_kv:,} metadata entries (limits {MAX_TENSORS:,} and {MAX_KV:,})"
            )
        meta: dict[str, Any] = {}
        for _ in range(n_kv):
            key = r.string("a metadata key")
            vtype = r.scalar("<I")
            value = r.value(vtype, key, keep=True)
            if value is not None:
                meta[key] = value
        alignment = meta.get("general.alignment", 32)
        if not isinstance(alignment, int) or alignment <= 0 or alignment & (alignment - 1) or alignment > 2**20:
            raise r.fail(f"general.alignment {alignment!r} is not a power of two")
        end = 0  # where the last tensor's data ends, relative to the data section
        for _i in range(n_tensors):
            name = r.string("a tensor name")
            n_dims = r.scalar("<I")
            if not 1 <= n_dims <= MAX_DIMS:
                raise r.fail(f"tensor {shorten(name)} has {n_dims} dimensions (1 to {MAX_DIMS})")
            dims = [r.scalar("<Q") for _ in range(n_dims)]
            ttype, offset = r.scalar("<I"), r.scalar("<Q")
            if ttype not in TYPE_SIZES:
                raise r.fail(f"tensor {shorten(name)} has unknown type {ttype}")
            block, block_bytes = TYPE_SIZES[ttype]
            count = 1
            for d in dims:
                count *= d
            if count == 0 or count > 2**48 or dims[0] % block:
                raise r.fail(f"tensor {shorten(name)} has impossible shape {dims}")
            if offset % alignment:
                raise r.fail(f"tensor {shorten(name)} data is not aligned to {alignment} bytes")
            end = max(end, offset + count // block * block_bytes)
        data_start = -(-r.pos // alignment) * alignment
        if data_start + end > size:
            raise UsageError(
                f"{path} is truncated: its tensors need {data_start + end:,} bytes but the file has {size:,}",
                hint="download the file again",
            )
    except struct.error as e:  # cannot happen after take(), kept as a guard
        raise r.fail(str(e)) from None
    arch = meta.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise r.fail("no general.architecture in its metadata")
    ctx = meta.get(f"{arch}.context_length")
    template = meta.get("tokenizer.chat_template")
    return GGUFInfo(
        path=path,
        version=version,
        architecture=arch,
        name=str(meta.get("general.name") or path.name),
        context_length=int(ctx) if isinstance(ctx, int) and ctx > 0 else 2048,
        chat_template=template if isinstance(template, str) and template.strip() else None,
        n_tensors=n_tensors,
        size=size,
        metadata=meta,
    )


def looks_like_gguf(path: Path) -> bool:
    """A file named *.gguf, or any regular file that starts with the GGUF magic."""
    if path.suffix.lower() == ".gguf":
        return True
    try:
        with open(path, "rb") as f:
            return f.read(4) == MAGIC
    except OSError:
        return False
