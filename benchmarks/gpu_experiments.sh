#!/usr/bin/env bash
# The paper's experiments on an accelerator (docs/reproduction.md): action_exp and reward_exp on the quick preset
# (5 seeds, 4000 epochs) with the APG ceilings, then a reduced state_exp (designed and designed_gdm, 5 x 2
# (M, eta) points, 3 seeds, no baselines: reward_exp's runs are those), each sweep in its own time box and packed
# into one .tar.gz under $OUT (benchmarks/gpu_sweep_lib.sh).
#   OUT=benchmarks/results/gpu_experiments bash benchmarks/gpu_experiments.sh
# Then, here: tar xzf each archive and `python -m experiments.figures --from <action>,<reward>,<state>
# --timings $OUT/cost_repeats_<preset>_gpu.json`.
# Step 11's coverage at Step 10's defaults on the paper preset, one device session per line (docs/reproduction.md):
#   PRESET=paper EPOCHS=10000 CHUNK=2500 STAGES=tar bash benchmarks/gpu_experiments.sh
#   PRESET=paper EPOCHS=10000 CHUNK=2500 STAGES=s STATE_SEEDS=5 STATE_DESIGNS=designed,designed_mlp \
#       STATE_M=0.3,0.4,0.9,1.0 STATE_ETA=0.001,0.01 bash benchmarks/gpu_experiments.sh
#   (the same with STATE_DESIGNS=designed_gdm,gdm,raw)
set -uo pipefail
OUT=${OUT:-benchmarks/results/gpu_experiments}
PY=${PY:-python3}
PRESET=${PRESET:-quick}
SEEDS=${SEEDS:-5}
STATE_SEEDS=${STATE_SEEDS:-3}
EPOCHS=${EPOCHS:-4000}
CHUNK=${CHUNK:-500}
ACTION_LIMIT=${ACTION_LIMIT:-190}
REWARD_LIMIT=${REWARD_LIMIT:-370}
STATE_LIMIT=${STATE_LIMIT:-340}
STAGES=${STAGES:-ars}  # a(ction) r(eward) s(tate) sweeps, t(imings); the H200 session ran "ar" (395 s), then "s" (308 s)
TIMING_LIMIT=${TIMING_LIMIT:-150}
STATE_M=${STATE_M:-0.2,0.4,0.6,0.8,1.0}
STATE_ETA=${STATE_ETA:-0.01,0.1}
STATE_DESIGNS=${STATE_DESIGNS:-designed,designed_gdm}
# What the figures and the reproduction table read; the per-layer gradients of other networks stay behind.
KEEP=sum_rate,real_sum_rate,reward,updated,nonfinite_actions,actor_grad_weight,actor_grad_bias
KEEP=$KEEP,actor_grad_weight_sum,actor_grad_bias_sum
source "$(dirname "$0")/gpu_sweep_lib.sh"
sweep() {  # name, time limit, flags...: the preset, epochs and chunk of this script
    local name=$1 limit=$2
    shift 2
    timed_sweep "$name" "$limit" --preset "$PRESET" --epochs "$EPOCHS" --chunk "$CHUNK" "$@"
}
[[ $STAGES == *t* ]] && timeout "$TIMING_LIMIT" $PY -m benchmarks.cost_repeats --preset "$PRESET" --epochs 20 \
    --repeats 5 --out "$OUT/cost_repeats_${PRESET}_gpu.json" 2>&1 | tee "$OUT/cost_repeats.log" | tail -20
[[ $STAGES == *a* ]] && sweep action_exp "$ACTION_LIMIT" --grid action_exp --seeds "$SEEDS"
[[ $STAGES == *r* ]] && sweep reward_exp "$REWARD_LIMIT" --grid reward_exp --seeds "$SEEDS" --noreferences
[[ $STAGES == *s* ]] && sweep state_exp "$STATE_LIMIT" --grid state_exp --seeds "$STATE_SEEDS" --designs "$STATE_DESIGNS" \
    --M "$STATE_M" --eta "$STATE_ETA" --nobaselines --noreferences
ls -la "$OUT"
