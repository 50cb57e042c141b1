r"""Sweep a named grid: every variant one compiled program over its runs (points x seeds), memory-planned.

    python -m experiments.sweep --grid state_exp|reward_exp|action_exp [--seeds S] [--epochs N] \
        [--preset quick|paper|small] [--env gdmopt_power] [--out DIR] [--resume] [--M 0.1,0.5 --eta 0.01] \
        [--designs gdm,raw]

Grids (d2rl_jax/grids.py): action_exp (MLP vs diffusion actor, Figs. 2-3), reward_exp (five reward
designs, Figs. 4-6), state_exp (M x eta for each learned/designed reward with state exploration,
raw with it, and every design without it, Figs. 7-9). The plan (runs, chunks, bytes per run,
compile count) is printed and written to DIR/plan.json before training; DIR/summary.csv gets one
row per run, DIR/tensorboard/ each run's TensorBoard events; `python -m experiments.figures --from DIR`
draws the figures and reproduction.md.
An interrupted sweep continues with --resume and loses no finished run. A run whose learner state turns
non-finite is marked DIVERGED (progress line, table, `diverged_epoch` in summary.csv) and the sweep keeps the
others and exits 0.

Several devices: the run axis of each chunk is sharded over them. Several hosts (TPU pod, GPU
cluster): start this command on every host with --distributed (docs/sweeps.md).
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from d2rl_jax.config import ConfigError
from d2rl_jax.env import ENVIRONMENTS
from d2rl_jax.run.grids import GRIDS, SWEEP_PRESETS, sweep_config
from d2rl_jax.run.io import write_json_atomic
from d2rl_jax.run.summaries import divergence_note, select_best_points
from d2rl_jax.run.sweep import plan_sweep, prepare_sweep_dir, run_sweep, sweep_timing
from d2rl_jax.run.timing import device_info
from experiments import common
from experiments.common import (
    define_distributed_flags,
    define_grid_flags,
    grid_from_flags,
    init_distributed,
    run_cli,
)

FLAGS = flags.FLAGS
flags.DEFINE_enum("grid", None, list(GRIDS), "Named grid (d2rl_jax/grids.py).")
flags.DEFINE_enum("preset", "quick", list(SWEEP_PRESETS), "Sweep preset (sizes and epochs, d2rl_jax/run/grids.py).")
flags.DEFINE_enum("env", None, list(ENVIRONMENTS), "Environment (default: the preset's, the paper's full duplex).")
flags.DEFINE_integer("seeds", 2, "Seeds per grid point.", lower_bound=1)
flags.DEFINE_integer("seed_offset", 0, "First seed.")
flags.DEFINE_integer("epochs", None, "Epochs per run (default: the preset's); a multiple of --chunk.", lower_bound=1)
flags.DEFINE_integer("chunk", None, "Epochs per compiled chunk between progress lines and checkpoints.",
                     lower_bound=1)
define_grid_flags()
flags.adopt_module_key_flags(common)  # --help lists the grid flags too
flags.DEFINE_float("memory_gb", None, "Memory budget in GiB for the runs of one chunk (default: 75% of the "
                   "devices' free memory).", lower_bound=0.001)
flags.DEFINE_integer("max_chunk", None, "At most this many runs per chunk.", lower_bound=1)
flags.DEFINE_string("out", None, "Output directory (default runs/sweep_<grid>_<preset>).")
flags.DEFINE_bool("resume", False, "Continue the sweep in --out: finished chunks are skipped.")
flags.DEFINE_bool("tensorboard", True, "TensorBoard events of every run under DIR/tensorboard.")
flags.DEFINE_bool("checkpoints", True, "Orbax checkpoints after every compiled chunk of epochs (the replay buffers "
                  "dominate their size); without them an interrupted chunk restarts, finished chunks are kept.")
flags.DEFINE_integer("project_epochs", None, "Also report the wall time this sweep would take at this many epochs "
                     "(from the measured seconds per epoch plus the compile time).", lower_bound=1)
define_distributed_flags()
flags.mark_flag_as_required("grid")


def _final_table(rows: list[dict], grid: str) -> str:
    lines = [f"{'variant':<32}{'runs':>5}{'final C':>9}{'C/C*':>7}{'conv.ep':>9}{'s/epoch/run':>13}"]
    for name in dict.fromkeys(r["variant"] for r in rows):
        group = [r for r in rows if r["variant"] == name]
        lines.append(f"{name:<32}{len(group):>5}{np.mean([r['final_sum_rate'] for r in group]):9.3f}"
                     f"{np.mean([r['ratio_to_optimizer'] for r in group]):7.3f}"
                     f"{np.mean([r['convergence_epoch'] for r in group]):9.0f}"
                     f"{np.mean([r['seconds_per_epoch'] for r in group]):13.5f}"
                     + (f"  {note}" if (note := divergence_note([r.get("diverged_epoch") for r in group])) else ""))
    if grid == "state_exp":
        best, rule = select_best_points(rows)
        lines += ["", f"best (M, eta) per design -- {rule}:"]
        for variant, b in best.items():
            lines.append(f"  {variant:<30} M={b['M']:g} eta={b['eta']:g}  conv. epoch {b['convergence_epoch']:.0f}"
                         f"  final C {b['final_sum_rate']:.3f}")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    init_distributed()
    try:
        base_cfg, base_hp = sweep_config(FLAGS.preset, epochs=FLAGS.epochs, chunk=FLAGS.chunk, env=FLAGS.env)
        variants = grid_from_flags(FLAGS.grid, base_hp)
    except ConfigError as err:
        raise app.UsageError(str(err)) from None
    env = "" if FLAGS.env in (None, "full_duplex") else f"_{FLAGS.env}"
    out = Path(FLAGS.out or f"runs/sweep_{FLAGS.grid}_{FLAGS.preset}{env}")
    seeds = list(range(FLAGS.seed_offset, FLAGS.seed_offset + FLAGS.seeds))
    budget = None if FLAGS.memory_gb is None else int(FLAGS.memory_gb * 2**30)
    try:
        resuming = FLAGS.resume and (out / "plan.json").exists()  # the saved plan's chunking and bytes are taken
        plan = plan_sweep(FLAGS.grid, variants, base_cfg, seeds, budget_bytes=budget, max_chunk=FLAGS.max_chunk,
                          measure=not resuming)
        prepare_sweep_dir(plan, out, FLAGS.resume)  # before anything is written
    except (FileExistsError, ValueError, MemoryError) as err:
        raise app.UsageError(f"--out={out}: {err}" if isinstance(err, FileExistsError | ValueError) else str(err)
                             ) from None
    print(plan.describe() + f"\n-> {out}  (device: {device_info()['device_kind']})", flush=True)
    rows = run_sweep(plan, out, resume=FLAGS.resume, checkpoints=FLAGS.checkpoints, tensorboard=FLAGS.tensorboard,
                     progress=lambda line: print(line, flush=True))
    table = _final_table(rows, FLAGS.grid)
    timing = {**sweep_timing(rows, FLAGS.project_epochs), "device": device_info()}
    if jax.process_index() == 0:
        write_json_atomic(out / "timing.json", timing)
    line = f"compiled chunks {timing['train_s']:.1f} s + compiling {timing['compile_s']:.1f} s"
    if FLAGS.project_epochs:
        line += (f"; projected at {FLAGS.project_epochs} epochs: {timing['projected_total_s']:.0f} s "
                 f"({timing['projected_total_s'] / 60:.1f} min)")
    print("\n" + table + "\n\n" + line + f"\nwrote {out}/plan.json, summary.csv, timing.json, per-chunk metrics; "
          f"figures: python -m experiments.figures --from {out}", flush=True)
    diverged = sum(r.get("diverged_epoch") is not None for r in rows)
    if diverged:  # a sweep keeps its other runs and exits 0: a diverged point is one of its results
        print(f"warning: {diverged} of {len(rows)} runs diverged (learner state non-finite): marked DIVERGED above "
              "and by diverged_epoch in summary.csv; their figures end them with a mark", flush=True)


if __name__ == "__main__":
    run_cli(main, "interrupted: rerun with --resume to continue; finished chunks are kept")
