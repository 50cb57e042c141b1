r"""Seconds to a level of held-out C/C* for one run per actor: the headline number of learning speed.

    python -m benchmarks.time_to_target [--preset paper] [--actors mlp,diffusion] [--epochs 5000] [--seeds 1]

Trains each actor (DDPG, the preset's settings) with `run_training` for `--epochs` and reports, per seed, the
first evaluation epoch at which held-out C/C* reaches 0.5 and 0.8 and the seconds to it: that epoch times the
measured seconds per epoch of the compiled chunks (compile time apart, and the time from process start to the
first trained epoch beside it). Evaluations come every `eval_every` epochs, so an epoch is resolved to that
period. Writes benchmarks/results/time_to_target_<preset>.json.
"""

from __future__ import annotations

import time

PROCESS_START = time.time()  # before the heavy imports

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from d2rl_jax.config import ACTOR_KINDS, TRAIN_PRESETS, preset_hparams, train_preset  # noqa: E402
from d2rl_jax.run.io import write_json_atomic  # noqa: E402
from d2rl_jax.run.runner import run_training  # noqa: E402
from d2rl_jax.run.summaries import RATIO_LEVELS, milestone_columns, run_rows  # noqa: E402
from d2rl_jax.run.timing import device_info  # noqa: E402
from experiments.common import require_choices, run_cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "paper", list(TRAIN_PRESETS), "Training preset.")
flags.DEFINE_list("actors", ["mlp"], f"Actor kinds, from {ACTOR_KINDS}.")
flags.DEFINE_integer("epochs", 5000, "Epochs per run (a multiple of the preset's chunk).", lower_bound=1)
flags.DEFINE_integer("seeds", 1, "Runs per actor (vmapped in one program; seconds are each run's share).",
                     lower_bound=1)
flags.DEFINE_string("out", None, "Output JSON (default benchmarks/results/time_to_target_<preset>.json).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    require_choices("actors", FLAGS.actors, ACTOR_KINDS)
    base = train_preset(FLAGS.preset).with_schedule(epochs=FLAGS.epochs)
    seeds = list(range(FLAGS.seeds))
    results = {}
    for actor in FLAGS.actors:
        cfg = base.replace(actor=actor)
        started = time.time()
        result = run_training(cfg, seeds, preset_hparams(FLAGS.preset),
                              progress=lambda line, actor=actor: print(f"[{actor}] {line}", flush=True))
        per_run_s = result.seconds_per_epoch / len(seeds)
        rows = run_rows(result.epoch_metrics, result.eval_metrics, cfg, per_run_s)
        results[actor] = {
            "seconds_per_epoch_per_run": per_run_s,
            "compile_s": result.compile_s,
            "wall_s": time.time() - started,
            "final_ratio_to_optimizer": [r["ratio_to_optimizer"] for r in rows],
            "eval_epochs": result.eval_metrics["eval_epoch"][0].tolist(),
            "eval_ratio_to_optimizer": np.round(result.eval_metrics["eval_ratio_to_optimizer"], 4).tolist(),
            **{column: [r[column] for r in rows] for level in RATIO_LEVELS for column in milestone_columns(level)},
        }
        line = ", ".join(f"{level:g}·C* at epoch {results[actor][milestone_columns(level)[0]]} "
                         f"({results[actor][milestone_columns(level)[1]]} s)" for level in RATIO_LEVELS)
        print(f"[{actor}] {line}; {per_run_s:.4f} s/epoch, compile {result.compile_s:.1f} s", flush=True)
    out = FLAGS.out or f"benchmarks/results/time_to_target_{FLAGS.preset}.json"
    write_json_atomic(out, {"preset": FLAGS.preset, "epochs": FLAGS.epochs, "seeds": seeds, "actors": results,
                            "process_start_to_end_s": time.time() - PROCESS_START, "device": device_info()})
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    run_cli(main)
