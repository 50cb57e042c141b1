"""Training throughput of N vmapped runs: one compiled chunk timed after compile (median of repeats).

Shared by the epoch-time and sweep-scaling benchmarks: aggregate epochs/s (N runs x epochs / s),
per-run cost, compile time apart, and the run state's bytes per run.
"""

from __future__ import annotations

import statistics
import time

import jax

from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.run.distributed import place_runs, run_sharding
from d2rl_jax.run.runner import compile_chunk, over_runs
from d2rl_jax.training import TrainFns, seed_keys, stack_hparams


def time_runs(fns: TrainFns, cfg: TrainConfig, n: int, hp_one: HyperParams, repeats: int) -> dict:
    """Time `cfg.chunk_epochs` epochs of `n` runs in one program (sharded when several devices divide n)."""
    hp = stack_hparams([hp_one] * n)
    keys = seed_keys(range(n))
    state = jax.jit(over_runs(fns.init, n))(keys, hp)
    sharding = run_sharding(n)
    if sharding is not None:
        state, hp = place_runs((state, hp), sharding)
    bytes_per_run = sum(x.nbytes for x in jax.tree.leaves(state)) / n
    compiled, compile_s = compile_chunk(fns, state, hp, sharding)
    # A first chunk fills the buffer past the warm-up, so that every timed epoch updates every network.
    state, _ = compiled(state, hp)
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        state, metrics = compiled(state, hp)
        jax.block_until_ready((state, metrics))
        seconds.append(time.perf_counter() - t0)
    s = statistics.median(seconds)
    return {"runs": n, "compile_s": compile_s, "chunk_s": s, "epochs_per_s_aggregate": n * cfg.chunk_epochs / s,
            "epochs_per_s_per_run": cfg.chunk_epochs / s, "seconds_per_epoch_per_run": s / (n * cfg.chunk_epochs),
            "state_bytes_per_run": bytes_per_run}
