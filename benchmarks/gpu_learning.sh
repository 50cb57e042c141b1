#!/usr/bin/env bash
# The learning study at paper scale on an accelerator (docs/learning.md): learn_exp with the paper preset
# (Table II network sizes, 10k epochs), 3 seeds, the settings in order of priority, each sweep in its own time
# box and packed into one .tar.gz under $OUT (benchmarks/gpu_sweep_lib.sh).
#   OUT=benchmarks/results/gpu_learning bash benchmarks/gpu_learning.sh
set -uo pipefail
OUT=${OUT:-benchmarks/results/gpu_learning}
PY=${PY:-python3}
SEEDS=${SEEDS:-3}
EPOCHS=${EPOCHS:-10000}
FIRST_LIMIT=${FIRST_LIMIT:-330}
SECOND_LIMIT=${SECOND_LIMIT:-150}
THIRD_LIMIT=${THIRD_LIMIT:-290}
STAGES=${STAGES:-abc}  # which sweeps to run (the H200 session ran a and b in one call, then c)
# The H200 session (benchmarks/results/gpu_learning_h200) ran these sweeps when the study's base (the preset) still
# had T = 256 environments per epoch: its "default" is today's "envs_256" and its "envs_1024" today's "default".
source "$(dirname "$0")/gpu_sweep_lib.sh"
sweep() {  # name, time limit, flags...: learn_exp at the paper preset
    local name=$1 limit=$2
    shift 2
    timed_sweep "$name" "$limit" --grid learn_exp --preset paper --seeds "$SEEDS" --epochs "$EPOCHS" "$@"
}
[[ $STAGES == *a* ]] && sweep learn_exp_paper_a "$FIRST_LIMIT" --actor mlp,diffusion --settings envs_256,apg,local_critic
[[ $STAGES == *b* ]] && sweep learn_exp_paper_b "$SECOND_LIMIT" --actor mlp --settings paper_literal,default,td3_delay_2
[[ $STAGES == *c* ]] && sweep learn_exp_paper_c "$THIRD_LIMIT" --actor diffusion,mlp --settings default
ls -la "$OUT"
