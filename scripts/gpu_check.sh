#!/usr/bin/env bash
# The GPU check (issue 17): every CUDA path of genai on a real GPU, offline, in under 8 minutes on one large GPU.
#
#   bash scripts/gpu_check.sh
#
# Needs only the built-in toy model and tiny random models built on the spot (no download). Prints one line per
# check, `ok`, `FAIL` or `skip` (and why), then `gpu_check: N ok, M FAIL, K skip`; exits 1 when a check failed.
# Checks: CUDA version, compute capability and native bf16; imagine in fp16/bf16/fp32 on CUDA against fp32 on the
# CPU (images close, no NaN); cuda:N past the device count -> exit 2; --low-memory, --show-steps and both;
# torchrun with 2 processes (1 GPU: the gloo fallback; 2 GPUs: the split); invert on the toy model in fp16 and
# bf16 with validation, a tiny safety checker and a resume; the peak memory of one SD 1.5-shaped inversion step
# at batch 1 and 4, with and without gradient checkpointing (the sd15-gpu preset must fit an 8 GB card); text on
# CUDA (generate, next, attention; greedy CUDA vs CPU); imagine's per-image time against direct diffusers.
# Without CUDA (or with GPU_CHECK_DEVICE=cpu) it is a CPU dry run: what can run on the CPU runs, the CUDA checks
# are skipped and counted (tests/test_gpu_path.py runs this). PY=... chooses the Python (default .venv/bin/python);
# GPU_CHECK_DEBUG=1 prints the traceback of a failed check.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export HF_HUB_OFFLINE=1 PYTHONWARNINGS=ignore TOKENIZERS_PARALLELISM=false
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true
exec timeout 480 "$PY" scripts/gpu_check.py
