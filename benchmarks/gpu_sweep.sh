#!/usr/bin/env bash
# The GPU check of the sweep issue, as one script (README: "Sweeps"): throughput vs vmapped runs at
# paper sizes, then a timed slice of the paper-scale state_exp sweep (4 designs x 30 (M, eta) points x
# 3 seeds: the goal) projected to 10k epochs. Each step has its own time limit so that a
# slow one still leaves the other's results.
#   OUT=benchmarks/results/gpu PRESET=paper EPOCHS=200 bash benchmarks/gpu_sweep.sh
set -uo pipefail
OUT=${OUT:-benchmarks/results/gpu}
PRESET=${PRESET:-paper}
EPOCHS=${EPOCHS:-200}
CHUNK=${CHUNK:-100}
RUNS=${RUNS:-1,4,16,64,256}
SCALING_LIMIT=${SCALING_LIMIT:-180}
SWEEP_LIMIT=${SWEEP_LIMIT:-330}
SWEEP_DIR=${SWEEP_DIR:-/tmp/state_exp_$PRESET}
PY=${PY:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
timeout "$SCALING_LIMIT" $PY -m benchmarks.sweep_scaling --preset "$PRESET" --runs "$RUNS" --epochs 30 \
    --out "$OUT/sweep_scaling_$PRESET.json" 2>&1 | tee "$OUT/sweep_scaling_$PRESET.log"
rm -rf "$SWEEP_DIR"
timeout "$SWEEP_LIMIT" $PY -m experiments.sweep --grid state_exp --preset "$PRESET" --seeds 3 --epochs "$EPOCHS" \
    --chunk "$CHUNK" --designs designed,designed_mlp,designed_gdm,gdm --nobaselines --nocheckpoints --project_epochs 10000 \
    --out "$SWEEP_DIR" 2>&1 | tee "$OUT/state_exp_$PRESET.log"
cp "$SWEEP_DIR"/plan.json "$SWEEP_DIR"/summary.csv "$SWEEP_DIR"/timing.json "$OUT"/ 2>/dev/null
ls -la "$OUT"
