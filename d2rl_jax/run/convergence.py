"""Measures of convergence that decide the paper's claims (Step 11; docs/reproduction.md): levels every compared
run reaches, the time to reach them, a plateau test for final levels, when the +-2% rule fires, stalled runs, and
paired comparisons over seeds. Numpy only; each works on held-out C/C* curves (one row per run).

Why not the +-2% rule alone: on a curve that still rises it fires where the rise slows (75-83% of a 4000-epoch run
in the committed sweeps), so "converges sooner" becomes a statement about the per-epoch cost. A *common level*,
the highest level on a LEVEL_STEP grid that every compared run reaches, asks when each run got there; a final
level counts only where the curve has stopped rising (the plateau test).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from d2rl_jax.run.statistics import mean_and_ci95, moving_average, t95

LEVEL_STEP = 0.05  # common levels are multiples of this (C/C*): readable, and shared across claims
PLATEAU_FRACTION = 0.2  # the plateau test fits the last 20% of a run...
PLATEAU_RISE = 0.02  # ...and calls it flat when the fitted rise over that window is below 0.02 C/C* (mean over seeds)
LATE_FRACTION = 0.75  # the +-2% rule "fires late" from here on: it marks a slowing rise, not convergence
STALL_FRACTION = 0.25  # stalled: never a quarter of the way from random actions to the closed-form heuristic


def smoothed(ratios: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average of held-out C/C* over `window` evaluations (the 0.8 C* rule's smoothing)."""
    return moving_average(np.asarray(ratios, np.float64), max(1, int(window)))


def stall_level(random_ratio: float, heuristic_ratio: float) -> float:
    """The C/C* a run must reach, smoothed, not to count as stalled."""
    return random_ratio + STALL_FRACTION * (heuristic_ratio - random_ratio)


def common_level(curves: np.ndarray, step: float = LEVEL_STEP) -> float | None:
    """The highest multiple of `step` that every curve (row) reaches at some evaluation; None when some curve
    stays below `step` (or there is none)."""
    curves = np.atleast_2d(np.asarray(curves, np.float64))
    if curves.size == 0:
        return None
    peak = float(np.min(np.max(curves, axis=-1)))
    level = np.floor(peak / step + 1e-9) * step
    return round(float(level), 10) if level >= step else None


def epochs_to_level(epochs: np.ndarray, curves: np.ndarray, level: float) -> np.ndarray:
    """Per curve, the first evaluation epoch at which it is >= `level` (NaN where it never is)."""
    curves = np.atleast_2d(np.asarray(curves, np.float64))
    reached = curves >= level - 1e-12
    first = np.argmax(reached, axis=-1)
    out = np.asarray(epochs, np.float64)[first]
    return np.where(reached.any(axis=-1), out, np.nan)


def window_rise(epochs: np.ndarray, curves: np.ndarray, fraction: float = PLATEAU_FRACTION) -> np.ndarray:
    """Per curve, the least-squares line's rise over the last `fraction` of the run (in C/C*): slope per epoch
    times the window's length in epochs. The window holds the evaluations at epochs >= (1 - fraction) x the last,
    and at least the last two (a short run evaluated rarely); NaN with a single evaluation (no slope)."""
    epochs = np.asarray(epochs, np.float64)
    curves = np.atleast_2d(np.asarray(curves, np.float64))
    if epochs.size < 2:
        return np.full(curves.shape[0], np.nan)
    inside = epochs >= (1.0 - fraction) * epochs[-1]
    inside[-2:] = True
    x = epochs[inside] - epochs[inside].mean()
    slopes = (curves[:, inside] - curves[:, inside].mean(axis=-1, keepdims=True)) @ x / (x @ x)
    return slopes * fraction * epochs[-1]


@dataclasses.dataclass(frozen=True)
class Plateau:
    rise: float  # mean over runs of the fitted rise over the last PLATEAU_FRACTION of the run (C/C*)
    ci: float  # its 95% half-width
    flat: bool  # rise < PLATEAU_RISE

    def describe(self) -> str:
        state = "flat" if self.flat else "one evaluation, no slope" if np.isnan(self.rise) else "still rising"
        return f"{state}: {self.rise:+.3f} ± {self.ci:.3f} C/C* over the last {PLATEAU_FRACTION:.0%}"


def plateau(epochs: np.ndarray, curves: np.ndarray) -> Plateau:
    """The plateau test: a final level is a level (usable for a verdict) when the mean fitted rise of held-out C/C*
    over the last PLATEAU_FRACTION of the run is below PLATEAU_RISE. Judged on the mean, not its upper bound: the
    bound is shown, and a curve rising by more than the bound on average is never called flat."""
    rise = window_rise(epochs, curves)
    mean, ci = mean_and_ci95(rise)
    return Plateau(float(mean), float(ci), bool(mean < PLATEAU_RISE))  # NaN (one evaluation): never flat


def fires_late(convergence_epochs: np.ndarray, num_epochs: int) -> np.ndarray:
    """Which runs' +-2% convergence epoch lies in the last quarter of the run (LATE_FRACTION)."""
    return np.asarray(convergence_epochs, np.float64) >= LATE_FRACTION * num_epochs


def reward_fluctuation(rewards: np.ndarray, window: int, fraction: float = PLATEAU_FRACTION) -> np.ndarray:
    """Per run (row of per-epoch rewards), the standard deviation of the reward around its trailing moving average
    (`window` epochs) over the last `fraction` of the run: the fluctuation the paper's Fig. 2(b) reads, with the
    trend removed so that a rising curve is not counted as fluctuating."""
    rewards = np.atleast_2d(np.asarray(rewards, np.float64))
    start = int(round((1.0 - fraction) * rewards.shape[-1]))
    residual = rewards - moving_average(rewards, window)
    return residual[:, start:].std(axis=-1, ddof=1)


@dataclasses.dataclass(frozen=True)
class Comparison:
    """mean(a) / mean(b) - 1 with a 95% interval, from paired seeds (`paired`) or independent ones."""

    change: float
    ci: float
    n_a: int
    n_b: int
    paired: bool
    bounds: tuple[float, float] | None = None  # an asymmetric interval (ratios of geometric means), else change +- ci

    def side(self, threshold: float = 0.0, above: bool = True) -> str:
        low, high = self.bounds or (self.change - self.ci, self.change + self.ci)
        if above:
            return "yes" if low > threshold else "no" if high < threshold else "inconclusive"
        return "yes" if high < threshold else "no" if low > threshold else "inconclusive"

    def describe(self) -> str:
        how = f"paired, n={self.n_a}" if self.paired else f"unpaired, n={self.n_a}/{self.n_b}"
        if self.bounds:
            return (f"×{1 + self.change:.3g} ({1 + self.bounds[0]:.3g}–{1 + self.bounds[1]:.3g}, geometric means, "
                    f"{how})")
        return f"{100 * self.change:+.1f}% ± {100 * self.ci:.1f}% ({how})"


def _se(x: np.ndarray) -> float:
    return float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0


def compare_paired(a: np.ndarray, b: np.ndarray, threshold: float = 0.0) -> Comparison:
    """Seeds paired (a[i] and b[i] share seed i): the relative change (mean(a) - mean(b)) / |mean(b)| (mean(a) /
    mean(b) - 1 for positive values; its sign is a's direction for negative ones, e.g. rewards), its interval from
    a paired t on the per-seed differences d = a - (1 + threshold) b scaled by |mean(b)|, so that the interval
    lies above `threshold` exactly when the paired t-test says mean(a) > (1 + threshold) mean(b) (for mean(b) > 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired samples need one value per shared seed: got shapes {a.shape} and {b.shape}")
    n, mb = len(a), float(b.mean())
    if mb == 0.0:
        return Comparison(float("nan"), float("inf"), n, n, True)
    change = (float(a.mean()) - mb) / abs(mb)
    if n < 2:
        return Comparison(change, float("inf"), n, n, True)
    d = a - (1.0 + threshold) * b
    return Comparison(change, t95(n) * _se(d) / abs(mb), n, n, True)


def compare_unpaired(a: np.ndarray, b: np.ndarray) -> Comparison:
    """Independent seeds: (mean(a) - mean(b)) / |mean(b)| with a delta-method interval (Student's t with the
    smaller sample's degrees of freedom, the conservative choice)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ma, mb = float(a.mean()), float(b.mean())
    n = min(len(a), len(b))
    if mb == 0.0:
        return Comparison(float("nan"), float("inf"), len(a), len(b), False)
    change = (ma - mb) / abs(mb)
    if n < 2 or ma == 0.0:
        return Comparison(change, float("inf"), len(a), len(b), False)
    ci = t95(n) * abs(ma / mb) * np.hypot(_se(a) / ma, _se(b) / mb)
    return Comparison(change, float(ci), len(a), len(b), False)


def compare_log_runs(a: dict[int, float], b: dict[int, float]) -> Comparison:
    """For positive, skewed quantities (gradient magnitudes span orders of magnitude across seeds): the ratio of
    geometric means with a t interval on log(a) - log(b), paired over the shared seeds when at least two are
    shared, else unpaired (the smaller sample's degrees of freedom)."""
    shared = sorted(set(a) & set(b))
    if len(shared) >= 2:
        d = np.log([a[s] for s in shared]) - np.log([b[s] for s in shared])
        diff, half, n_a, n_b = float(d.mean()), t95(len(d)) * _se(d), len(d), len(d)
    else:
        la, lb = np.log(list(a.values())), np.log(list(b.values()))
        n_a, n_b = len(la), len(lb)
        diff = float(la.mean() - lb.mean())
        half = t95(min(n_a, n_b)) * float(np.hypot(_se(la), _se(lb))) if min(n_a, n_b) > 1 else float("inf")
    bounds = (float(np.expm1(diff - half)), float(np.expm1(diff + half)))
    return Comparison(float(np.expm1(diff)), half, n_a, n_b, len(shared) >= 2, bounds)


def compare_runs(a: dict[int, float], b: dict[int, float], threshold: float = 0.0) -> Comparison:
    """`a`, `b`: seed -> value. Paired over the seeds both have when they share at least two (the rest are left
    out: a paired test pairs), else unpaired over all."""
    shared = sorted(set(a) & set(b))
    if len(shared) >= 2:
        return compare_paired([a[s] for s in shared], [b[s] for s in shared], threshold)
    return compare_unpaired(list(a.values()), list(b.values()))


__all__ = ["LATE_FRACTION", "LEVEL_STEP", "PLATEAU_FRACTION", "PLATEAU_RISE", "STALL_FRACTION", "Comparison",
           "Plateau", "common_level", "compare_log_runs", "compare_paired", "compare_runs", "compare_unpaired",
           "epochs_to_level", "fires_late", "plateau", "reward_fluctuation", "smoothed", "stall_level", "window_rise"]
