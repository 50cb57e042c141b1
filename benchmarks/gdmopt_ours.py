r"""One run of ours on GDMOPT's power allocation for a budget of training seconds, scored on the shared held-out draws.

    python -m benchmarks.gdmopt_ours --variant mlp --seed 0 --budget_s 120 --heldout H.npz --scores_out S.json

The side-by-side benchmark (benchmarks/gdmopt_side_by_side.py) launches this once per variant and seed, alternating
with GDMOPT's own trainer. A variant is a config of `gdmopt_power` (VARIANTS): our quick preset's learner with the
MLP or the diffusion actor, or GDMOPT's own settings (one environment step and one update of batch 512 per epoch,
learning rates 1e-4, weight decay 1e-4, the diffusion actor sampling at temperature 1 with its hard x0 clip).
Training runs (`run_training`) in compiled chunks of `score_every` epochs, each ending in the held-out evaluation on
the file's draws (the evaluation's seconds count as training time: they run inside the chunk). After each chunk the
held-out reward C - C_WF and the time are recorded; the run stops after the first chunk that ends past the budget.
Times: `train_s` sums the compiled chunks' seconds (compile apart); `unix_time` lets the launcher measure the wall
time from launch (imports and compiling included).
"""

from __future__ import annotations

import time

PROCESS_START = time.time()  # before the heavy imports

import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from d2rl_jax.config import ConfigError, HyperParams, TrainConfig  # noqa: E402
from d2rl_jax.run.grids import preset_config  # noqa: E402
from d2rl_jax.run.io import write_json_atomic  # noqa: E402
from d2rl_jax.run.runner import run_training  # noqa: E402
from d2rl_jax.training.evaluation import held_out_batch  # noqa: E402
from experiments.common import run_cli  # noqa: E402

# GDMOPT's main.py defaults, in our settings: one environment step and one critic and actor step of batch 512 per
# epoch, AdamW 1e-4 / 1e-4 with weight decay 1e-4, tau 5e-3, a 1e6 buffer, 3 hidden layers after the condition;
# its diffusion actor samples at temperature 1 (executed and differentiated) with the hard x0 clip and is scored by
# one sample. GDMOPT adds N(0, 0.1) to 10% of the executed actions; Gaussian noise of std 0.1 on every action is the
# nearest of our explorations.
GDMOPT_SETTINGS = {"num_envs": 1, "batch_size": 512, "buffer_size": 1_000_000, "critic_updates": 1,
                   "policy_delay": 1, "actor_depth": 3, "imitation_target": "none", "eval_mode": "sample"}
GDMOPT_HPARAMS = {"actor_lr": 1e-4, "critic_lr": 1e-4, "weight_decay": 1e-4, "tau": 5e-3, "gamma": 1.0,
                  "noise_std": 0.1, "action_temperature": 1.0, "actor_temperature": 1.0}
VARIANTS = ("mlp", "diffusion", "mlp_gdmopt", "diffusion_gdmopt")
SCORE_EVERY = {"mlp": 10, "diffusion": 10, "mlp_gdmopt": 500, "diffusion_gdmopt": 200}  # epochs: a few seconds

FLAGS = flags.FLAGS


def variant_config(variant: str, score_every: int | None = None) -> tuple[TrainConfig, HyperParams]:
    """The config and traced settings of `variant` on gdmopt_power, in chunks of `score_every` epochs, each ending
    in one evaluation of the configured mode only."""
    if variant not in VARIANTS:
        raise ConfigError(f"variant={variant!r} is invalid: must be one of {VARIANTS}")
    cfg, hp = preset_config("quick", env="gdmopt_power")
    actor, _, settings = variant.partition("_")
    cfg = cfg.replace(actor=actor, eval_all_modes=False)
    if settings == "gdmopt":
        cfg = cfg.replace(**GDMOPT_SETTINGS, diffusion=cfg.diffusion.replace(x0_bound="clip"))
        hp = hp.replace(**GDMOPT_HPARAMS)
    every = SCORE_EVERY[variant] if score_every is None else score_every
    # The epoch count only bounds the loop (the budget stops it); every chunk is the same program.
    return cfg.replace(chunk_epochs=every, eval_every=every, num_epochs=every * 1_000_000), hp


def shared_draws_match(cfg: TrainConfig, gains: np.ndarray, c_wf: np.ndarray) -> bool:
    """Whether the file holds this config's held-out draws and their water-filling optimum."""
    batch = held_out_batch(cfg)
    return (gains.shape == np.shape(batch.obs) and np.allclose(gains, np.asarray(batch.obs), rtol=0, atol=1e-6)
            and np.allclose(c_wf, np.asarray(batch.optimum), rtol=1e-5, atol=1e-5))


def train_scored(variant: str, seed: int, budget_s: float, gains: np.ndarray, c_wf: np.ndarray,
                 score_every: int | None = None, launch_time: float = PROCESS_START) -> dict:
    cfg, hp_one = variant_config(variant, score_every)
    if not shared_draws_match(cfg, gains, c_wf):
        raise ValueError("the held-out file does not hold this config's held-out draws: write it with "
                         "benchmarks.gdmopt_side_by_side (eval_seed and eval_states must match)")
    points: list[dict] = []

    def record(_, eval_metrics: dict[str, np.ndarray], chunk_s: float) -> None:
        reward = float(eval_metrics["eval_reward"][0, -1])
        epoch = (len(points) + 1) * cfg.chunk_epochs
        if not np.isfinite(reward):
            raise FloatingPointError(f"{variant} seed {seed}: non-finite held-out reward at epoch {epoch}")
        points.append({"epoch": epoch, "train_s": (points[-1]["train_s"] if points else 0.0) + chunk_s,
                       "unix_time": time.time(), "reward": reward,
                       "ratio": float(eval_metrics["eval_ratio_to_optimizer"][0, -1])})

    result = run_training(cfg, [seed], hp_one, progress=None, on_chunk=record,
                          until=lambda _, train_s: train_s >= budget_s)
    return {"variant": variant, "seed": seed, "budget_s": budget_s, "compile_s": result.compile_s,
            "launch_unix_time": launch_time, "seconds_per_epoch": points[-1]["train_s"] / points[-1]["epoch"],
            "points": points, "train_config": cfg.to_dict(), "hyperparams": hp_one.to_dict()}


def define_flags() -> None:
    """The program's flags: defined when it runs, so that its functions import into tests and other programs."""
    flags.DEFINE_enum("variant", "mlp", list(VARIANTS), "What trains: our quick preset's learner or GDMOPT's settings "
                      "(`_gdmopt`), with the MLP or the diffusion actor.")
    flags.DEFINE_integer("seed", 0, "The run's seed.", lower_bound=0)
    flags.DEFINE_float("budget_s", 120.0, "Training seconds (compiled chunks): stops after the chunk that passes it.",
                       lower_bound=0.0)
    flags.DEFINE_integer("score_every", None, "Epochs per chunk, one held-out score each (default: the variant's).",
                         lower_bound=1)
    flags.DEFINE_string("heldout", None, "The shared held-out draws (.npz with gains and c_wf): checked against ours.")
    flags.DEFINE_string("scores_out", None, "Output JSON: the scored points and the run's settings.")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.heldout is None or FLAGS.scores_out is None:
        raise app.UsageError("--heldout and --scores_out are required")
    data = np.load(FLAGS.heldout)
    result = train_scored(FLAGS.variant, FLAGS.seed, FLAGS.budget_s, data["gains"], data["c_wf"], FLAGS.score_every)
    write_json_atomic(FLAGS.scores_out, result)
    last = result["points"][-1]
    print(f"[{FLAGS.variant} seed {FLAGS.seed}] epoch {last['epoch']}, {last['train_s']:.1f} s: held-out reward "
          f"{last['reward']:.4f} (C/C_WF {last['ratio']:.4f}); {result['seconds_per_epoch'] * 1e3:.2f} ms/epoch, "
          f"compile {result['compile_s']:.1f} s", flush=True)


if __name__ == "__main__":
    define_flags()
    run_cli(main)
