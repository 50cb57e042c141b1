r"""Train MLP and/or diffusion actors (DDPG with a double critic, APG, or any registered learner): the seeds of
each variant vmapped in one program.

    python -m experiments.run --preset quick --actor mlp,diffusion --reward designed \
        --epochs 1000 --seeds 2 --out runs/quick [--resume]
    python -m experiments.run --env gdmopt_power --actor mlp,diffusion --seeds 2     # GDMOPT's power allocation
    python -m experiments.run --learner apg --actor mlp --preset quick --seeds 2
    python -m experiments.run --reward designed_gdm --state_exp --M 0.4 --eta 0.01 [--gate_threshold 14]
    python -m experiments.run --preset paper_literal        # Table II's settings as printed

Environments (d2rl_jax/env): full_duplex (the paper's, default) and gdmopt_power. Rewards (DESIGN §6): raw,
designed, designed_mlp, designed_gdm, gdm. --state_exp turns on GDM state exploration (Algorithm 1) with
maximum substitute probability M, rate eta, gate threshold T (--gate_threshold, alias --T). Learners (DESIGN
§10, d2rl_jax/learners): ddpg, apg (the analytic policy gradient through the environment's differentiable
reward), the diffusion-policy learners dpmd, qvpo, dipo, and any other registered one. Unless the learner is
apg, the APG ceiling of each actor is trained too (--apg_reference=none skips it, =mlp keeps only the MLP
actor's). Variants are built and named as in the
sweep grids (d2rl_jax/run/grids.py): <actor>.<reward>[.state][.<learner>], the ceiling <actor>.designed.apg.
Settings left unset come from the preset (d2rl_jax/config.py), sized for the environment.

Writes, atomically:
  DIR/config.json                      every static and traced setting
  DIR/<variant>/metrics.npz            per-epoch and per-evaluation metrics, (seeds, ...) (d2rl_jax/run/results.py)
  DIR/<variant>/checkpoints/           orbax checkpoints after every chunk (for --resume)
  DIR/<variant>/run.json               the runs' config, seeds, hyperparameters (experiments.retrain --from)
  DIR/tensorboard/<variant>/seed_<s>/  TensorBoard events: tensorboard --logdir DIR/tensorboard
  DIR/summary.json                     per variant: final/best C, C/C* (in each evaluation mode of a diffusion
                                       actor: sample, deterministic, best of K), mean held-out reward, epochs/seconds to
                                       0.5 and 0.8 C*, critic alignment and error, convergence epoch, timing;
                                       the reference levels
  DIR/learning.png                     held-out C/C* per variant with the APG ceiling and reference lines
  DIR/critic.png                       the critic's ground-truth alignment and error over training
  DIR/sum_rate.png, DIR/ma_reward.png, DIR/eval_sum_rate.png   mean +- 95% CI over seeds
  DIR/chi.png                          with --state_exp: the substitute probability chi per epoch

A run whose learner state turns non-finite (NaN or inf parameters: the learning rates are too high) is marked
DIVERGED on the progress line and in the summary table, `diverged_epoch_per_seed` in summary.json holds the
epoch, its curves end with a mark there, and the command exits with status 3 once every file is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import app, flags

from d2rl_jax.config import (
    ACTOR_KINDS,
    CRITIC_KINDS,
    CRITIC_NORMS,
    EVAL_MODES,
    EXPLORATION_KINDS,
    IMITATION_TARGETS,
    REWARD_DESIGNS,
    TRAIN_PRESETS,
    X0_BOUNDS,
    ConfigError,
)
from d2rl_jax.env import ENVIRONMENTS
from d2rl_jax.learners import LEARNERS, check_learner
from d2rl_jax.run.checkpoint import SettingsMismatch, check_settings, latest_checkpoint
from d2rl_jax.run.distributed import writes_files
from d2rl_jax.run.grids import preset_config, run_variants
from d2rl_jax.run.io import remove_stale_temporaries, write_json_atomic, write_text_atomic
from d2rl_jax.run.results import write_metrics
from d2rl_jax.run.retrain import write_run_info
from d2rl_jax.run.runner import RunResult, run_settings, run_training
from d2rl_jax.run.statistics import moving_average
from d2rl_jax.run.summaries import (
    MA_EPOCH_COLUMN,
    MA_SECONDS_COLUMN,
    RATIO_LEVELS,
    after_divergence,
    divergence_note,
    milestone_columns,
    run_rows,
)
from d2rl_jax.run.tensorboard import TensorBoardLog
from d2rl_jax.run.timing import device_info
from experiments.common import exit_if_diverged, run_cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "quick", list(TRAIN_PRESETS), "Training preset (sizes, learning settings, epochs).")
flags.DEFINE_enum("env", None, list(ENVIRONMENTS), "Environment (default: the preset's, the paper's full duplex).")
flags.DEFINE_list("actor", ["mlp", "diffusion"], f"Actor kinds to train, comma-separated, from {ACTOR_KINDS}.")
flags.DEFINE_enum("reward", None, list(REWARD_DESIGNS), "Reward design (default: the preset's).")
flags.DEFINE_string("learner", None, "A registered learner (d2rl_jax/learners: ddpg, apg, ...; default: the "
                    "preset's, ddpg).")
flags.DEFINE_list("apg_reference", ["all"], "Unless --learner apg, the actors whose APG ceiling (the dashed curve of "
                  "the figures) is trained too: 'all' (every --actor), 'none', or a comma-separated list.")
flags.DEFINE_integer("epochs", None, "Epochs (default: the preset's); a multiple of --chunk.", lower_bound=1)
flags.DEFINE_integer("chunk", None, "Epochs per compiled chunk between progress lines and checkpoints.",
                     lower_bound=1)
flags.DEFINE_integer("eval_every", None, "Epochs between held-out evaluations.", lower_bound=1)
flags.DEFINE_integer("seeds", 2, "Number of seeds (vmapped in one program).", lower_bound=1)
flags.DEFINE_integer("seed_offset", 0, "First seed.")
# Static learning settings (default: the preset's).
flags.DEFINE_enum("exploration", None, list(EXPLORATION_KINDS), "Exploration of the executed actions.")
flags.DEFINE_integer("num_envs", None, "Environments stepped per epoch.", lower_bound=1)
flags.DEFINE_integer("batch_size", None, "Replay batch size.", lower_bound=1)
flags.DEFINE_integer("buffer_size", None, "Replay buffer capacity.", lower_bound=1)
flags.DEFINE_integer("critic_updates", None, "Critic steps per epoch.", lower_bound=1)
flags.DEFINE_integer("policy_delay", None, "Critic steps per actor step (divides --critic_updates).", lower_bound=1)
flags.DEFINE_enum("critic_kind", None, list(CRITIC_KINDS), "Critic kind: mlp on [s | a], or local (linear in the "
                  "action around the policy's; d2rl_jax/agents/critic.py).")
flags.DEFINE_enum("critic_norm", None, list(CRITIC_NORMS), "Normalization of the critics' hidden layers.")
flags.DEFINE_bool("critic_reward_norm", None, "Critics regress rewards standardized by running moments.")
flags.DEFINE_enum("x0_bound", None, list(X0_BOUNDS), "How the diffusion actor's sampler bounds its x0-prediction "
                  "(default: the preset's, clip; DESIGN §4).")
flags.DEFINE_enum("eval_mode", None, list(EVAL_MODES), "Actions of the held-out metrics: one sample, the noise-free "
                  "chain, or the best of --eval_samples by the critic (a diffusion actor reports all three).")
flags.DEFINE_integer("eval_samples", None, "K of the best_of_k evaluation.", lower_bound=1)
flags.DEFINE_integer("policy_samples", None, "K: samples per state of dpmd / qvpo and of --imitation_target "
                     "best_of_k.", lower_bound=1)
flags.DEFINE_integer("relabel_steps", None, "dipo: Adam steps on each relabelled action.", lower_bound=1)
flags.DEFINE_enum("imitation_target", None, list(IMITATION_TARGETS), "ddpg: add --imitation_weight x the actor's "
                  "imitation loss toward the replayed actions or the best of --policy_samples (CPQL).")
# Traced settings (default: the preset's): flag -> (HyperParams field, help).
_TRACED_FLAGS = {
    "actor_lr": ("actor_lr", "Actor learning rate."),
    "critic_lr": ("critic_lr", "Critic learning rate."),
    "epsilon": ("epsilon", "Epsilon-greedy exploration probability."),
    "noise_std": ("noise_std", "Gaussian exploration std (at epoch 0 with a decay)."),
    "noise_std_final": ("noise_std_final", "Gaussian exploration std at the end of the decay."),
    "noise_decay_epochs": ("noise_decay_epochs", "Epochs of the linear decay of the std (0: constant)."),
    "kappa": ("kappa", "Weight of the learned reward term (designed_mlp/_gdm, gdm)."),
    "reward_lr": ("reward_lr", "Learning rate of the reward network (designed_mlp/_gdm, gdm)."),
    "action_temperature": ("action_temperature", "Diffusion actor: temperature of its sampler's draws on the "
                           "executed actions (1: its own noise, 0: none), before --noise_std."),
    "actor_temperature": ("actor_temperature", "Diffusion actor, ddpg and apg: temperature of the actions its loss "
                          "differentiates (1: its samples, 0: its noise-free chain)."),
    "kl_target": ("kl_target", "dpmd: KL of its sample weights from uniform that its temperature tracks."),
    "lambda_lr": ("lambda_lr", "dpmd: step of its log temperature."),
    "entropy_weight": ("entropy_weight", "qvpo: weight of its uniform-action entropy term."),
    "relabel_lr": ("relabel_lr", "dipo: Adam step size of its action relabelling."),
    "imitation_weight": ("imitation_weight", "ddpg with --imitation_target: weight c of the imitation loss."),
    "M": ("max_replace_prob", "State exploration: maximum substitute probability M."),
    "eta": ("replace_rate", "State exploration: update rate eta of chi."),
    "gate_threshold": ("gate_threshold", "State exploration: gate threshold T (chi rises while the gate quantity "
                       "is below it; see docs/design-notes.md for the measured range)."),
}
for _flag, (_, _help) in _TRACED_FLAGS.items():
    flags.DEFINE_float(_flag, None, _help)
flags.DEFINE_alias("T", "gate_threshold")  # the paper's symbol
flags.DEFINE_bool("state_exp", False, "GDM state exploration (Algorithm 1).")
flags.DEFINE_string("out", None, "Output directory (default runs/<preset>, runs/<preset>_<env> for another "
                    "environment than the paper's).")
flags.DEFINE_bool("resume", False, "Continue from the checkpoints in --out.")

_STATIC_FLAGS = ("reward", "learner", "exploration", "num_envs", "batch_size", "buffer_size", "critic_updates",
                 "policy_delay", "critic_kind", "critic_norm", "critic_reward_norm", "eval_mode", "eval_samples",
                 "policy_samples", "relabel_steps", "imitation_target", "x0_bound")


def _flag_of(err: ConfigError) -> str | None:
    """The flag behind a ConfigError's field, when a flag sets it."""
    fields = {**{f: f for f in _STATIC_FLAGS}, **{field: flag for flag, (field, _) in _TRACED_FLAGS.items()}}
    return next((f"--{flag}" for field, flag in fields.items() if f".{field}=" in str(err)), None)


def _settings():
    """(static config, traced hyperparameters): the preset's on the chosen environment, changed by every flag
    given; checked against the learner's needs."""
    if FLAGS.learner is not None and FLAGS.learner not in LEARNERS:
        raise app.UsageError(f"--learner={FLAGS.learner}: must be a registered learner, one of {tuple(LEARNERS)}")
    changes = {f: getattr(FLAGS, f) for f in _STATIC_FLAGS if getattr(FLAGS, f) is not None}
    if FLAGS.state_exp:
        changes["state_exploration"] = True
    cfg, hp = preset_config(FLAGS.preset, FLAGS.env)
    cfg = cfg.with_changes(**changes).with_schedule(epochs=FLAGS.epochs, chunk=FLAGS.chunk, eval_every=FLAGS.eval_every)
    check_learner(cfg)
    traced = {field: getattr(FLAGS, flag) for flag, (field, _) in _TRACED_FLAGS.items()
              if getattr(FLAGS, flag) is not None}
    return cfg, hp.replace(**traced)


def _summary(result: RunResult, cfg, variant: str) -> dict:
    """Means over seeds of the per-run rows, with the per-seed convergence epochs, milestones and chi rises."""
    seeds = result.eval_metrics["eval_sum_rate"].shape[0]
    rows = run_rows(result.epoch_metrics, result.eval_metrics, cfg, result.seconds_per_epoch / seeds)

    def mean(name):
        return float(np.mean([r[name] for r in rows]))

    summary = {
        "variant": variant,
        "actor": cfg.actor,
        "learner": cfg.learner,
        "seeds": seeds,
        "final_eval_sum_rate": mean("final_sum_rate"),
        "best_eval_sum_rate": mean("best_sum_rate"),
        "final_ratio_to_optimizer": mean("ratio_to_optimizer"),
        "final_ratio_to_optimizer_per_seed": [r["ratio_to_optimizer"] for r in rows],
        "final_ratio_to_bound": mean("ratio_to_bound"),
        "eval_mode": cfg.eval_mode,
        **{f"final_ratio_{mode}": mean(f"ratio_{mode}") for mode in EVAL_MODES},
        "final_eval_reward": mean("final_reward"),
        "final_ma_sum_rate": mean("final_ma_sum_rate"),
        "final_critic_alignment": mean("critic_alignment"),
        "final_critic_error": mean("critic_error"),
        "convergence_epoch_per_seed": [r["convergence_epoch"] for r in rows],
        "convergence_epoch": mean("convergence_epoch"),
        "seconds_per_epoch_all_seeds": result.seconds_per_epoch,
        "seconds_per_epoch_per_run": result.seconds_per_epoch / seeds,
        "seconds_to_convergence": mean("convergence_epoch") * result.seconds_per_epoch,
        "compile_s": None if np.isnan(result.compile_s) else result.compile_s,  # None: fully resumed
        "nonfinite_actions": sum(r["nonfinite_actions"] for r in rows),
        "diverged_epoch_per_seed": [r["diverged_epoch"] for r in rows],  # None: the run stayed finite
    }
    for level in RATIO_LEVELS:  # per seed; None where a seed never reached the level
        for column in milestone_columns(level):
            summary[f"{column}_per_seed"] = [r[column] for r in rows]
    for column in (MA_EPOCH_COLUMN, MA_SECONDS_COLUMN):  # the moving-average held-out C/C* reaching 0.8
        summary[f"{column}_per_seed"] = [r[column] for r in rows]
    if cfg.state_exploration:  # DESIGN §7: a run where chi never left 0 is not a state-exploration result
        summary.update(chi_rise_epoch_per_seed=[r["chi_rise_epoch"] for r in rows], final_chi=mean("final_chi"),
                       replacements=sum(r["replacements"] for r in rows))
    return summary


def _reference_actors() -> list[str]:
    given = FLAGS.apg_reference
    if given == ["all"]:
        return list(FLAGS.actor)
    if given in (["none"], []):
        return []
    bad = [a for a in given if a not in FLAGS.actor]
    if bad:
        raise app.UsageError(f"--apg_reference={','.join(given)}: each must be one of the trained actors "
                             f"{tuple(FLAGS.actor)}, or 'all' or 'none'")
    return given


def _learning_line(s: dict) -> str:
    reached = []
    for level in RATIO_LEVELS:
        epochs = [e for e in s[f"{milestone_columns(level)[0]}_per_seed"] if e is not None]
        n = len(s[f"{milestone_columns(level)[0]}_per_seed"])
        reached.append(f"{np.mean(epochs):6.0f} ({len(epochs)}/{n})" if epochs else f"{'-':>6} (0/{n})")
    return "".join(f"{r:>14}" for r in reached)


def _reference_line(references: dict[str, float], bound: float) -> str:
    """The held-out reference levels as mean sum rates and as mean rewards of the designed design (C - R')."""
    return ("references (held-out mean C): " + ", ".join(f"{k} {v:.3f}" for k, v in references.items())
            + "\nreference rewards (C - R', the designed reward; GDMOPT's reward on gdmopt_power): "
            + ", ".join(f"{k} {v - bound:+.3f}" for k, v in references.items()))


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    bad = [a for a in FLAGS.actor if a not in ACTOR_KINDS]
    if bad or not FLAGS.actor:
        raise app.UsageError(f"--actor={','.join(FLAGS.actor)}: each must be one of {ACTOR_KINDS}")
    try:
        cfg, hp = _settings()
    except ConfigError as err:
        flag = _flag_of(err)
        raise app.UsageError(str(err) + (f" (flag {flag})" if flag else "")) from None
    env = "" if cfg.env.env_name == "full_duplex" else f"_{cfg.env.env_name}"
    out = Path(FLAGS.out or f"runs/{FLAGS.preset}{env}")
    seeds = list(range(FLAGS.seed_offset, FLAGS.seed_offset + FLAGS.seeds))
    variants = run_variants(cfg, FLAGS.actor, hp, _reference_actors())
    configs = {v.name: v.config(cfg) for v in variants}
    earlier = [v.name for v in variants if latest_checkpoint(out / v.name / "checkpoints") is not None]
    if earlier and not FLAGS.resume:  # checked before anything is written: the earlier run's files stay intact
        raise app.UsageError(f"--out={out} already holds checkpoints of an earlier run ({', '.join(earlier)}): "
                             "pass --resume to continue it, or choose a new --out")
    for name in earlier:  # before config.json is rewritten: a refused resume changes no file
        try:
            check_settings(out / name / "checkpoints", run_settings(configs[name], seeds, [hp] * len(seeds)))
        except SettingsMismatch as err:
            raise app.UsageError(f"--resume [{name}]: {err}") from None
    if FLAGS.resume and out.is_dir() and writes_files():  # a kill mid-write leaves a temporary file behind
        remove_stale_temporaries(out)
    write_json_atomic(out / "config.json", {"preset": FLAGS.preset, "actors": FLAGS.actor, "seeds": seeds,
                                            "train_config": cfg.to_dict(), "hyperparams": hp.to_dict(),
                                            "variants": {name: c.to_dict() for name, c in configs.items()}})
    state_exp = f" state_exp(M={hp.max_replace_prob:g}, eta={hp.replace_rate:g}, T={hp.gate_threshold:g})" \
        if cfg.state_exploration else ""
    print(f"preset={FLAGS.preset} env={cfg.env.env_name} learner={cfg.learner} reward={cfg.reward}{state_exp} "
          f"epochs={cfg.num_epochs} seeds={seeds} -> {out}", flush=True)
    summaries, curves = {}, {"sum_rate": {}, "ma_reward": {}, "eval": {}, "ratio": {}, "chi": {}, "alignment": {},
                             "error": {}}
    for variant in variants:
        name, variant_cfg = variant.name, configs[variant.name]
        print(f"[{name}] compiling and training {len(seeds)} run(s) in one program ...", flush=True)
        write_run_info(out / name, variant_cfg, seeds, [hp] * len(seeds))  # for experiments.retrain --from
        logs = TensorBoardLog(out / "tensorboard" / name, [f"seed_{s}" for s in seeds]) if writes_files() else None
        result = run_training(variant_cfg, seeds, hp, checkpoint_dir=out / name / "checkpoints", resume=FLAGS.resume,
                              progress=lambda line, name=name: print(f"[{name}] {line}", flush=True),
                              on_chunk=None if logs is None else logs.write_chunk)
        if logs is not None:
            logs.close()
        write_metrics(out / name / "metrics.npz", result.epoch_metrics, result.eval_metrics)
        summaries[name] = _summary(result, variant_cfg, name)
        epochs = np.arange(1, cfg.num_epochs + 1)
        eval_epochs = result.eval_metrics["eval_epoch"][0]
        if variant.state_exploration:  # the real environment's C apart from that of the stored (generated) states
            curves["sum_rate"][f"{name}, real states"] = (
                epochs, moving_average(result.epoch_metrics["real_sum_rate"], cfg.ma_window))
            curves["sum_rate"][f"{name}, stored (generated where replaced)"] = (
                epochs, moving_average(result.epoch_metrics["sum_rate"], cfg.ma_window))
            curves["chi"][name] = (epochs, result.epoch_metrics["chi"])
            if None in summaries[name]["chi_rise_epoch_per_seed"]:
                print(f"[{name}] WARNING: chi never left 0 in some seed: the gate quantity stayed above T="
                      f"{hp.gate_threshold:g}; this is not a state-exploration result (lower --gate_threshold)",
                      flush=True)
        else:
            curves["sum_rate"][name] = (epochs, moving_average(result.epoch_metrics["sum_rate"], cfg.ma_window))
        curves["ma_reward"][name] = (epochs, moving_average(result.epoch_metrics["reward"], cfg.ma_window))
        curves["eval"][name] = (eval_epochs, result.eval_metrics["eval_sum_rate"])
        curves["ratio"][name] = (eval_epochs, result.eval_metrics["eval_ratio_to_optimizer"])
        if result.fns.has_critic:
            curves["alignment"][name] = (eval_epochs, result.eval_metrics["eval_critic_alignment"])
            curves["error"][name] = (eval_epochs, result.eval_metrics["eval_critic_error"])
        diverged = summaries[name]["diverged_epoch_per_seed"]
        for group in curves.values():  # a diverged run is drawn as such: marked where it ends, not as a low curve
            for label, (x, y) in group.items():
                if label == name or label.startswith(f"{name}, "):
                    group[label] = (x, after_divergence(x, y, diverged))
        batch = result.fns.eval_batch
        references, bound = batch.reference_levels(), float(batch.bound.mean())
    write_json_atomic(out / "summary.json", {"variants": summaries, "references": references,
                                             "reference_rewards": {k: v - bound for k, v in references.items()},
                                             "env": cfg.env.env_name, "device": device_info()})
    from experiments.plots import plot_curves, plot_learning  # here: matplotlib's import delays training's start

    title = f"{FLAGS.preset} ({cfg.env.env_name}): {cfg.learner}, {cfg.reward} reward"
    plot_learning(curves["ratio"], references, f"{title}: held-out C/C* (mean +- 95% CI, {len(seeds)} seeds)",
                  out / "learning.png")
    if curves["alignment"]:
        plot_curves(curves["alignment"], "cos(grad_a min Q, grad_a C) at pi(s)", f"{title}: critic alignment",
                    out / "critic.png", second=(curves["error"], "critic RMS error / std of the reward"))
    plot_curves(curves["sum_rate"], "sum rate (bit/s/Hz), MA of executed actions",
                f"{FLAGS.preset}: training sum rate", out / "sum_rate.png")
    plot_curves(curves["ma_reward"], f"MA reward ({cfg.reward})", f"{FLAGS.preset}: moving-average reward",
                out / "ma_reward.png")
    plot_curves(curves["eval"], "sum rate (bit/s/Hz), held-out states", f"{FLAGS.preset}: policy without exploration",
                out / "eval_sum_rate.png", references=references)
    if curves["chi"]:
        plot_curves(curves["chi"], "substitute probability chi", f"{FLAGS.preset}: state exploration (Algorithm 1)",
                    out / "chi.png")
    levels = "".join(f"{f'epoch {level:g}C*':>14}" for level in RATIO_LEVELS)
    # C/C* in the configured evaluation mode, then in the noise-free and best-of-K modes (DESIGN §4)
    lines = [f"{'variant':<24}{'final C':>9}{'C/C*':>7}{'det':>7}{'best-K':>7}{'reward':>8}{'cos':>6}{levels}"
             f"{'s/epoch':>10}{'compile s':>10}"]
    for s in summaries.values():
        cos = s["final_critic_alignment"]
        lines.append(f"{s['variant']:<24}{s['final_eval_sum_rate']:9.3f}{s['final_ratio_to_optimizer']:7.3f}"
                     f"{s['final_ratio_deterministic']:7.3f}{s['final_ratio_best_of_k']:7.3f}"
                     f"{s['final_eval_reward']:+8.3f}{cos if np.isfinite(cos) else float('nan'):6.2f}"
                     f"{_learning_line(s)}{s['seconds_per_epoch_per_run']:10.4f}{s['compile_s'] or float('nan'):10.1f}"
                     + (f"  {note}" if (note := divergence_note(s["diverged_epoch_per_seed"])) else ""))
    table = "\n".join(lines + [_reference_line(references, bound)])
    write_text_atomic(out / "summary.txt", table + "\n")
    print("\n" + table + f"\n\nwrote {out}/summary.json, learning.png, metrics.npz per variant, PNG curves, and "
          f"TensorBoard logs (tensorboard --logdir {out}/tensorboard)", flush=True)
    exit_if_diverged({name: divergence_note(v["diverged_epoch_per_seed"]) for name, v in summaries.items()})


if __name__ == "__main__":
    run_cli(main, "interrupted: rerun with --resume to continue from the last checkpoint")
