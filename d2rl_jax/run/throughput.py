"""Training throughput of N vmapped runs: one compiled chunk timed after compile (median of repeats).

Shared by the epoch-time, sweep-scaling and cost-repeats benchmarks: aggregate epochs/s (N runs x epochs / s),
per-run cost, compile time apart, and the run state's bytes per run. `prepare_runs` builds, compiles and
warms a program; `time_chunks` times chunks of it (so that several programs can be timed interleaved).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Any

import jax

from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.run.distributed import place_runs, run_sharding
from d2rl_jax.run.runner import compile_chunk, over_runs
from d2rl_jax.training import TrainFns, seed_keys, stack_hparams


@dataclasses.dataclass
class PreparedRuns:
    """A compiled chunk of `runs` runs and the state it continues from (replaced by each timed chunk: the
    compiled chunk donates its input state)."""

    compiled: Any
    state: Any
    hp: Any
    runs: int
    compile_s: float
    bytes_per_run: float


def prepare_runs(fns: TrainFns, n: int, hp_one: HyperParams) -> PreparedRuns:
    """Init `n` runs (sharded when several devices divide n), compile their chunk and run one warm chunk."""
    hp = stack_hparams([hp_one] * n)
    keys = seed_keys(range(n))
    state = jax.jit(over_runs(fns.init, n))(keys, hp)
    sharding = run_sharding(n)
    if sharding is not None:
        state, hp = place_runs((state, hp), sharding)
    bytes_per_run = sum(x.nbytes for x in jax.tree.leaves(state)) / n
    compiled, compile_s = compile_chunk(fns, state, hp, sharding)
    # A first chunk fills the buffer past the warm-up, so that every timed epoch updates every network; finished
    # before any timing starts (dispatch is asynchronous).
    state, _ = compiled(state, hp)
    jax.block_until_ready(state)
    return PreparedRuns(compiled, state, hp, n, compile_s, bytes_per_run)


def time_chunks(prepared: PreparedRuns, repeats: int) -> list[float]:
    """Seconds of each of `repeats` chunks, one after another, each to completion; advances the runs' state."""
    seconds = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        prepared.state, metrics = prepared.compiled(prepared.state, prepared.hp)
        jax.block_until_ready((prepared.state, metrics))
        seconds.append(time.perf_counter() - t0)
    return seconds


def time_runs(fns: TrainFns, cfg: TrainConfig, n: int, hp_one: HyperParams, repeats: int) -> dict:
    """Time `cfg.chunk_epochs` epochs of `n` runs in one program (sharded when several devices divide n)."""
    prepared = prepare_runs(fns, n, hp_one)
    s = statistics.median(time_chunks(prepared, repeats))
    return {"runs": n, "compile_s": prepared.compile_s, "chunk_s": s,
            "epochs_per_s_aggregate": n * cfg.chunk_epochs / s, "epochs_per_s_per_run": cfg.chunk_epochs / s,
            "seconds_per_epoch_per_run": s / (n * cfg.chunk_epochs), "state_bytes_per_run": prepared.bytes_per_run}
