"""Device-seconds per training epoch: MLP vs diffusion actor, single run and N vmapped runs;
every reward design with and without state exploration.

    python -m benchmarks.epoch_time [--sections probe,actors,designs] [--runs 1,4,16,64] [--epochs 200]

The paper's epoch: Table II as printed (`paper_literal`: 4 x 256 actor, 3 x 256 critics, state 140, action
124, batch 256, T = 16 envs, one update of every network, buffer 1e5), what the paper's per-epoch GPU times
(Figs. 3, 6, 9) count. The learning defaults' epoch (T = 1024, 8 critic steps) costs more and learns more:
`benchmarks.time_to_target` measures it where it matters, in seconds to a level of C/C*. For each actor
kind and N, one compiled `vmap(run_chunk)` of `--epochs` epochs is timed after compile
(median of `--repeats`), giving aggregate epochs/s
(N runs x epochs / s) and per-run cost. Also reported: the update's FLOP count from XLA's cost
analysis of one epoch, the machine's measured dense matmul rate and the fraction reached, the
run state's bytes per run (the buffer dominates), and a like-for-like probe case (state 11,
action 10, 3 x 256 nets, batch 256, P = 6), with the time from process start to the first
trained epoch (compile reported apart). The `designs` section times one run of the diffusion
actor for each reward design, with and without state exploration (the analog of the paper's
Figs. 6(b) and 9(b)). Writes benchmarks/results/epoch_time.json (only the sections run).
"""

from __future__ import annotations

import time

PROCESS_START = time.time()  # before the heavy imports: jax, flax, orbax load in the timed window

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app, flags  # noqa: E402

from d2rl_jax.config import REWARD_DESIGNS, HyperParams, TrainConfig, train_preset  # noqa: E402
from d2rl_jax.env.probe import ProbeEnv  # noqa: E402
from d2rl_jax.run.io import write_json_atomic  # noqa: E402
from d2rl_jax.run.throughput import time_runs  # noqa: E402
from d2rl_jax.run.timing import device_info, time_compiled, total_compile_seconds  # noqa: E402
from d2rl_jax.training import hparams_to_arrays, make_train  # noqa: E402
from experiments.common import run_cli  # noqa: E402

FLAGS = flags.FLAGS
SECTIONS = ("probe", "actors", "designs")
flags.DEFINE_list("sections", list(SECTIONS), f"What to time, from {SECTIONS}.")
flags.DEFINE_list("runs", ["1", "4", "16", "64"], "Numbers of vmapped runs.")
flags.DEFINE_list("designs", list(REWARD_DESIGNS), "Reward designs of the `designs` section.")
flags.DEFINE_list("actors", ["mlp", "diffusion"], "Actor kinds.")
flags.DEFINE_integer("epochs", 100, "Epochs per timed chunk.", lower_bound=1)
flags.DEFINE_integer("repeats", 3, "Timed chunks per point (median).", lower_bound=1)
flags.DEFINE_integer("probe_epochs", 200, "Epochs per timed chunk in the probe case.", lower_bound=16)
flags.DEFINE_string("out", "benchmarks/results/epoch_time.json", "Output JSON path.")


# Table II's epoch with the quick preset's held-out batch (128 states, C* from 4 x 200 optimizer steps), as the
# published numbers were measured (the quick preset had Table II's learner until Step 7).
PAPER_EPOCH = train_preset("paper_literal").replace(eval_states=128, optimizer_restarts=4, optimizer_steps=200)


def matmul_rate() -> float:
    """Dense float32 GFLOP/s of this device on 256-wide layers at batch 4096."""
    x = jax.random.normal(jax.random.key(0), (4096, 256))
    w = jax.random.normal(jax.random.key(1), (16, 256, 256)) / 16.0

    def chain(x, w):
        return jax.lax.scan(lambda h, wi: (jnp.tanh(h @ wi), None), x, w)[0]

    timing = time_compiled(chain, x, w, repeats=10)
    return 2 * 4096 * 256 * 256 * 16 / timing["run_s_min"] / 1e9


def epoch_flops(fns, state, hp) -> float:
    cost = jax.jit(fns.epoch_step).lower(state, hp).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    # XLA counts a loop body once: the diffusion actor's P-step sampler scan is counted as one
    # step, so for that actor this is a lower bound.
    return float(cost.get("flops", float("nan")))


def probe_case(actor: str) -> dict:
    """The public reference's problem size; times the path from process start to a trained epoch."""
    cfg = PAPER_EPOCH.replace(actor=actor, actor_depth=3, critic_depth=3, buffer_size=10_000,
                                        num_epochs=FLAGS.probe_epochs, chunk_epochs=FLAGS.probe_epochs,
                                        eval_every=FLAGS.probe_epochs, eval_states=256)
    case_start, case_compile = time.time(), total_compile_seconds()
    env = ProbeEnv(observation_size=11, action_size=10, kind="target")
    hp = hparams_to_arrays(HyperParams())
    # First trained epoch: warm-up until the buffer holds a batch (batch / T epochs), then one update.
    warm = cfg.batch_size // cfg.num_envs
    first_fns = make_train(cfg.replace(num_epochs=warm, chunk_epochs=warm, eval_every=warm), env)
    state = jax.jit(first_fns.init)(jax.random.key(0), hp)
    state, (metrics, _) = jax.jit(first_fns.run_chunk)(state, hp)
    jax.block_until_ready(state)
    assert int(metrics["updated"][-1]) == 1
    now, compile_now = time.time(), total_compile_seconds()
    fns = make_train(cfg, env)
    timing = time_compiled(fns.run_chunk, state, hp, repeats=FLAGS.repeats)
    return {"actor": actor, "epochs_per_s": cfg.chunk_epochs / timing["run_s"], "compile_s": timing["compile_s"],
            # Cumulative from process start (meaningful for the first case), and for this case alone.
            "process_start_to_first_trained_epoch_s": now - PROCESS_START,
            "compile_s_before_first_trained_epoch": compile_now,
            "case_start_to_first_trained_epoch_s": now - case_start,
            "case_compile_s_before_first_trained_epoch": compile_now - case_compile}


def paper_sizes(actor: str, **changes) -> TrainConfig:
    # One evaluation per timed chunk: its cost is part of the epoch time reported.
    return PAPER_EPOCH.replace(actor=actor, buffer_size=100_000, num_epochs=FLAGS.epochs,
                                         chunk_epochs=FLAGS.epochs, eval_every=FLAGS.epochs, **changes)


def actor_points(runs: list[int], rate: float) -> list[dict]:
    points = []
    for actor in FLAGS.actors:
        cfg = paper_sizes(actor)
        fns = make_train(cfg)
        hp = hparams_to_arrays(HyperParams())
        flops = epoch_flops(fns, jax.jit(fns.init)(jax.random.key(0), hp), hp)
        for n in runs:
            point = {"actor": actor, **time_runs(fns, cfg, n, HyperParams(), FLAGS.repeats), "flops_per_epoch": flops}
            point["fraction_of_matmul_rate"] = point["epochs_per_s_aggregate"] * flops / 1e9 / rate
            points.append(point)
            print(f"{actor:<9} N={n:>3}: {point['epochs_per_s_aggregate']:8.1f} epochs/s aggregate, "
                  f"{point['epochs_per_s_per_run']:7.2f} per run, compile {point['compile_s']:.1f} s, "
                  f"{point['state_bytes_per_run'] / 2**20:.0f} MiB/run, {flops / 1e6:.0f} MFLOP/epoch, "
                  f"{100 * point['fraction_of_matmul_rate']:.0f}% of matmul rate", flush=True)
    return points


def design_points() -> list[dict]:
    """One run of the diffusion actor per (reward design, state exploration): Figs. 6(b), 9(b)."""
    points = []
    for design in FLAGS.designs:
        for state_exp in (False, True):
            cfg = paper_sizes("diffusion", reward=design, state_exploration=state_exp)
            point = {"actor": "diffusion", "reward": design, "state_exploration": state_exp,
                     **time_runs(make_train(cfg), cfg, 1, HyperParams(), FLAGS.repeats)}
            points.append(point)
            print(f"{design:<13} state_exp={state_exp!s:<5}: {point['epochs_per_s_per_run']:6.2f} epochs/s, "
                  f"{1e3 * point['seconds_per_epoch_per_run']:6.1f} ms/epoch, compile {point['compile_s']:.1f} s",
                  flush=True)
    return points


def main(argv: list[str]) -> None:
    del argv
    total_compile_seconds()  # start counting compile time
    bad = [s for s in FLAGS.sections if s not in SECTIONS] + [d for d in FLAGS.designs if d not in REWARD_DESIGNS]
    if bad:
        raise app.UsageError(f"--sections/--designs: {bad} invalid; sections {SECTIONS}, designs {REWARD_DESIGNS}")
    result = {"benchmark": "epoch_time", "device": device_info(),
              "note": "paper sizes: state 140, action 124, batch 256, T=16, buffer 1e5"}
    if "probe" in FLAGS.sections:
        result["probe"] = []
        for actor in FLAGS.actors:  # first: the first probe's timeline starts at process start
            p = probe_case(actor)
            result["probe"].append(p)
            print(f"probe (11 -> 10) {p['actor']:<9}: {p['epochs_per_s']:7.1f} epochs/s; first trained epoch after "
                  f"{p['process_start_to_first_trained_epoch_s']:.1f} s from process start "
                  f"({p['compile_s_before_first_trained_epoch']:.1f} s tracing + compiling), "
                  f"{p['case_start_to_first_trained_epoch_s']:.1f} s from this case's start "
                  f"({p['case_compile_s_before_first_trained_epoch']:.1f} s compiling)", flush=True)
    if "actors" in FLAGS.sections:
        rate = matmul_rate()
        print(f"dense matmul rate: {rate:.1f} GFLOP/s on {jax.devices()[0].device_kind}", flush=True)
        result.update(matmul_gflops_per_s=rate, points=actor_points([int(n) for n in FLAGS.runs], rate))
    if "designs" in FLAGS.sections:
        result["designs"] = design_points()
    path = write_json_atomic(FLAGS.out, result)
    print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
