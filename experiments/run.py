r"""Train DDPG (double critic) with MLP and/or diffusion actors: seeds vmapped in one program.

    python -m experiments.run --preset quick --actor mlp,diffusion --reward designed \
        --epochs 1000 --seeds 2 --out runs/quick [--resume]
    python -m experiments.run --reward designed_gdm --state_exp --M 0.4 --eta 0.01 [--T 14]

Rewards (DESIGN §6): raw, designed, designed_mlp, designed_gdm, gdm. --state_exp turns on GDM
state exploration (Algorithm 1) with maximum substitute probability M, rate eta, gate threshold T.

Writes, atomically:
  DIR/config.json                      every static and traced setting
  DIR/<actor>/metrics.npz              per-epoch and per-evaluation metrics, (seeds, ...)
  DIR/<actor>/checkpoints/             orbax checkpoints after every chunk (for --resume)
  DIR/<actor>/run.json                 the runs' config, seeds, hyperparameters (experiments.retrain --from)
  DIR/summary.json                     per variant: final/best sum rate, C/C*, convergence epoch, timing
  DIR/sum_rate.png, DIR/ma_reward.png, DIR/eval_sum_rate.png   mean +- 95% CI over seeds
  DIR/chi.png                          with --state_exp: the substitute probability chi per epoch
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from absl import app, flags

from d2rl_jax.checkpoint import latest_checkpoint
from d2rl_jax.config import ACTOR_KINDS, REWARD_DESIGNS, TRAIN_PRESETS, ConfigError, HyperParams, train_preset
from d2rl_jax.io import write_bytes_atomic, write_json_atomic, write_text_atomic
from d2rl_jax.metrics import moving_average
from d2rl_jax.retrain import write_run_info
from d2rl_jax.runner import RunResult, run_training
from d2rl_jax.summaries import run_rows
from d2rl_jax.timing import device_info
from experiments.common import quiet_backend_probe
from experiments.plots import plot_curves

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "quick", list(TRAIN_PRESETS), "Training preset (environment + training sizes).")
flags.DEFINE_list("actor", ["mlp", "diffusion"], f"Actor kinds to train, comma-separated, from {ACTOR_KINDS}.")
flags.DEFINE_enum("reward", None, list(REWARD_DESIGNS), "Reward design (default: the preset's).")
flags.DEFINE_integer("epochs", None, "Epochs (default: the preset's); a multiple of --chunk.", lower_bound=1)
flags.DEFINE_integer("chunk", None, "Epochs per compiled chunk between progress lines and checkpoints.",
                     lower_bound=1)
flags.DEFINE_integer("eval_every", None, "Epochs between held-out evaluations.", lower_bound=1)
flags.DEFINE_integer("seeds", 2, "Number of seeds (vmapped in one program).", lower_bound=1)
flags.DEFINE_integer("seed_offset", 0, "First seed.")
flags.DEFINE_float("actor_lr", HyperParams.actor_lr, "Actor learning rate.")
flags.DEFINE_float("critic_lr", HyperParams.critic_lr, "Critic learning rate.")
flags.DEFINE_float("epsilon", HyperParams.epsilon, "Epsilon-greedy exploration probability.")
flags.DEFINE_float("kappa", HyperParams.kappa, "Weight of the learned reward term (designed_mlp/_gdm, gdm).")
flags.DEFINE_bool("state_exp", False, "GDM state exploration (Algorithm 1).")
flags.DEFINE_float("M", HyperParams.max_replace_prob, "State exploration: maximum substitute probability M.")
flags.DEFINE_float("eta", HyperParams.replace_rate, "State exploration: update rate eta of chi.")
flags.DEFINE_float("T", HyperParams.gate_threshold,
                   "State exploration: gate threshold T (chi rises while the gate quantity is below it; "
                   "see docs/design-notes.md for the measured range).")
flags.DEFINE_string("out", None, "Output directory (default runs/<preset>).")
flags.DEFINE_bool("resume", False, "Continue from the checkpoints in --out.")


_FLAG_OF_FIELD = {"max_replace_prob": "--M", "replace_rate": "--eta", "gate_threshold": "--T"}


def _config():
    changes = {}
    if FLAGS.reward is not None:
        changes["reward"] = FLAGS.reward
    if FLAGS.state_exp:
        changes["state_exploration"] = True
    cfg = train_preset(FLAGS.preset).replace(**changes)
    return cfg.with_schedule(epochs=FLAGS.epochs, chunk=FLAGS.chunk, eval_every=FLAGS.eval_every)


def _summary(result: RunResult, cfg, actor: str) -> dict:
    """Means over seeds of the per-run rows, with the per-seed convergence epochs and chi rises."""
    seeds = result.eval_metrics["eval_sum_rate"].shape[0]
    rows = run_rows(result.epoch_metrics, result.eval_metrics, cfg, result.seconds_per_epoch / seeds)

    def mean(name):
        return float(np.mean([r[name] for r in rows]))

    summary = {
        "actor": actor,
        "seeds": seeds,
        "final_eval_sum_rate": mean("final_sum_rate"),
        "best_eval_sum_rate": mean("best_sum_rate"),
        "final_ratio_to_optimizer": mean("ratio_to_optimizer"),
        "final_ratio_to_bound": mean("ratio_to_bound"),
        "final_ma_sum_rate": mean("final_ma_sum_rate"),
        "convergence_epoch_per_seed": [r["convergence_epoch"] for r in rows],
        "convergence_epoch": mean("convergence_epoch"),
        "seconds_per_epoch_all_seeds": result.seconds_per_epoch,
        "seconds_per_epoch_per_run": result.seconds_per_epoch / seeds,
        "seconds_to_convergence": mean("convergence_epoch") * result.seconds_per_epoch,
        "compile_s": None if np.isnan(result.compile_s) else result.compile_s,  # None: fully resumed
        "nonfinite_actions": sum(r["nonfinite_actions"] for r in rows),
    }
    if cfg.state_exploration:  # DESIGN §7: a run where chi never left 0 is not a state-exploration result
        summary.update(chi_rise_epoch_per_seed=[r["chi_rise_epoch"] for r in rows], final_chi=mean("final_chi"),
                       replacements=sum(r["replacements"] for r in rows))
    return summary


def _save_metrics(path: Path, result: RunResult) -> None:
    buffer = io.BytesIO()
    arrays = {f"epoch/{k}": v for k, v in result.epoch_metrics.items()}
    arrays.update({f"eval/{k}": v for k, v in result.eval_metrics.items()})
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    quiet_backend_probe()
    bad = [a for a in FLAGS.actor if a not in ACTOR_KINDS]
    if bad or not FLAGS.actor:
        raise app.UsageError(f"--actor={','.join(FLAGS.actor)}: each must be one of {ACTOR_KINDS}")
    try:
        cfg = _config()
        hp = HyperParams(actor_lr=FLAGS.actor_lr, critic_lr=FLAGS.critic_lr, epsilon=FLAGS.epsilon, kappa=FLAGS.kappa,
                         max_replace_prob=FLAGS.M, replace_rate=FLAGS.eta, gate_threshold=FLAGS.T)
    except ConfigError as err:
        flag = next((f for field, f in _FLAG_OF_FIELD.items() if f".{field}=" in str(err)), None)
        raise app.UsageError(str(err) + (f" (flag {flag})" if flag else "")) from None
    out = Path(FLAGS.out or f"runs/{FLAGS.preset}")
    seeds = list(range(FLAGS.seed_offset, FLAGS.seed_offset + FLAGS.seeds))
    earlier = [a for a in FLAGS.actor if latest_checkpoint(out / a / "checkpoints") is not None]
    if earlier and not FLAGS.resume:  # checked before anything is written: the earlier run's files stay intact
        raise app.UsageError(f"--out={out} already holds checkpoints of an earlier run ({', '.join(earlier)}): "
                             "pass --resume to continue it, or choose a new --out")
    write_json_atomic(out / "config.json", {"preset": FLAGS.preset, "actors": FLAGS.actor, "seeds": seeds,
                                            "train_config": cfg.to_dict(), "hyperparams": hp.to_dict()})
    state_exp = f" state_exp(M={hp.max_replace_prob:g}, eta={hp.replace_rate:g}, T={hp.gate_threshold:g})" \
        if cfg.state_exploration else ""
    print(f"preset={FLAGS.preset} reward={cfg.reward}{state_exp} epochs={cfg.num_epochs} seeds={seeds} -> {out}",
          flush=True)
    summaries, curves = {}, {"sum_rate": {}, "ma_reward": {}, "eval": {}, "chi": {}}
    references = None
    for actor in FLAGS.actor:
        variant = cfg.replace(actor=actor)
        print(f"[{actor}] compiling and training {len(seeds)} run(s) in one program ...", flush=True)
        write_run_info(out / actor, variant, seeds, [hp] * len(seeds))  # for experiments.retrain --from
        result = run_training(variant, seeds, hp, checkpoint_dir=out / actor / "checkpoints", resume=FLAGS.resume,
                              progress=lambda line, actor=actor: print(f"[{actor}] {line}", flush=True))
        _save_metrics(out / actor / "metrics.npz", result)
        summaries[actor] = _summary(result, variant, actor)
        epochs = np.arange(1, cfg.num_epochs + 1)
        if cfg.state_exploration:  # the real environment's C apart from that of the stored (partly generated) states
            curves["sum_rate"][f"{actor}, real states"] = (
                epochs, moving_average(result.epoch_metrics["real_sum_rate"], cfg.ma_window))
            curves["sum_rate"][f"{actor}, stored (generated where replaced)"] = (
                epochs, moving_average(result.epoch_metrics["sum_rate"], cfg.ma_window))
        else:
            curves["sum_rate"][actor] = (epochs, moving_average(result.epoch_metrics["sum_rate"], cfg.ma_window))
        curves["ma_reward"][actor] = (epochs, moving_average(result.epoch_metrics["reward"], cfg.ma_window))
        curves["eval"][actor] = (result.eval_metrics["eval_epoch"][0], result.eval_metrics["eval_sum_rate"])
        if cfg.state_exploration:
            curves["chi"][actor] = (epochs, result.epoch_metrics["chi"])
            if None in summaries[actor]["chi_rise_epoch_per_seed"]:
                print(f"[{actor}] WARNING: chi never left 0 in some seed: the gate quantity stayed above T="
                      f"{hp.gate_threshold:g}; this is not a state-exploration result (lower --T)", flush=True)
        batch = result.fns.eval_batch
        references = {"C* (optimizer)": float(batch.optimum.mean()), "R' (upper bound)": float(batch.bound.mean())}
    write_json_atomic(out / "summary.json", {"variants": summaries, "device": device_info()})
    plot_curves(curves["sum_rate"], "sum rate (bit/s/Hz), MA of executed actions",
                f"{FLAGS.preset}: training sum rate", out / "sum_rate.png")
    plot_curves(curves["ma_reward"], f"MA reward ({cfg.reward})", f"{FLAGS.preset}: moving-average reward",
                out / "ma_reward.png")
    plot_curves(curves["eval"], "sum rate (bit/s/Hz), held-out states", f"{FLAGS.preset}: policy without exploration",
                out / "eval_sum_rate.png", references=references)
    if cfg.state_exploration:
        plot_curves(curves["chi"], "substitute probability chi", f"{FLAGS.preset}: state exploration (Algorithm 1)",
                    out / "chi.png")
    lines = [f"{'actor':<10}{'final C':>9}{'best C':>9}{'C/C*':>7}{'conv.ep':>9}{'s/epoch':>10}{'compile s':>10}"]
    for s in summaries.values():
        lines.append(f"{s['actor']:<10}{s['final_eval_sum_rate']:9.3f}{s['best_eval_sum_rate']:9.3f}"
                     f"{s['final_ratio_to_optimizer']:7.3f}{s['convergence_epoch']:9.0f}"
                     f"{s['seconds_per_epoch_per_run']:10.4f}{s['compile_s'] or float('nan'):10.1f}")
    table = "\n".join(lines)
    write_text_atomic(out / "summary.txt", table + "\n")
    print("\n" + table + f"\n\nwrote {out}/summary.json, metrics.npz per actor, and PNG curves", flush=True)


if __name__ == "__main__":
    try:
        app.run(main)
    except KeyboardInterrupt:
        sys.exit("interrupted: rerun with --resume to continue from the last checkpoint")
