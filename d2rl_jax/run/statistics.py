"""Host-side statistics of training curves (DESIGN §8): moving averages, convergence and recovery epochs,
levels reached, Student-t confidence intervals. Numpy only; the in-loop gradient metrics are in
`d2rl_jax.core.gradient_metrics`.
"""

from __future__ import annotations

import numpy as np


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last `window` entries along the last axis (shorter at the start)."""
    x = np.asarray(x, np.float64)
    csum = np.cumsum(x, axis=-1)
    out = csum.copy()
    out[..., window:] = csum[..., window:] - csum[..., :-window]
    counts = np.minimum(np.arange(1, x.shape[-1] + 1), window)
    return out / counts


def convergence_epoch(series: np.ndarray, tolerance: float = 0.02, final_fraction: float = 0.1) -> int:
    """First epoch after which `series` stays within +-tolerance of its final value.

    The final value is the mean of the last `final_fraction` of the series. Returns an index in
    [0, len - 1]; a series that only settles at its end converges at its last epoch.
    """
    series = np.asarray(series, np.float64)
    n = series.shape[-1]
    final = series[max(0, n - max(1, int(round(final_fraction * n)))):].mean()
    outside = np.abs(series - final) > tolerance * max(abs(final), 1e-12)
    indices = np.flatnonzero(outside)
    return 0 if indices.size == 0 else int(min(indices[-1] + 1, n - 1))


def t95(n: int) -> float:
    """The two-sided 95% quantile of Student's t for a mean over n samples (n - 1 degrees of freedom): with 3
    seeds it is 4.30, not the normal 1.96, which would make the interval 2.2x too narrow."""
    import scipy.stats  # here, not at import: it costs half a second of every CLI's start-up

    return float(scipy.stats.t.ppf(0.975, n - 1))


def mean_and_ci95(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over `axis` (seeds) and the half-width of its 95% confidence interval (Student's t, n - 1 degrees
    of freedom); 0 for a single sample."""
    x = np.asarray(x, np.float64)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, np.zeros_like(mean)
    return mean, t95(n) * x.std(axis=axis, ddof=1) / np.sqrt(n)


def recovery_epoch(series: np.ndarray, target: float, start: int, tolerance: float = 0.02) -> int | None:
    """Epochs after `start` (a drift) until `series` reaches (1 - tolerance) x `target` and stays there to
    the end: 0 if it never drops below, None if it has not recovered by the last epoch. `target` > 0 (a
    sum rate: a from-scratch policy's on the new environment, or C* there)."""
    after = np.asarray(series, np.float64)[start:]
    below = np.flatnonzero(after < (1.0 - tolerance) * target)
    if below.size == 0:
        return 0
    recovered = int(below[-1]) + 1
    return None if recovered >= after.size else recovered


def recovery_loss(series: np.ndarray, reference: np.ndarray | float, start: int, stop: int | None = None) -> float:
    """The sum rate lost while recovering: the area between `reference` (a curve or a level) and
    `series` where the series lies below, over epochs [start, stop) (bit/s/Hz x epochs)."""
    series = np.asarray(series, np.float64)
    reference = np.broadcast_to(np.asarray(reference, np.float64), series.shape)
    stop = series.shape[-1] if stop is None else stop
    return float(np.maximum(reference[..., start:stop] - series[..., start:stop], 0.0).sum(axis=-1))


def first_epoch_reaching(epochs: np.ndarray, values: np.ndarray, level: float) -> int | None:
    """The first evaluation epoch whose value is >= `level` (e.g. held-out C/C* >= 0.8), None if none is."""
    reached = np.flatnonzero(np.asarray(values, np.float64) >= level)
    return None if reached.size == 0 else int(np.asarray(epochs)[reached[0]])


def evaluation_window(ma_window: int, eval_every: int) -> int:
    """The evaluations a trailing moving average over held-out evaluations spans so that it covers `ma_window`
    epochs, as the training moving average does: max(1, ma_window // eval_every)."""
    return max(1, int(ma_window) // max(1, int(eval_every)))


def ma_first_epoch_reaching(epochs: np.ndarray, values: np.ndarray, level: float, ma_window: int,
                            eval_every: int) -> int | None:
    """The first evaluation epoch at which the trailing moving average of `values` (held-out C/C* per
    evaluation) over `evaluation_window(ma_window, eval_every)` evaluations is >= `level`; None if it never is.
    At the start the average covers the evaluations so far (as `moving_average`)."""
    averaged = moving_average(np.asarray(values, np.float64), evaluation_window(ma_window, eval_every))
    return first_epoch_reaching(epochs, averaged, level)
