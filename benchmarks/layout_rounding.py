r"""How much a run's numbers depend on the program layout: the same seeds trained with every run on one device (vmap
width = runs) and sharded over two devices (width = runs / 2), in one process with two forced CPU devices.

    python -m benchmarks.layout_rounding [--preset quick] [--epochs 100] [--seeds 4] \
        [--out benchmarks/results/layout_rounding_cpu.json]

The random bits do not depend on the layout (one key per run; threefry is partitionable), but XLA compiles another
program for another width, whose float rounding differs: reported per actor are the first epoch at which each
seed's training sum rate differs, the final held-out C/C* of both layouts, their per-seed difference and, for
scale, the standard deviation of the final C/C* over seeds. docs/design-notes.md ("Faults") records the numbers.
"""

from __future__ import annotations

import os

# Two CPU devices in this process (before jax initializes its backend).
os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from d2rl_jax.config import ACTOR_KINDS, TRAIN_PRESETS, preset_hparams, train_preset  # noqa: E402
from d2rl_jax.run.io import write_json_atomic  # noqa: E402
from d2rl_jax.run.runner import run_training  # noqa: E402
from d2rl_jax.run.timing import device_info  # noqa: E402
from experiments.common import run_cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "quick", list(TRAIN_PRESETS), "Training preset.")
flags.DEFINE_integer("epochs", 100, "Epochs per run (one chunk; four evaluations).", lower_bound=4)
flags.DEFINE_integer("seeds", 4, "Seeds (an even number: the runs are split over two devices).", lower_bound=2)
flags.DEFINE_list("actors", list(ACTOR_KINDS), f"Actors, from {ACTOR_KINDS}.")
flags.DEFINE_string("out", None, "JSON to write (default benchmarks/results/layout_rounding_<backend>.json).")

LAYOUTS = {"one_device": False, "two_devices": True}  # run_training's `shard`


def compare(actor: str) -> dict:
    if FLAGS.epochs % 4:
        raise app.UsageError(f"--epochs={FLAGS.epochs}: must be a multiple of 4 (four evaluations)")
    cfg = train_preset(FLAGS.preset).replace(actor=actor, num_epochs=FLAGS.epochs, chunk_epochs=FLAGS.epochs,
                                             eval_every=FLAGS.epochs // 4)
    seeds = list(range(FLAGS.seeds))
    runs = {name: run_training(cfg, seeds, preset_hparams(FLAGS.preset), shard=shard, progress=None)
            for name, shard in LAYOUTS.items()}
    a, b = (runs[name].epoch_metrics["sum_rate"] for name in LAYOUTS)
    first = [int(np.argmax(a[i] != b[i])) + 1 if (a[i] != b[i]).any() else None for i in range(len(seeds))]
    final = {name: runs[name].eval_metrics["eval_ratio_to_optimizer"][:, -1].astype(float) for name in LAYOUTS}
    difference = np.abs(final["one_device"] - final["two_devices"])
    return {"vmap_width": {"one_device": len(seeds), "two_devices": len(seeds) // 2},
            "first_differing_epoch_per_seed": first,
            "final_ratio": {name: values.tolist() for name, values in final.items()},
            "abs_difference_final_ratio_per_seed": difference.tolist(),
            "max_abs_difference_final_ratio": float(difference.max()),
            "seed_std_final_ratio": float(np.std(final["one_device"], ddof=1))}


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.seeds % 2:
        raise app.UsageError(f"--seeds={FLAGS.seeds}: must be even (the runs are split over two devices)")
    bad = [a for a in FLAGS.actors if a not in ACTOR_KINDS]
    if bad:
        raise app.UsageError(f"--actors={','.join(FLAGS.actors)}: each must be one of {ACTOR_KINDS}")
    results = {}
    for actor in FLAGS.actors:
        results[actor] = compare(actor)
        r = results[actor]
        print(f"{actor}: first differing epoch per seed {r['first_differing_epoch_per_seed']}; final C/C* differs by "
              f"at most {r['max_abs_difference_final_ratio']:.2e} (seed std {r['seed_std_final_ratio']:.3f})",
              flush=True)
    out = FLAGS.out or f"benchmarks/results/layout_rounding_{jax.default_backend()}.json"
    write_json_atomic(out, {"benchmark": "layout_rounding", "preset": FLAGS.preset, "epochs": FLAGS.epochs,
                            "seeds": FLAGS.seeds, "device": device_info(), "actors": results})
    print(f"wrote {out}")


if __name__ == "__main__":
    run_cli(main)
