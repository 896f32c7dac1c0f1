#!/usr/bin/env bash
# The prepared GPU check for fast graph fusion: one call of the device machine, all under $OUT.
#
# 1. Step speed at the Sort-of-CLEVR benchmark budgets, batch 256 and 64, eager and compiled
#    (benchmarks/step_speed.py --device cuda --compile): ms per step, aten ops and kernel launches.
# 2. Scaling (benchmarks/scaling.py --device cuda): graph building and graph-gat against one dense
#    Transformer layer for N up to 65,536 elements per sample, with peak GPU memory.
# The two run one after the other; everything stops by LIMIT seconds (default 420) and what
# finished is written to $OUT/speed (each script writes its tables as it finishes).
#
# Usage (on the device machine, from the repository root):
#   PYTHONPATH=. bash benchmarks/gpu_speed.sh [LIMIT]
# (DEVICE=cpu runs the same on the CPU, e.g. to try the script with a short LIMIT; SIZES, MODELS,
# ROUNDS and COMPILE= (no compilation) make the trial smaller.)
set -uo pipefail
limit=${1:-420}
if ! [[ $limit =~ ^[1-9][0-9]*$ ]]; then
    echo "gpu_speed.sh: LIMIT must be a positive number of seconds, got '$limit'" >&2
    exit 2
fi
out=${OUT:-/tmp/gpu-out}/speed
device=${DEVICE:-cuda}
mkdir -p "$out"
nvidia-smi --query-gpu=name,memory.total --format=csv >"$out/gpu.txt" 2>&1
deadline=$((SECONDS + limit))
run() {  # run a command in its own process group until the deadline
    local left=$((deadline - SECONDS))
    if [ $left -le 5 ]; then echo "skipped (no time left): $*" >>"$out/skipped.txt"; return; fi
    timeout --signal=TERM --kill-after=5 "$left" setsid "$@"
}
models=${MODELS:+--models $MODELS}
for batch in 256 64; do
    # shellcheck disable=SC2086  # $models and $COMPILE are empty or whole options
    run python3 benchmarks/step_speed.py --device "$device" --batch-size "$batch" --threads 2 --rounds "${ROUNDS:-5}" \
        --steps 10 ${COMPILE---compile} $models --out "$out/step_speed" >"$out/step_speed-b$batch.log" 2>&1
done
run python3 benchmarks/scaling.py --device "$device" --threads 2 --limit 240 --sizes "${SIZES:-256,1024,4096,16384,65536}" \
    --out "$out/scaling" >"$out/scaling.log" 2>&1
ls -lR "$out" | head -40
