"""The host-side driver: N runs (seeds x traced points) of one static config in one program.

It compiles `run_chunk` over the run axis once (compile time measured apart), shards the run axis over
the visible devices when there are several, runs chunk after chunk,
reports progress between chunks, checkpoints after each one, and resumes from the latest
checkpoint. Device time per epoch is measured around the compiled chunks with
`block_until_ready`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding

from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.run.checkpoint import RunCheckpointer, check_settings, latest_checkpoint, write_settings
from d2rl_jax.run.distributed import (
    every_process,
    place_runs,
    process_zero_value,
    run_sharding,
    to_host,
    writes_files,
)
from d2rl_jax.run.summaries import diverged_epochs, divergence_note
from d2rl_jax.training import TrainFns, make_train, seed_keys, stack_hparams


@dataclasses.dataclass
class RunResult:
    epoch_metrics: dict[str, np.ndarray]  # each (N, epochs, ...)
    eval_metrics: dict[str, np.ndarray]  # each (N, evaluations)
    compile_s: float
    seconds_per_epoch: float  # wall time of the compiled chunks / epochs (all N runs together)
    chunk_seconds: list[float]  # every chunk's wall time, those of earlier (resumed) processes included
    resumed_from_chunk: int
    final_state: Any
    fns: TrainFns


@dataclasses.dataclass(frozen=True)
class ChunkProgress:
    """What the runner reports after each compiled chunk; `str()` is its progress line."""

    epochs_done: int
    num_epochs: int
    num_runs: int
    chunk_seconds: float  # this chunk's wall time
    chunk_epochs: int
    eval_sum_rate: float  # held-out sum rate, mean over runs
    chi: float | None  # substitute probability, mean over runs (state exploration)
    eval_ratio: float = float("nan")  # held-out C / C*, mean over runs
    critic_alignment: float = float("nan")  # cos(grad_a minQ, grad_a C) at pi(s), mean over runs (NaN: no critic)
    divergence: str = ""  # "DIVERGED: k/N runs (epochs ...)" once a run's learner state turned non-finite

    @property
    def epochs_per_s(self) -> float:
        return self.chunk_epochs / self.chunk_seconds

    @property
    def eta_s(self) -> float:
        return (self.num_epochs - self.epochs_done) / self.epochs_per_s

    @property
    def learning(self) -> str:
        """The held-out sum rate, C/C* and the critic's alignment (when it has a critic)."""
        align = f"  critic cos {self.critic_alignment:.2f}" if np.isfinite(self.critic_alignment) else ""
        return f"C {self.eval_sum_rate:.3f}  C/C* {self.eval_ratio:.3f}{align}"

    @property
    def diverged(self) -> str:
        """"  DIVERGED: ..." once a run diverged, else "" (the end of a progress line)."""
        return f"  {self.divergence}" if self.divergence else ""

    def __str__(self) -> str:
        chi = f"chi {self.chi:.3f}  " if self.chi is not None else ""
        return (f"epoch {self.epochs_done:>6}/{self.num_epochs}  {self.epochs_per_s:7.1f} epochs/s x {self.num_runs} "
                f"runs  {self.learning} (held-out, mean over runs)  {chi}ETA {self.eta_s:.0f} s{self.diverged}")


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts], axis=1) for k in parts[0]}


def over_runs(fn: Callable, num_runs: int) -> Callable:
    """`fn` mapped over a leading run axis. For one run it is called unbatched (squeeze, call,
    expand): the same values, without the batched gathers and scatters that `vmap` puts on the
    replay buffer (their cost on a CPU: docs/design-notes.md, "Trainer")."""
    if num_runs > 1:
        return jax.vmap(fn)

    def single(*args):
        out = fn(*jax.tree.map(lambda x: x[0], args))
        return jax.tree.map(lambda x: x[None], out)

    return single


def compile_chunk(fns: TrainFns, state: Any, hp: Any, sharding: NamedSharding | None = None,
                  claim: bool = True) -> tuple[Any, float]:
    """`run_chunk` over the run axis, compiled for these shapes (cached on `fns`), and the compile seconds.
    The seconds are reported once, to the first caller that claims them (the memory planner compiles the
    chunk ahead of the runner without claiming: the first chunk trained reports it), else 0. With a
    `sharding` of the run axis, inputs and outputs keep it, so chunk after chunk runs on the same placement."""
    signature = (jax.tree.structure((state, hp)),
                 tuple((x.shape, str(x.dtype)) for x in jax.tree.leaves((state, hp))), str(sharding))
    if signature not in fns.compiled:
        t0 = time.perf_counter()
        num_runs = jax.tree.leaves(hp)[0].shape[0]
        placement = {} if sharding is None else {"in_shardings": sharding, "out_shardings": sharding}
        compiled = jax.jit(over_runs(fns.run_chunk, num_runs), donate_argnums=0, **placement).lower(state, hp).compile()
        fns.compiled[signature] = [compiled, time.perf_counter() - t0]
    entry = fns.compiled[signature]
    seconds = entry[1] if claim else 0.0
    if claim:
        entry[1] = 0.0
    return entry[0], seconds


def run_settings(cfg: TrainConfig, seeds: list[int], hps: list[HyperParams]) -> dict:
    """What decides a run's results, stored beside its checkpoints: a resume must match it field by field (the
    learning rates live in the optimizer states, so a changed flag would be recorded but not applied)."""
    hyperparams = [hp.to_dict() for hp in hps]
    return {"train_config": cfg.to_dict(), "seeds": list(seeds),
            "hyperparams": hyperparams[0] if all(h == hyperparams[0] for h in hyperparams) else hyperparams}


def run_training(
    cfg: TrainConfig,
    seeds: list[int],
    hparams: HyperParams | list[HyperParams] = HyperParams(),  # noqa: B008 (frozen, immutable)
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[str | ChunkProgress], None] | None = print,
    fns: TrainFns | None = None,
    shard: bool = True,
    initial_state: Any | None = None,
    on_chunk: Callable[[dict[str, np.ndarray], dict[str, np.ndarray], float], None] | None = None,
    until: Callable[[dict[str, np.ndarray], float], bool] | None = None,
) -> RunResult:
    """Train len(seeds) runs of `cfg` in one program, chunk by chunk. With several devices visible (and
    a run count they divide) the run axis is sharded over them (`shard=False` keeps one device).
    `initial_state` (a run state with the run axis, e.g. pre-trained runs) replaces the fresh one the seeds
    would start from; `cfg.num_epochs` more epochs are trained from it. `on_chunk(epoch metrics, eval metrics,
    chunk seconds)` receives each chunk's metrics on the host once its checkpoint is saved (TensorBoard logs).
    `until(eval metrics so far, training seconds so far)`, asked after each chunk, ends training early when it
    returns True (a level reached, a time budget spent); the result then holds the epochs trained."""
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    hps = hparams if isinstance(hparams, list) else [hparams] * len(seeds)
    if len(hps) != len(seeds):
        raise ValueError(f"got {len(hps)} hyperparameter sets for {len(seeds)} seeds")
    latest = process_zero_value(latest_checkpoint(checkpoint_dir)) if checkpoint_dir is not None else None
    if latest is not None and not resume:
        # Orbax would silently skip saving over them, leaving another run's checkpoints to be resumed later.
        raise FileExistsError(f"{Path(checkpoint_dir).absolute()} already holds checkpoints (chunk {latest}): "
                              "resume them, or write this run elsewhere")
    settings = run_settings(cfg, seeds, hps)
    if latest is not None and not check_settings(checkpoint_dir, settings) and progress:
        progress(f"warning: the checkpoints in {checkpoint_dir} carry no record of their settings (written before "
                 "settings were stored): resuming them unchecked")
    checkpointer = RunCheckpointer(checkpoint_dir) if checkpoint_dir is not None else None
    if checkpointer is not None and latest is None and writes_files():
        write_settings(checkpoint_dir, settings)
    fns = make_train(cfg) if fns is None else fns
    hp = stack_hparams(hps)
    keys = seed_keys(seeds)
    sharding = run_sharding(len(seeds)) if shard else None
    state = jax.jit(over_runs(fns.init, len(seeds)))(keys, hp) if initial_state is None else initial_state
    if sharding is not None:  # each device holds and trains its share of the runs
        state, hp = place_runs((state, hp), sharding)
        if progress:
            progress(f"{len(seeds)} runs sharded over {sharding.mesh.size} devices")

    start, parts, chunk_seconds = 0, [], []
    restored = None
    if resume and checkpointer is not None and latest is not None:
        restored = checkpointer.restore_newest(state, progress, every_process)
        if restored is None and progress:
            progress(f"no checkpoint in {checkpointer.directory} restores (each one reported above was deleted): "
                     "training these runs from the start")
    if restored is not None:
        start, state, saved = restored
        if sharding is not None:
            state = place_runs(state, sharding)
        if start > cfg.num_chunks:
            raise ValueError(f"checkpoint in {checkpointer.directory} holds {start} chunks, more than the "
                             f"{cfg.num_chunks} this configuration runs")
        parts = [{"epoch": saved["epoch"], "eval": saved["eval"]}]
        chunk_seconds = [float(x) for x in saved["chunk_seconds"]]
        if progress:
            progress(f"resumed from chunk {start}/{cfg.num_chunks} in {checkpointer.directory}")

    compile_s = float("nan")
    if start < cfg.num_chunks:
        compiled, compile_s = compile_chunk(fns, state, hp, sharding)
        if progress:  # the moment training starts (benchmarks/startup.py times launch -> this line)
            progress(f"training: chunk program ready ({compile_s:.1f} s compiling or loading it)")
    for index in range(start, cfg.num_chunks):
        t0 = time.perf_counter()
        state, (epoch_metrics, eval_metrics) = compiled(state, hp)
        jax.block_until_ready((state, epoch_metrics))
        chunk_seconds.append(time.perf_counter() - t0)
        epoch_metrics, eval_metrics = to_host((epoch_metrics, eval_metrics))
        parts.append({"epoch": epoch_metrics, "eval": eval_metrics})
        parts = [{"epoch": _concat([p["epoch"] for p in parts]), "eval": _concat([p["eval"] for p in parts])}]
        if checkpointer is not None:
            checkpointer.save(index + 1, state, {**parts[0], "chunk_seconds": np.asarray(chunk_seconds)})
        if on_chunk is not None:
            on_chunk(epoch_metrics, eval_metrics, chunk_seconds[-1])
        if progress:
            chi = float(np.mean(epoch_metrics["chi"][:, -1])) if "chi" in epoch_metrics else None
            progress(ChunkProgress(epochs_done=(index + 1) * cfg.chunk_epochs, num_epochs=cfg.num_epochs,
                                   num_runs=len(seeds), chunk_seconds=chunk_seconds[-1], chunk_epochs=cfg.chunk_epochs,
                                   eval_sum_rate=float(np.mean(eval_metrics["eval_sum_rate"][:, -1])), chi=chi,
                                   eval_ratio=float(np.mean(eval_metrics["eval_ratio_to_optimizer"][:, -1])),
                                   critic_alignment=float(np.mean(eval_metrics["eval_critic_alignment"][:, -1])),
                                   divergence=divergence_note(diverged_epochs(parts[0]["epoch"]))))
        if until is not None and until(parts[0]["eval"], sum(chunk_seconds)):
            break
    if checkpointer is not None:
        checkpointer.close()
    return RunResult(
        epoch_metrics=_concat([p["epoch"] for p in parts]),
        eval_metrics=_concat([p["eval"] for p in parts]),
        compile_s=compile_s,
        seconds_per_epoch=sum(chunk_seconds) / (len(chunk_seconds) * cfg.chunk_epochs),
        chunk_seconds=chunk_seconds,
        resumed_from_chunk=start,
        final_state=state,
        fns=fns,
    )

