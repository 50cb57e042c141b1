r"""The diffusion actor on the target probe under every learner setting (Step 10's probe goal, docs/learning.md).

    python -m experiments.probe_learners [--settings ddpg,ddpg_tanh,cpql,dpmd,qvpo,dipo] [--seeds 3] \
        [--epochs 400] [--out benchmarks/results/probe_learners]

`ProbeEnv(kind="target")` (reward -||a - a*||^2, a* fixed, 10 actions from 11 observations) with the `small`
preset's networks and the probe test's traced settings (tests/test_train.py: learning rates 3e-3, Gaussian
exploration 0.1): for each setting and seed, the final mean ||a - a*||^2 on the held-out observations in each
evaluation mode (one sample, the noise-free chain, the best of K by the critic). The seeds of a setting run one
after another in one compiled program. Prints a markdown table and writes DIR/probe_learners.json (atomically).
"""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from d2rl_jax.config import EVAL_MODES, HyperParams, train_preset
from d2rl_jax.env.probe import ProbeEnv
from d2rl_jax.run.io import write_json_atomic, write_text_atomic
from d2rl_jax.run.timing import device_info
from d2rl_jax.training import hparams_to_arrays, make_train
from experiments.common import require_choices, run_cli

# setting -> static changes of the diffusion actor's small-preset config (TrainConfig.with_changes)
SETTINGS = {
    "ddpg": {},
    "ddpg_tanh": {"x0_bound": "tanh"},
    "cpql": {"imitation_target": "best_of_k"},
    "dpmd": {"learner": "dpmd"},
    "qvpo": {"learner": "qvpo"},
    "dipo": {"learner": "dipo"},
}
PROBE_HPARAMS = HyperParams(actor_lr=3e-3, critic_lr=3e-3)  # tests/test_train.py's probe test

FLAGS = flags.FLAGS
flags.DEFINE_list("settings", list(SETTINGS), f"Learner settings, from {tuple(SETTINGS)}.")
flags.DEFINE_integer("seeds", 3, "Seeds per setting.", lower_bound=1)
flags.DEFINE_integer("epochs", 400, "Epochs per run.", lower_bound=1)
flags.DEFINE_string("out", "benchmarks/results/probe_learners", "Output directory.")


def probe_config(setting: str, epochs: int):
    base = train_preset("small").replace(actor="diffusion", reward="raw", num_epochs=epochs, chunk_epochs=epochs,
                                         eval_every=epochs, eval_mode="deterministic", eval_all_modes=True)
    return base.with_changes(**SETTINGS[setting])


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    require_choices("settings", FLAGS.settings, SETTINGS)
    results = {}
    lines = ["| setting | " + " | ".join(f"‖a − a*‖² {mode} (seeds 0–{FLAGS.seeds - 1})" for mode in EVAL_MODES)
             + " |", "|---|" + "---|" * len(EVAL_MODES)]
    for setting in FLAGS.settings:
        fns = make_train(probe_config(setting, FLAGS.epochs), ProbeEnv(kind="target"))
        train = jax.jit(fns.train)
        per_mode = {mode: [] for mode in EVAL_MODES}
        for seed in range(FLAGS.seeds):
            _, (_, evals) = train(jax.random.key(seed), hparams_to_arrays(PROBE_HPARAMS))
            for mode in EVAL_MODES:
                per_mode[mode].append(float(-np.asarray(evals[f"eval_sum_rate_{mode}"])[-1]))
        results[setting] = per_mode
        lines.append(f"| {setting} | " + " | ".join(" / ".join(f"{v:.3f}" for v in per_mode[mode])
                                                     for mode in EVAL_MODES) + " |")
        print(lines[-1], flush=True)
    out = Path(FLAGS.out)
    write_json_atomic(out / "probe_learners.json", {"epochs": FLAGS.epochs, "seeds": FLAGS.seeds,
                                                    "settings": {s: SETTINGS[s] for s in FLAGS.settings},
                                                    "final_distance": results, "device": device_info()})
    write_text_atomic(out / "probe_learners.md", "\n".join(lines) + "\n")
    print("\n".join(lines) + f"\n\nwrote {out}/probe_learners.json, probe_learners.md", flush=True)


if __name__ == "__main__":
    run_cli(main)
