r"""Where an epoch's time goes, by differences between programs that change one part each.

    python -m benchmarks.epoch_profile [--preset paper] [--actors mlp,diffusion] [--epochs 50] [--repeats 3]

For each actor, one run (N = 1) of the preset's config and five programs that each change one thing: half the critic
steps (as many actor steps), twice the actor steps (policy delay halved), half the environments per epoch, five
held-out evaluations per chunk instead of one, and five chunks instead of one (each with its evaluation). Every
program runs chunks of --epochs epochs (one evaluation at the end, as a sweep's); the programs are timed
interleaved, --repeats rounds, each round timing one chunk of every program, so differences are paired within a
round. The parts, per epoch of the preset's own schedule (its critic steps, its evaluation period, its chunk
length): critic steps = 2 x (base - half critic steps) (half the critic steps, the same actor steps); actor steps =
(twice the actor steps - base); collection = 2 x (base - half environments) (stepping, exploring and storing T
environments); evaluation = one evaluation's seconds / the preset's eval_every; chunk boundary = one boundary's
seconds (dispatch, host copy of the metrics) / the preset's chunk_epochs; the rest (replay sampling outside the
steps, metrics, state updates) is the base minus those. Mean and 95% t-interval over the rounds.
Writes benchmarks/results/epoch_profile_<preset>_<platform>.json.
"""

from __future__ import annotations

import time

import jax
import numpy as np
from absl import app, flags

from d2rl_jax.config import ACTOR_KINDS, ConfigError, TrainConfig, preset_hparams, train_preset
from d2rl_jax.run.io import write_json_atomic
from d2rl_jax.run.statistics import mean_and_ci95
from d2rl_jax.run.throughput import prepare_runs, time_chunks
from d2rl_jax.run.timing import device_info
from d2rl_jax.training import make_train
from experiments.common import require_choices, run_cli

FLAGS = flags.FLAGS


def programs(cfg: TrainConfig, epochs: int) -> dict[str, TrainConfig]:
    """The base (chunks of `epochs`, one evaluation each) and the five programs that change one part."""
    base = cfg.replace(num_epochs=epochs, chunk_epochs=epochs, eval_every=epochs)
    c, delay = cfg.critic_updates, cfg.policy_delay
    if c % 2 or delay % 2:
        raise app.UsageError(f"the preset's critic_updates={c} and policy_delay={delay} must be even to be halved")
    fifth = epochs // 5
    return {"base": base,
            "half_critic_steps": base.replace(critic_updates=c // 2, policy_delay=delay // 2),  # same actor steps
            "double_actor_steps": base.replace(policy_delay=delay // 2),
            "half_envs": base.replace(num_envs=cfg.num_envs // 2),
            "five_evaluations": base.replace(eval_every=fifth),
            "five_chunks": base.replace(num_epochs=fifth, chunk_epochs=fifth, eval_every=fifth)}


def parts(cfg: TrainConfig, epochs: int, per_epoch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Seconds per epoch of each part at the preset's schedule, one value per round (see the module's text)."""
    base = per_epoch["base"]
    actor_steps = per_epoch["double_actor_steps"] - base  # doubling adds as many actor steps as the epoch has
    collection = 2 * (base - per_epoch["half_envs"])
    one_eval = (per_epoch["five_evaluations"] - base) * epochs / 4
    # five chunks of epochs/5 epochs, each with one evaluation, against the five evaluations in one chunk
    one_boundary = (per_epoch["five_chunks"] - per_epoch["five_evaluations"]) * epochs / 4
    out = {"critic_steps": 2 * (base - per_epoch["half_critic_steps"]), "actor_steps": actor_steps,
           "collection": collection, "evaluation": one_eval / cfg.eval_every,
           "chunk_boundary": one_boundary / cfg.chunk_epochs}
    # the base carries one evaluation and one boundary per `epochs`; the preset's epoch carries its own shares
    epoch = base - one_eval / epochs - one_boundary / epochs + out["evaluation"] + out["chunk_boundary"]
    out["rest"] = epoch - sum(out.values())
    out["epoch"] = epoch
    return out


def profile(actor: str) -> dict:
    cfg = train_preset(FLAGS.preset).replace(actor=actor)
    hp = preset_hparams(FLAGS.preset)
    built = {}
    for name, program_cfg in programs(cfg, FLAGS.epochs).items():
        t0 = time.perf_counter()
        built[name] = (program_cfg, prepare_runs(make_train(program_cfg), 1, hp))
        print(f"[{actor}] {name:<20} ready in {time.perf_counter() - t0:5.1f} s", flush=True)
    seconds = {name: [] for name in built}
    for r in range(FLAGS.repeats):
        for name, (program_cfg, prepared) in built.items():
            chunks = FLAGS.epochs // program_cfg.chunk_epochs  # five_chunks: five calls make the same epochs
            seconds[name].append(sum(time_chunks(prepared, chunks)) / FLAGS.epochs)
        print(f"[{actor}] round {r + 1}/{FLAGS.repeats}: " + ", ".join(
            f"{name} {1e3 * s[-1]:.1f}" for name, s in seconds.items()) + " ms/epoch", flush=True)
    per_round = parts(cfg, FLAGS.epochs, {k: np.asarray(v) for k, v in seconds.items()})
    summary = {}
    for name, values in per_round.items():
        mean, ci = mean_and_ci95(values)
        summary[name] = {"ms_per_epoch": 1e3 * float(mean), "ci95_ms": 1e3 * float(ci),
                         "share": float(mean / np.mean(per_round["epoch"]))}
    return {"actor": actor, "critic_updates": cfg.critic_updates, "actor_updates": cfg.actor_updates,
            "num_envs": cfg.num_envs, "batch_size": cfg.batch_size, "eval_every": cfg.eval_every,
            "chunk_epochs": cfg.chunk_epochs, "eval_states": cfg.eval_states, "parts": summary,
            "seconds_per_epoch": seconds,
            "compile_s": {k: p.compile_s for k, (_, p) in built.items()}}


def define_flags() -> None:
    """The program's flags: defined when it runs, so that its functions import into tests and other programs."""
    flags.DEFINE_string("preset", "paper", "Training preset whose epoch is profiled.")
    flags.DEFINE_list("actors", ["mlp"], f"Actor kinds, from {ACTOR_KINDS}.")
    flags.DEFINE_integer("epochs", 50, "Epochs per timed chunk (a multiple of 5).", lower_bound=5)
    flags.DEFINE_integer("repeats", 3, "Interleaved rounds (each times one chunk of every program).", lower_bound=2)
    flags.DEFINE_string("out", None, "Output JSON (default benchmarks/results/epoch_profile_<preset>_<platform>.json).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    require_choices("actors", FLAGS.actors, ACTOR_KINDS)
    if FLAGS.epochs % 5:
        raise app.UsageError(f"--epochs={FLAGS.epochs} is invalid: must be a multiple of 5")
    try:
        train_preset(FLAGS.preset)
    except ConfigError as err:
        raise app.UsageError(str(err)) from None
    results = [profile(actor) for actor in FLAGS.actors]
    out = FLAGS.out or f"benchmarks/results/epoch_profile_{FLAGS.preset}_{jax.default_backend()}.json"
    write_json_atomic(out, {"benchmark": "epoch_profile", "preset": FLAGS.preset, "epochs_per_chunk": FLAGS.epochs,
                            "repeats": FLAGS.repeats, "device": device_info(), "actors": results})
    for r in results:
        print(f"\n{r['actor']}: {r['parts']['epoch']['ms_per_epoch']:.1f} ms per epoch of the {FLAGS.preset} preset")
        for name, p in r["parts"].items():
            if name != "epoch":
                print(f"  {name:<15} {p['ms_per_epoch']:8.2f} +- {p['ci95_ms']:6.2f} ms  ({100 * p['share']:5.1f}%)")
    print(f"wrote {out}", flush=True)


if __name__ == "__main__":
    define_flags()
    run_cli(main)
