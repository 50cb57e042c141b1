"""Retraining after environment drift (Step 6): the scenario of the paper's Sec. I, measured.

    pre = pretrain(cfg, fns, seeds, hps)                       # P epochs on the original environment
    result = retrain(cfg, fns, pre.final_state, seeds, hps, drift_epoch=P)
    rows = recovery_rows(result, cfg, tolerance=0.02)

`retrain` trains, in one compiled program, the pre-trained runs in the drifted environment and as many
runs from scratch there (the same seeds and hyperparameters, `drift_epoch` = 0): the scratch runs give
the level a retrained policy should recover to. `fns` comes from `make_train(cfg, drift_params=...)`;
the drift is a traced epoch, so both halves share the compiled chunk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.run.checkpoint import CheckpointDamaged, RunCheckpointer
from d2rl_jax.run.distributed import gather_runs
from d2rl_jax.run.io import read_json, write_json_atomic
from d2rl_jax.run.runner import RunResult, over_runs, run_training
from d2rl_jax.run.statistics import ma_first_epoch_reaching, moving_average, recovery_epoch, recovery_loss
from d2rl_jax.run.summaries import training_sum_rate
from d2rl_jax.training import TrainFns, seed_keys, stack_hparams


@dataclasses.dataclass
class RetrainResult:
    """Runs [0, n) are the retrained ones, [n, 2n) the scratch ones, in `run` (one program)."""

    run: RunResult  # epochs drift_epoch .. drift_epoch + cfg.num_epochs of the retrained runs
    num_retrained: int
    drift_epoch: int
    hparams: list[HyperParams]  # of the retrained runs; the scratch runs repeat them with drift_epoch = 0
    eval_before: np.ndarray  # (n,) held-out sum rate of the pre-trained policies in the original environment
    eval_after: np.ndarray  # (n,) the same policies in the drifted environment, before any retraining
    optimum_before: float  # C* of the held-out batch, original environment
    optimum_after: float  # and drifted


def pretrain(cfg: TrainConfig, fns: TrainFns, seeds: Sequence[int], hps: Sequence[HyperParams], *,
             checkpoint_dir: str | Path | None = None, resume: bool = False,
             progress: Callable | None = print) -> RunResult:
    """`cfg.num_epochs` epochs on the original environment (the runs never drift)."""
    never = [hp.replace(drift_epoch=HyperParams.drift_epoch) for hp in hps]
    return run_training(cfg, list(seeds), never, checkpoint_dir=checkpoint_dir, resume=resume, progress=progress,
                        fns=fns)


RUN_INFO = "run.json"  # beside a `checkpoints/` folder: what `load_pretrained` needs to rebuild its runs


def write_run_info(directory: str | Path, cfg: TrainConfig, seeds: Sequence[int], hps: Sequence[HyperParams]) -> None:
    write_json_atomic(Path(directory) / RUN_INFO, {"train_config": cfg.to_dict(), "seeds": list(seeds),
                                                   "hyperparams": [hp.to_dict() for hp in hps]})


def read_run_info(directory: str | Path) -> tuple[TrainConfig, list[int], list[HyperParams]]:
    path = Path(directory) / RUN_INFO
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: --from takes a directory holding {RUN_INFO} and checkpoints/ "
                                "(written by experiments.run per actor, or by experiments.retrain per variant)")
    info = read_json(path)
    return (TrainConfig.from_dict(info["train_config"]), [int(s) for s in info["seeds"]],
            [HyperParams(**hp) for hp in info["hyperparams"]])


def load_pretrained(directory: str | Path, fns: TrainFns) -> tuple[int, Any]:
    """(epochs done, run state) of the newest checkpoint in `directory`/checkpoints, whose runs
    `directory`/run.json describes (`fns` must come from the same static config)."""
    _, seeds, hps = read_run_info(directory)
    template = jax.eval_shape(over_runs(fns.init, len(seeds)), seed_keys(seeds),
                              stack_hparams(hps))
    checkpointer = RunCheckpointer(Path(directory) / "checkpoints")
    try:
        step = checkpointer.latest()
        if step is None:
            raise FileNotFoundError(f"{checkpointer.directory} holds no checkpoint")
        try:
            _, state, _ = checkpointer.restore_intact(template, step)
        except CheckpointDamaged as err:  # no fallback: an older checkpoint is other runs than the ones named
            raise ValueError(f"checkpoint {checkpointer.directory / str(step)} does not restore ({err}): resume the "
                             "run that wrote it (its resume falls back to the checkpoint before and trains the rest "
                             "again)") from None
    finally:
        checkpointer.close()
    epochs = np.asarray(jax.device_get(state.epoch)).reshape(-1)
    if not (epochs == epochs[0]).all():
        raise ValueError(f"the runs in {directory} stopped at different epochs {epochs.tolist()}")
    return int(epochs[0]), state


def _concat_runs(a: Any, b: Any) -> Any:
    return jax.tree.map(lambda x, y: jnp.concatenate([x, y]), a, b)


def retrain(cfg: TrainConfig, fns: TrainFns, pretrained_state: Any, seeds: Sequence[int],
            hps: Sequence[HyperParams], drift_epoch: int, *, checkpoint_dir: str | Path | None = None,
            resume: bool = False, progress: Callable | None = print) -> RetrainResult:
    """`cfg.num_epochs` epochs in the drifted environment from `pretrained_state` (run axis of len(seeds),
    `drift_epoch` epochs done) beside as many runs from scratch, in one program."""
    n = len(seeds)
    pretrained_state = gather_runs(pretrained_state)  # several processes: each continues from all runs' state
    epochs_done = np.asarray(jax.device_get(pretrained_state.epoch)).reshape(-1)
    if epochs_done.shape != (n,) or not (epochs_done == drift_epoch).all():
        raise ValueError(f"the pre-trained state holds runs at epochs {epochs_done.tolist()}, expected {n} runs at "
                         f"the drift epoch {drift_epoch}")
    drifting = [hp.replace(drift_epoch=float(drift_epoch)) for hp in hps]
    scratch = [hp.replace(drift_epoch=0.0) for hp in hps]
    never = stack_hparams([hp.replace(drift_epoch=HyperParams.drift_epoch) for hp in hps])
    keys = seed_keys(seeds)
    evaluate = jax.jit(jax.vmap(fns.evaluate, (0, 0, None, 0)))
    eval_key = jax.vmap(lambda k: jax.random.fold_in(k, 1))(pretrained_state.key)  # as the loop's evaluations
    before = evaluate(pretrained_state.agent, eval_key, jnp.int32(drift_epoch), never)
    after = evaluate(pretrained_state.agent, eval_key, jnp.int32(drift_epoch), stack_hparams(drifting))
    optimum_after = float(after["eval_sum_rate"][0] / after["eval_ratio_to_optimizer"][0])
    optimum_before = float(before["eval_sum_rate"][0] / before["eval_ratio_to_optimizer"][0])
    fresh = jax.jit(over_runs(fns.init, n))(keys, stack_hparams(scratch))
    state = _concat_runs(pretrained_state, fresh)
    run = run_training(cfg, [*seeds, *seeds], [*drifting, *scratch], checkpoint_dir=checkpoint_dir, resume=resume,
                       progress=progress, fns=fns, initial_state=state)
    return RetrainResult(run=run, num_retrained=n, drift_epoch=drift_epoch, hparams=list(hps),
                         eval_before=np.asarray(before["eval_sum_rate"]), eval_after=np.asarray(after["eval_sum_rate"]),
                         optimum_before=optimum_before, optimum_after=optimum_after)


def final_level(curve: np.ndarray, final_fraction: float = 0.1) -> np.ndarray:
    """The level a curve settles at: the mean of its last `final_fraction` (as `metrics.convergence_epoch`)."""
    tail = max(1, int(round(final_fraction * curve.shape[-1])))
    return np.asarray(curve)[..., -tail:].mean(axis=-1)


RECOVERY_RATIO_LEVEL = 0.8  # of C* in the drifted environment: the sweep's second convergence rule


def recovery_rows(result: RetrainResult, cfg: TrainConfig, tolerance: float | None = None) -> list[dict]:
    """One row per retrained run: its sum rate before and right after the drift (held-out, no exploration);
    epochs and device seconds until the moving-average sum rate is back within `tolerance` of the scratch
    runs' final level (same hyperparameters) and of C* in the drifted environment (None: not by the end);
    epochs and device seconds until the moving-average held-out C first reaches 0.8 C* of the drifted
    environment, for the retrained run and for its scratch run (`recovery_80pct_*`, `scratch_80pct_*`);
    the sum rate lost below the scratch level while retraining and the gain over the scratch curve
    (areas, bit/s/Hz x epochs).

    The 0.8 C* rule is the sweep's (`d2rl_jax.run.summaries.MA_EPOCH_COLUMN`): a trailing mean of held-out C/C*
    over max(1, ma_window // eval_every) evaluations, here with C* of the drifted environment and epochs
    counted from the drift. A retrained run's series starts with its pre-trained policy evaluated right after
    the drift (epoch 0: 0 if that policy already meets 0.8 C* there); a scratch run's with its first
    evaluation."""
    tolerance = cfg.convergence_tolerance if tolerance is None else tolerance
    n = result.num_retrained
    curves = moving_average(training_sum_rate(result.run.epoch_metrics), cfg.ma_window)
    retrained, scratch = curves[:n], curves[n:]
    seconds_per_epoch = result.run.seconds_per_epoch / (2 * n)  # per run: 2n runs share the program
    eval_rates = result.run.eval_metrics["eval_sum_rate"]
    eval_ratios = eval_rates / result.optimum_after  # held-out C / C* of the drifted environment
    eval_epochs = np.asarray(result.run.eval_metrics["eval_epoch"])
    since_drift = eval_epochs - np.where(np.arange(2 * n) < n, result.drift_epoch, 0)[:, None]

    def to_80pct(epochs: np.ndarray, ratios: np.ndarray) -> int | None:
        return ma_first_epoch_reaching(epochs, ratios, RECOVERY_RATIO_LEVEL, cfg.ma_window, cfg.eval_every)

    def seconds(epochs: int | None) -> float | None:
        return None if epochs is None else epochs * seconds_per_epoch

    rows = []
    for i, hp in enumerate(result.hparams):
        same = [j for j, other in enumerate(result.hparams) if other == hp]  # the scratch runs of this point
        target = float(final_level(scratch[same]).mean())
        to_scratch = recovery_epoch(retrained[i], target, 0, tolerance)
        to_optimum = recovery_epoch(retrained[i], result.optimum_after, 0, tolerance)
        retrained_80 = to_80pct(np.concatenate([[0], since_drift[i]]),
                                np.concatenate([[result.eval_after[i] / result.optimum_after], eval_ratios[i]]))
        scratch_80 = to_80pct(since_drift[n + i], eval_ratios[n + i])
        rows.append({
            "run": i,
            "eval_before_drift": float(result.eval_before[i]),
            "eval_after_drift": float(result.eval_after[i]),
            "eval_final": float(eval_rates[i, -1]),
            "scratch_eval_final": float(eval_rates[n + i, -1]),
            "scratch_level": target,
            "retrained_level": float(final_level(retrained[i])),
            "optimum_before": result.optimum_before,
            "optimum_after": result.optimum_after,
            "recovery_epochs": to_scratch,
            "recovery_seconds": seconds(to_scratch),
            "optimum_recovery_epochs": to_optimum,
            "optimum_recovery_seconds": seconds(to_optimum),
            "recovery_80pct_epochs": retrained_80,
            "recovery_80pct_seconds": seconds(retrained_80),
            "scratch_80pct_epochs": scratch_80,
            "scratch_80pct_seconds": seconds(scratch_80),
            "loss_below_scratch_level": recovery_loss(retrained[i], target, 0),
            "gain_over_scratch": float((retrained[i] - scratch[i]).sum()),
            "seconds_per_epoch": seconds_per_epoch,
            "ma_window": cfg.ma_window,
        })
    return rows
