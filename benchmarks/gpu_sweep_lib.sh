# Sourced by the accelerator scripts (gpu_experiments.sh, gpu_learning.sh, gpu_diffusion_exp.sh): creates $OUT with
# the device's name in $OUT/device.txt, and defines timed_sweep: one experiments.sweep in its own time box, its log
# under $OUT, then packed into $OUT/<name>.tar.gz to come back from the device (benchmarks/pack_sweep.py; $KEEP,
# when set, names the per-epoch series to keep). A variant is written when all its runs finish, so a sweep cut by
# its box keeps its finished variants. Needs OUT and PY.
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1  # progress lines reach the logs as they are printed
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader > "$OUT/device.txt" 2>&1
timed_sweep() {  # name, time limit in seconds, experiments.sweep flags...
    local name=$1 limit=$2
    shift 2
    rm -rf "/tmp/$name"
    timeout "$limit" $PY -m experiments.sweep --nocheckpoints --nocompile_cache --out "/tmp/$name" "$@" 2>&1 \
        | tee "$OUT/$name.log" | grep -v "epochs/s x" | tail -30
    [[ -f /tmp/$name/plan.json ]] && $PY -m benchmarks.pack_sweep --sweep "/tmp/$name" --out "$OUT/$name.tar.gz" \
        ${KEEP:+--epoch_metrics "$KEEP"}
}
