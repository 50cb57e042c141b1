#!/usr/bin/env bash
# Step 10's best against best at paper scale on an accelerator (docs/learning.md, "The study: diffusion_exp"): the
# paper preset (Table II sizes, 10k epochs), 3 seeds, the diffusion actor at the study's best combination beside the
# MLP at its two best settings (16 critic steps at sigma 0.5, learn_exp's updates_16; and at sigma 0.2, the grid's
# mlp.designed.best), each sweep in its own time box and packed into one .tar.gz under $OUT
# (benchmarks/gpu_sweep_lib.sh). Sized for one 10-minute device call with room to rerun.
#   OUT=benchmarks/results/gpu_diffusion_exp bash benchmarks/gpu_diffusion_exp.sh
set -uo pipefail
OUT=${OUT:-benchmarks/results/gpu_diffusion_exp}
PY=${PY:-python3}
SEEDS=${SEEDS:-3}
EPOCHS=${EPOCHS:-10000}
DIFFUSION_LIMIT=${DIFFUSION_LIMIT:-300}
MLP_LIMIT=${MLP_LIMIT:-200}
source "$(dirname "$0")/gpu_sweep_lib.sh"
timed_sweep diffusion_exp_paper "$DIFFUSION_LIMIT" --grid diffusion_exp --preset paper --seeds "$SEEDS" \
    --epochs "$EPOCHS" --actor diffusion,mlp --settings best_noise_free
timed_sweep learn_exp_paper_updates_16 "$MLP_LIMIT" --grid learn_exp --preset paper --seeds "$SEEDS" \
    --epochs "$EPOCHS" --noswept_points --actor mlp --settings updates_16
ls -la "$OUT"
