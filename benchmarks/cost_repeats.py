"""Device seconds per training epoch of every variant of the paper's experiments, with every repeat kept.

    python -m benchmarks.cost_repeats [--preset quick_step7] [--epochs 50] [--repeats 5] [--variants A,B] [--out PATH]

The programs: one run (N = 1) of each variant of action_exp (mlp.designed, diffusion.designed), reward_exp
(diffusion.<design>, the five designs) and state_exp's state-exploration variants (diffusion.<design>.state, at
each one's first (M, eta) point), on the sweep preset's config with chunks of --epochs epochs (one held-out
evaluation per chunk), deduplicated by variant name. Every program is compiled and warmed first (one chunk, which
fills the buffer past the warm-up); then each of --repeats rounds times one chunk of every program, in the same
order (interleaved: drift of the machine hits every program alike). Every repeat's seconds per epoch is kept, so
that a report can put a confidence interval on cost ratios. Writes
benchmarks/results/cost_repeats_<preset>_<platform>.json (platform: jax's default backend).
"""

from __future__ import annotations

import math
import statistics
import time

import jax
from absl import app, flags

from d2rl_jax.config import ConfigError
from d2rl_jax.run.grids import SWEEP_PRESETS, Variant, make_grid, sweep_config
from d2rl_jax.run.io import write_json_atomic
from d2rl_jax.run.throughput import PreparedRuns, prepare_runs, time_chunks
from d2rl_jax.run.timing import device_info
from d2rl_jax.training import make_train
from experiments.common import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_string("preset", "quick_step7", f"Sweep preset whose config is timed, one of {SWEEP_PRESETS}.")
flags.DEFINE_integer("epochs", 50, "Epochs per timed chunk, one held-out evaluation each (50: the sweeps' "
                     "evaluation interval, so an epoch carries an evaluation's share as in a sweep).", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed chunks per program, interleaved over the programs.", lower_bound=3)
flags.DEFINE_list("variants", None, "Time only these variants (default: all of them).")
flags.DEFINE_string("out", None, "Output JSON path (default benchmarks/results/cost_repeats_<preset>_<platform>.json).")

ORDER = "interleaved: every repeat times each program once, in the same order"


def variants(hp) -> list[Variant]:
    """action_exp, reward_exp and state_exp's state-exploration variants, each once, the latter at their first
    (M, eta) point."""
    grid = (*make_grid("action_exp", hp), *make_grid("reward_exp", hp), *make_grid("state_exp", hp, baselines=False))
    unique: dict[str, Variant] = {}
    for v in grid:
        unique.setdefault(v.name, v)
    return list(unique.values())


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.preset not in SWEEP_PRESETS:
        raise app.UsageError(f"--preset={FLAGS.preset!r} is invalid: must be one of {SWEEP_PRESETS}")
    try:
        base_cfg, base_hp = sweep_config(FLAGS.preset, epochs=FLAGS.epochs, chunk=FLAGS.epochs)
    except ConfigError as err:
        raise app.UsageError(str(err)) from None
    out = FLAGS.out or f"benchmarks/results/cost_repeats_{FLAGS.preset}_{jax.default_backend()}.json"
    chosen = variants(base_hp)
    if FLAGS.variants:
        unknown = sorted(set(FLAGS.variants) - {v.name for v in chosen})
        if unknown:
            raise app.UsageError(f"--variants: {unknown} not among {[v.name for v in chosen]}")
        chosen = [v for v in chosen if v.name in FLAGS.variants]
    print(f"{len(chosen)} programs, {FLAGS.preset} preset, chunks of {FLAGS.epochs} epochs "
          f"(evaluation every {base_cfg.eval_every}), {FLAGS.repeats} interleaved repeats, on "
          f"{device_info()['device_kind']} -> {out}", flush=True)
    start = time.perf_counter()
    prepared: list[tuple[Variant, PreparedRuns]] = []
    for i, variant in enumerate(chosen, 1):
        t0 = time.perf_counter()
        prepared.append((variant, prepare_runs(make_train(variant.config(base_cfg)), 1, variant.points[0])))
        print(f"[{i}/{len(chosen)}] {variant.name:<28} compiled in {prepared[-1][1].compile_s:6.1f} s, "
              f"ready after {time.perf_counter() - t0:6.1f} s", flush=True)
    seconds: dict[str, list[float]] = {v.name: [] for v in chosen}
    for r in range(FLAGS.repeats):
        for variant, program in prepared:
            (s,) = time_chunks(program, 1)
            seconds[variant.name].append(s / FLAGS.epochs)
            print(f"repeat {r + 1}/{FLAGS.repeats} {variant.name:<28} {1e3 * s / FLAGS.epochs:8.2f} ms/epoch",
                  flush=True)
    programs = []
    for variant, program in prepared:
        hp = variant.points[0]
        per_epoch = seconds[variant.name]
        if not all(math.isfinite(x) for x in [*per_epoch, program.compile_s]):
            raise RuntimeError(f"{variant.name}: non-finite timing {per_epoch}")
        programs.append({"variant": variant.name, "actor": variant.actor, "reward": variant.reward,
                         "state_exploration": variant.state_exploration,
                         "M": hp.max_replace_prob if variant.state_exploration else None,
                         "eta": hp.replace_rate if variant.state_exploration else None,
                         "runs": program.runs, "compile_s": program.compile_s, "seconds_per_epoch": per_epoch})
    result = {"benchmark": "cost_repeats", "preset": FLAGS.preset, "epochs_per_chunk": FLAGS.epochs,
              "eval_every": base_cfg.eval_every, "repeats": FLAGS.repeats, "order": ORDER, "device": device_info(),
              "programs": programs}
    path = write_json_atomic(out, result)
    print(f"\n{'variant':<28} {'mean ms/epoch':>13} {'min':>8} {'max':>8}")
    for p in programs:
        ms = [1e3 * x for x in p["seconds_per_epoch"]]
        print(f"{p['variant']:<28} {statistics.mean(ms):13.2f} {min(ms):8.2f} {max(ms):8.2f}")
    print(f"wrote {path} ({time.perf_counter() - start:.0f} s)", flush=True)


if __name__ == "__main__":
    run_cli(main)
