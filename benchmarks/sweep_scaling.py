"""Aggregate training throughput vs the number of vmapped runs (the sweep's run axis), diffusion actor.

    python -m benchmarks.sweep_scaling [--preset quick|paper|small] [--runs 1,4,16,64,256] [--epochs 50]
        [--reward designed] [--state_exp] [--out benchmarks/results/sweep_scaling.json]

For each N one compiled `vmap(run_chunk)` of the sweep preset's config is timed after compile
(median of --repeats chunks of --epochs epochs): aggregate epochs/s = N x epochs / s, and the
speed-up over N = 1 measured in the same process. N is skipped when the memory planner says N
runs do not fit the devices' free memory (`d2rl_jax.run.memory`). Writes the JSON and a PNG beside it.
"""

from __future__ import annotations

from pathlib import Path

from absl import app, flags

from d2rl_jax.config import REWARD_DESIGNS, ConfigError
from d2rl_jax.run.grids import SWEEP_PRESETS, sweep_config
from d2rl_jax.run.io import write_json_atomic
from d2rl_jax.run.memory import MEMORY_FRACTION, free_device_bytes, run_bytes
from d2rl_jax.run.throughput import time_runs
from d2rl_jax.run.timing import device_info
from d2rl_jax.training import make_train
from experiments.common import run_cli
from experiments.plots import save_figure_atomic

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "quick", list(SWEEP_PRESETS), "Sweep preset whose config is timed.")
flags.DEFINE_list("runs", ["1", "4", "16", "64", "256"], "Numbers of vmapped runs.")
flags.DEFINE_integer("epochs", 50, "Epochs per timed chunk (one evaluation each).", lower_bound=1)
flags.DEFINE_integer("repeats", 2, "Timed chunks per point (median).", lower_bound=1)
flags.DEFINE_enum("reward", "designed", list(REWARD_DESIGNS), "Reward design.")
flags.DEFINE_bool("state_exp", False, "With GDM state exploration.")
flags.DEFINE_string("out", "benchmarks/results/sweep_scaling.json", "Output JSON path (the PNG goes beside it).")


def plot(points: list[dict], title: str, path: Path) -> None:
    import matplotlib.pyplot as plt  # after experiments.plots has chosen the Agg backend

    fig, ax = plt.subplots(figsize=(5.6, 3.8))
    runs = [p["runs"] for p in points]
    ax.plot(runs, [p["epochs_per_s_aggregate"] for p in points], "o-", label="measured")
    ax.plot(runs, [points[0]["epochs_per_s_aggregate"] * n / runs[0] for n in runs], "--", color="gray",
            label="linear in N (ideal)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("vmapped runs N")
    ax.set_ylabel("aggregate epochs/s (N x epochs / s)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    save_figure_atomic(fig, path)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        runs = sorted({int(n) for n in FLAGS.runs})
    except ValueError:
        raise app.UsageError(f"--runs={','.join(FLAGS.runs)}: each must be an integer") from None
    if runs[0] < 1:
        raise app.UsageError(f"--runs={','.join(FLAGS.runs)}: each must be >= 1")
    try:
        base, hp = sweep_config(FLAGS.preset, epochs=FLAGS.epochs, chunk=FLAGS.epochs)
    except ConfigError as err:
        raise app.UsageError(str(err)) from None
    cfg = base.replace(actor="diffusion", reward=FLAGS.reward, state_exploration=FLAGS.state_exp,
                       eval_every=FLAGS.epochs)
    fns = make_train(cfg)
    per_run = run_bytes(cfg, fns).total
    free, source = free_device_bytes()
    budget = int(MEMORY_FRACTION * free)
    points, skipped = [], []
    for n in runs:
        if n * per_run > budget:
            skipped.append(n)
            print(f"N={n:>4}: skipped, needs {n * per_run / 2**30:.1f} GiB > budget {budget / 2**30:.1f} GiB",
                  flush=True)
            continue
        point = time_runs(fns, cfg, n, hp, FLAGS.repeats)
        point["speedup_vs_first"] = point["epochs_per_s_aggregate"] / (points[0] if points else point)[
            "epochs_per_s_aggregate"]
        points.append(point)
        print(f"N={n:>4}: {point['epochs_per_s_aggregate']:9.1f} epochs/s aggregate  "
              f"{point['epochs_per_s_per_run']:8.2f} per run  x{point['speedup_vs_first']:.1f} vs N={points[0]['runs']}"
              f"  compile {point['compile_s']:.1f} s", flush=True)
    if not points:
        raise app.UsageError("no N fits the memory budget: lower --runs or use a smaller --preset")
    info = device_info()
    result = {"benchmark": "sweep_scaling", "device": info, "preset": FLAGS.preset, "actor": "diffusion",
              "reward": cfg.reward, "state_exploration": cfg.state_exploration, "epochs_per_chunk": FLAGS.epochs,
              "bytes_per_run_planned": per_run, "memory_budget_bytes": budget, "memory_source": source,
              "skipped_runs": skipped, "points": points}
    path = write_json_atomic(FLAGS.out, result)
    title = (f"{FLAGS.preset} preset, diffusion actor, {cfg.reward}{' + state exp.' if cfg.state_exploration else ''}"
             f" on {info['device_kind']} ({info['device_count']} device(s))")
    plot(points, title, Path(path).with_suffix(".png"))
    print(f"wrote {path} and {Path(path).with_suffix('.png')}")


if __name__ == "__main__":
    run_cli(main)
