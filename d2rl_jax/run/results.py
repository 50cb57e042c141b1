"""The one metrics file of every run and sweep: per-epoch and per-evaluation arrays of a run axis, in npz.

    write_metrics(path, epoch_metrics, eval_metrics, run_index=None)   # atomically, compressed
    epoch_metrics, eval_metrics, run_index = read_metrics(path)

Keys are `epoch/<name>` (each (runs, epochs, ...)) and `eval/<name>` (each (runs, evaluations)), `diverged_epoch`
(runs,) (the epoch after whose update a run's learner state first held a NaN or an infinity; -1: never); a
sweep's chunk files add `run_index`, the runs' places on the variant's run axis.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from d2rl_jax.run.io import write_bytes_atomic
from d2rl_jax.run.summaries import diverged_epochs


def write_metrics(path: str | Path, epoch_metrics: dict[str, np.ndarray], eval_metrics: dict[str, np.ndarray],
                  run_index: np.ndarray | None = None) -> Path:
    arrays = {f"epoch/{k}": np.asarray(v) for k, v in epoch_metrics.items()}
    arrays.update({f"eval/{k}": np.asarray(v) for k, v in eval_metrics.items()})
    if "nonfinite_state" in epoch_metrics:  # each run's divergence epoch (1-based; -1: it stayed finite)
        arrays["diverged_epoch"] = np.asarray([-1 if e is None else e for e in diverged_epochs(epoch_metrics)])
    if run_index is not None:
        arrays["run_index"] = np.asarray(run_index)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return write_bytes_atomic(path, buffer.getvalue())


def read_metrics(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray | None]:
    with np.load(path) as saved:
        epoch = {k[len("epoch/"):]: saved[k] for k in saved.files if k.startswith("epoch/")}
        evals = {k[len("eval/"):]: saved[k] for k in saved.files if k.startswith("eval/")}
        return epoch, evals, saved["run_index"] if "run_index" in saved.files else None
