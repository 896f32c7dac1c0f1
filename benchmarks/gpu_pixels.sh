#!/usr/bin/env bash
# The prepared GPU check for Sort-of-CLEVR from pixels: one call of the device machine.
#
# 1. RN, the one pixel model not yet run, 2 seeds with the recorded settings of
#    results/sort-of-clevr-pixels (`benchmarks/split_runs.sh ... --device cuda`), into a copy of
#    that folder, so the finished runs join the ones recorded on CPU.
# 2. Beside it, long-training probes with the reference recipe of the RN code (64 questions
#    from 64 images per batch, lr 1e-4, constant): do the models leave the plateau? One of them
#    is cnn-mlp with answer heads routed by a sharp question gate (see benchmarks/README.md).
# Everything ends by LIMIT seconds (default 480) and is packed into $OUT/pixels-gpu.tar.gz.
#
# Usage (on the device machine, from the repository root):
#   MMGRAPH="python3 -m mmgraph" PYTHONPATH=. bash benchmarks/gpu_pixels.sh [LIMIT]
# (DEVICE=cpu runs the same on the CPU, e.g. to try the script with a short LIMIT.)
set -uo pipefail
limit=${1:-480}
if ! [[ $limit =~ ^[1-9][0-9]*$ ]]; then
    echo "gpu_pixels.sh: LIMIT must be a positive number of seconds, got '$limit'" >&2
    exit 2
fi
out=${OUT:-/tmp/gpu-out}
work=$out/pixels
mkdir -p "$work/probes"
cp -r benchmarks/results/sort-of-clevr-pixels "$work/"
export MMGRAPH=${MMGRAPH:-python3 -m mmgraph}
nvidia-smi --query-gpu=name,memory.total --format=csv >"$work/gpu.txt" 2>&1
# Each job in its own process group (setsid), so the deadline stops it with all its children.
groups=()
setsid bash benchmarks/split_runs.sh "$work/sort-of-clevr-pixels" rn 2 sort-of-clevr --input pixels \
    --device "${DEVICE:-cuda}" --threads 2 --no-progress >"$work/rn.log" 2>&1 &
groups+=($!)
# name: probe model and its options (cnn-mlp-gated: the sharp question gate, the one lead so far)
probes=("attention:attention" "graph-relational:graph-relational"
        "cnn-mlp-gated:cnn-mlp --hidden 256 --flat-question --experts 64 --gate-scale 30")
for p in "${probes[@]}"; do
    read -r -a model <<<"${p#*:}"
    setsid python3 benchmarks/probes/pixels_variant.py "${model[@]}" --images 9800 --epochs 60 --lr 1e-4 \
        --batch-size 64 --scheduler none --mix --threads 2 --device "${DEVICE:-cuda}" >"$work/probes/${p%%:*}.log" 2>&1 &
    groups+=($!)
done
deadline=$((SECONDS + limit))
while [ $SECONDS -lt $deadline ] && kill -0 "${groups[@]}" 2>/dev/null; do sleep 5; done
for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null; done
sleep 3
tar -czf "$out/pixels-gpu.tar.gz" -C "$out" pixels && rm -rf "$work"
ls -l "$out"
