#!/usr/bin/env bash
# Run one `mmgraph bench` as parallel processes that share its --out folder, one per (model, seed).
#
# Seed 0 of each model starts at once (it also runs that model's learning-rate sweep); the
# model's other seeds start as soon as the sweep is saved, so every seed uses the same learning
# rate. When all have finished, `--report-only` writes the table of every run. Runs are
# resumable as with `mmgraph bench`: finished (model, seed) runs are kept.
#
# Usage: benchmarks/split_runs.sh OUT MODELS SEEDS TASK [mmgraph bench options...]
#   e.g. benchmarks/split_runs.sh benchmarks/results/sort-of-clevr-pixels graph-relational,rn,concat,attention 2 \
#            sort-of-clevr --input pixels --device cuda --threads 2 --no-progress
# MMGRAPH (default: mmgraph) is the command that runs the CLI, e.g. "python3 -m mmgraph".
set -euo pipefail
if [ $# -lt 4 ]; then
    sed -n 2,12p "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
out=$1 models=$2 seeds=$3
shift 3
read -r -a cli <<<"${MMGRAPH:-mmgraph}"
mkdir -p "$out/logs"
rm -f "$out"/logs/*.ended
pids=()
for m in ${models//,/ }; do
    (
        trap 'touch "$out/logs/$m-0.ended"' EXIT
        "${cli[@]}" bench "$@" --models "$m" --only-seeds 0 --out "$out" >"$out/logs/$m-0.log" 2>&1
    ) &
    pids+=($!)
    for ((s = 1; s < seeds; s++)); do
        (
            # (a single --lrs value needs no sweep: then wait for seed 0 to end)
            until [ -f "$out/sweeps/$m.json" ] || [ -f "$out/logs/$m-0.ended" ]; do sleep 5; done
            "${cli[@]}" bench "$@" --models "$m" --only-seeds "$s" --out "$out" >"$out/logs/$m-$s.log" 2>&1
        ) &
        pids+=($!)
    done
done
failed=0
for p in "${pids[@]}"; do wait "$p" || failed=1; done
"${cli[@]}" bench "$@" --models "$models" --seeds "$seeds" --out "$out" --report-only
rm -f "$out"/logs/*.ended
exit $failed
