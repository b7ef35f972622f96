#!/usr/bin/env bash
# GPU check for `genai imagine`: images per second on CUDA with fp16, in under 5 minutes.
#
#   bash scripts/gpu_check.sh [MODEL]
#
# MODEL: a local diffusers folder (or anything --model takes that is on the machine). Default:
# the built-in toy model (shipped in the package; 32x32 images, so this measures genai's machinery
# and the GPU's launch overheads more than its arithmetic).
# Needs a Python with genai installed and a CUDA build of torch (PY=... to choose it; default .venv/bin/python).
# DEVICE=cpu PRECISION=fp32 N=4 BATCH=2 bash scripts/gpu_check.sh runs the same steps on a CPU (a dry run).
# Prints: the GPU, per-image time with the model loaded (genai vs direct diffusers), images per second
# of a whole `genai imagine` run in batches, and a check that no image came out NaN or black.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PY:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
export HF_HUB_OFFLINE=1 PYTHONWARNINGS=ignore
DEVICE="${DEVICE:-cuda}"
PRECISION="${PRECISION:-fp16}"
if [ "$DEVICE" != cpu ]; then
    "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else "gpu_check: no CUDA device (or a CPU-only torch)")'
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null || true

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
MODEL="${1:-}"
if [ -z "$MODEL" ]; then
    MODEL="$("$PY" -c 'from genai_cli.image.loading import TOY_PIPELINE; print(TOY_PIPELINE)')"
    PROMPT="${PROMPT:-a red star on a blue background}"  # a prompt in the toy model's words
fi
PROMPT="${PROMPT:-a red fox in the snow}"
N="${N:-64}"          # images in the throughput run
BATCH="${BATCH:-16}"  # images per pipeline call
STEPS="${STEPS:-25}"  # denoising steps

echo "== per image, model loaded: genai vs direct diffusers ($DEVICE, $PRECISION, $STEPS steps)"
timeout 150 "$PY" scripts/bench/imagine.py --model "$MODEL" --device "$DEVICE" --precision "$PRECISION" --steps "$STEPS" \
    --rounds "${ROUNDS:-10}" --n "${BENCH_N:-8}" --threads 0

echo "== whole command: $N images, batches of $BATCH"
start=$(date +%s.%N)
timeout 120 "$PY" -m genai_cli imagine --model "$MODEL" --device "$DEVICE" --precision "$PRECISION" --steps "$STEPS" \
    --n "$N" --batch-size "$BATCH" --seed 0 -o "$WORK/out" --json "$PROMPT" > "$WORK/images.jsonl"
end=$(date +%s.%N)
"$PY" - "$WORK/images.jsonl" "$start" "$end" <<'PY'
import json, sys
recs = [json.loads(line) for line in open(sys.argv[1])]
secs = float(sys.argv[3]) - float(sys.argv[2])
bad = [r["path"] for r in recs if r["problems"]]
print(f"{len(recs)} images in {secs:.1f} s (process start and model load included): {len(recs) / secs:.2f} images/s")
print("NaN/black images:", len(bad))
sys.exit(1 if bad or not recs else 0)
PY
"$PY" -m genai_cli info "$(head -1 "$WORK/images.jsonl" | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["path"])')" | grep -E '^(Size|Sampler|genai)' | cut -c1-200
echo "gpu_check: ok"
