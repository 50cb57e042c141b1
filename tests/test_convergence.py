"""The rules that decide the paper's claims (d2rl_jax.run.convergence, experiments.claim_measures), on hand-made
curves whose right answer is known: a rising curve is never called converged, a common level is one every run
reaches, paired seeds are tested paired, a stalled variant never converges. Numpy only: no program is compiled."""

import json

import numpy as np
import pytest
import scipy.stats

from d2rl_jax.run.convergence import (
    PLATEAU_RISE,
    common_level,
    compare_paired,
    compare_runs,
    compare_unpaired,
    epochs_to_level,
    fires_late,
    plateau,
    reward_fluctuation,
    window_rise,
)

EPOCHS = np.arange(50, 4001, 50, dtype=float)


def _saturating(level: float, tau: float, seed: int, noise: float = 0.005) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return level * (1 - np.exp(-EPOCHS / tau)) + noise * rng.standard_normal(EPOCHS.size)


def test_a_rising_curve_is_not_called_flat_and_a_flat_one_is():
    rising = np.stack([0.2 + 0.55 * EPOCHS / 4000 + 0.005 * np.random.default_rng(s).standard_normal(EPOCHS.size)
                       for s in range(3)])  # +0.11 C/C* over the last 20%
    assert window_rise(EPOCHS, rising) == pytest.approx(np.full(3, 0.11), abs=0.01)
    assert not plateau(EPOCHS, rising).flat and "still rising" in plateau(EPOCHS, rising).describe()
    # a slow tail (the 4000-epoch sweeps: +0.035 over the last 20%) is still rising too
    slow = np.stack([_saturating(0.9, 2500, s) for s in range(5)])
    assert window_rise(EPOCHS, slow).mean() > PLATEAU_RISE and not plateau(EPOCHS, slow).flat
    flat = np.stack([_saturating(0.8, 300, s, noise=0.01) for s in range(3)])
    assert plateau(EPOCHS, flat).flat
    # a short run evaluated rarely: the last two evaluations; a single one has no slope and is never flat
    assert window_rise(np.array([100.0, 1000.0]), [[0.1, 0.4]])[0] == pytest.approx(0.3 * 200 / 900)
    assert not plateau(np.array([1000.0]), [[0.5], [0.6]]).flat


def test_the_common_level_is_reached_by_every_run_and_is_the_highest_on_the_grid():
    curves = np.stack([_saturating(level, 600, s) for s, level in enumerate((0.93, 0.74, 0.86))])
    level = common_level(curves)
    assert level == pytest.approx(0.70)  # the lowest peak is about 0.74: 0.70 is the highest multiple of 0.05 below
    assert np.isfinite(epochs_to_level(EPOCHS, curves, level)).all()
    assert np.isnan(epochs_to_level(EPOCHS, curves, level + 0.05)[1])  # the next level: one run never gets there
    first = epochs_to_level(EPOCHS, curves, level)
    for row, epoch in zip(curves, first, strict=True):  # the first evaluation at the level, none before it
        index = int(np.flatnonzero(EPOCHS == epoch)[0])
        assert row[index] >= level and (row[:index] < level).all()
    assert common_level(np.full((2, 10), 0.03)) is None  # below one step: no level to time


def test_paired_comparisons_are_the_paired_t_test_and_unpaired_the_delta_method():
    rng = np.random.default_rng(0)
    b = 1000 + 300 * rng.standard_normal(5)  # large seed-to-seed spread ...
    a = 1.1 * b + 20 * rng.standard_normal(5)  # ... that the pairing removes
    paired = compare_paired(a, b)
    assert paired.side(0.0, above=True) == "yes"  # a is 10% above b, seed by seed
    t = scipy.stats.ttest_rel(a, b)
    assert (paired.change - paired.ci > 0) == (t.pvalue / 2 < 0.025 and t.statistic > 0)
    half = scipy.stats.t.ppf(0.975, 4) * np.std(a - b, ddof=1) / np.sqrt(5) / b.mean()
    assert paired.ci == pytest.approx(half)
    assert compare_unpaired(a, b).side(0.0, above=True) == "inconclusive"  # unpaired, the spread hides it
    # a threshold: a paired t of a - (1 + t) b; the interval lies above 0.05 but not above 0.2
    assert compare_paired(a, b, 0.05).side(0.05, above=True) == "yes"
    assert compare_paired(a, b, 0.2).side(0.2, above=True) == "no"
    # runs keyed by seed: paired over the shared seeds only
    shared = compare_runs({0: 1.0, 1: 2.0, 2: 3.0, 7: 50.0}, {0: 0.5, 1: 1.0, 2: 1.5, 3: 9.0})
    assert shared.paired and shared.n_a == 3 and shared.change == pytest.approx(1.0)
    assert not compare_runs({0: 1.0, 1: 2.0}, {5: 1.0, 6: 2.0}).paired
    # negative values (rewards): the change has a's direction, -3.7 is below -3.6 whatever the ratio says
    lower = compare_paired(np.array([-3.71, -3.72, -3.70]), np.array([-3.61, -3.62, -3.60]))
    assert lower.change == pytest.approx(-0.1 / 3.61) and lower.side(0.0, above=True) == "no"
    assert compare_unpaired(np.array([-3.71, -3.72, -3.70]), np.array([-3.61, -3.62, -3.60])).change < 0


def test_late_firing_and_reward_fluctuation():
    np.testing.assert_array_equal(fires_late([2990, 3306, 1000], 4000), [False, True, False])
    ramp = np.linspace(0.0, 5.0, 2000)[None]  # a clean rising reward does not fluctuate
    assert reward_fluctuation(ramp, 100)[0] == pytest.approx(0.0, abs=1e-3)
    noisy = ramp + 0.3 * np.random.default_rng(0).standard_normal(ramp.shape)
    assert reward_fluctuation(noisy, 100)[0] == pytest.approx(0.3, rel=0.1)


class _Curves:
    """A SweepData stand-in holding hand-made curves: what experiments.claim_measures reads."""

    def __init__(self, variants: dict, refs: dict | None = None):
        self.variants, self.references, self.epochs = variants, refs or {}, 4000
        self.configs = {v: {"ma_window": 100, "eval_every": 50, "num_epochs": 4000} for v in variants}
        self.rows = [{"variant": v, "run": i, "point": 0, "seed": i, "M": 0.0, "eta": 0.0, "state_exploration": 0,
                      "ratio_to_optimizer": float(c[-1]), "convergence_epoch": 3500.0, "chunk_runs": 3,
                      "seconds_per_epoch": spe} for v, (c, spe) in variants.items() for i, c in enumerate(c)]

    def has(self, v):
        return v in self.variants

    def variant_rows(self, v, point=None):
        return [r for r in self.rows if r["variant"] == v]

    def values(self, v, column, point=None):
        return np.array([r[column] for r in self.variant_rows(v)])

    def eval_curves(self, v, point=None):
        return EPOCHS, self.variants[v][0]


REFS = {"C* (optimizer)": 1.0, "random actions": 0.1, "heuristic (MRT + MMSE)": 0.9}  # stall line 0.3


def test_claims_on_hand_made_curves(tmp_path):
    from experiments.claim_measures import CostTimings, cost_claim, final_claim, stall_claim, time_claim

    fast = np.stack([_saturating(0.85, 500, s) for s in range(3)])
    slow = np.stack([_saturating(0.8, 1500, s) for s in range(3)])  # needs ~3x the epochs to any level
    rising = np.stack([0.1 + 0.6 * EPOCHS / 4000 + 0.002 * s for s in range(3)])  # behind (0.70), still rising
    stuck = np.stack([np.full(EPOCHS.size, 0.2 + 0.01 * s) for s in range(3)])
    data = _Curves({"a": (fast, 0.002), "b": (slow, 0.001), "r": (rising, 0.001), "s": (stuck, 0.001)}, REFS)
    epochs = time_claim("a", "b", seconds=False)(data, None)
    # slow peaks at 0.8 (1 - e^(-4000/1500)) = 0.74: the common level is 0.70, which fast reaches ~3.5x sooner
    assert epochs.holds == "yes" and epochs.measured.startswith("to 0.70·C*") and "paired, n=3" in epochs.measured
    assert "fires in the last quarter in 3/3 and 3/3 runs" in epochs.two_percent  # epoch 3500 of 4000: flagged
    # total time: twice the cost per epoch from the sweep's one timing (no interval) on top of the epochs
    seconds = time_claim("a", "b", seconds=True)(data, None)
    assert "one timing per program" in seconds.note
    # ends higher: a (flat) vs r (behind at the end and still rising) is undecided; a vs the stalled s is decided
    assert final_claim("r", "a")(data, None).holds == "inconclusive"
    assert "still rising: r" in final_claim("r", "a")(data, None).note
    assert final_claim("a", "r")(data, None).holds == "inconclusive"  # ahead now, but r may still pass it
    assert not plateau(EPOCHS, slow).flat and final_claim("b", "s")(data, None).holds == "yes"  # rising, ahead of flat
    assert final_claim("a", "s")(data, None).holds == "yes"
    # "r stalls below a": a flat curve behind stalls; a rising one has not stalled, whatever its level
    assert stall_claim("a", "s")(data, None).holds == "yes"
    rising_raw = stall_claim("a", "r")(data, None)
    assert rising_raw.holds == "no" and "has not stalled" in rising_raw.note
    # a stalled variant never converges: a "faster" claim for it is a no, against it a yes
    assert time_claim("s", "b", seconds=False)(data, None).holds == "no"
    assert time_claim("b", "s", seconds=False)(data, None).holds == "yes"
    # repeated timings decide the cost factor: a costs 2x b per epoch, with an interval over repeats
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"benchmark": "cost_repeats", "preset": "x", "repeats": 3, "device": {},
                                "programs": [{"variant": "a", "seconds_per_epoch": [0.020, 0.021, 0.019]},
                                             {"variant": "b", "seconds_per_epoch": [0.010, 0.0105, 0.0095]}]}))
    timings = CostTimings.load(path)
    cost = timings.per_epoch("a", "b", 0.5)
    assert cost.change == pytest.approx(1.0) and cost.side(0.5, above=True) == "yes"
    more = cost_claim("a", "b", 0.5, "+50%")(data, timings)  # the paper's number is a bound: +100% is beyond +50%
    assert more.holds == "yes" and "the paper's +50% lies below the interval" in more.note
    assert cost_claim("a", "b", 1.5, "> 2.5x")(data, timings).holds == "no"
    assert cost_claim("a", "b", 1.0, "2x")(data, timings).holds == "inconclusive"  # 2x sits inside its interval
    timed = time_claim("a", "b", seconds=True)(data, timings)
    assert "interleaved repeats" in timed.note and timed.holds in ("yes", "inconclusive", "no")
    change = float(timed.measured.split("time ")[1].split("%")[0]) / 100
    epochs_change = float(epochs.measured.split("epochs ")[-1].split("%")[0]) / 100
    assert 1 + change == pytest.approx((1 + epochs_change) * 2.0, rel=2e-3)


def test_gradient_magnitudes_compare_as_ratios_of_geometric_means_with_an_equivalence_band():
    from d2rl_jax.run.convergence import compare_log_runs
    from experiments.claim_measures import _gradient_side

    # seed 3's gradients are 30x the others' in both variants: the log scale pairs them, a linear mean would not
    a = {0: 1.1e-4, 1: 2.2e-4, 2: 0.9e-4, 3: 3.3e-3}
    b = {s: v / 1.1 for s, v in a.items()}
    cmp = compare_log_runs(a, b)
    assert cmp.paired and cmp.change == pytest.approx(0.1) and cmp.bounds[0] == pytest.approx(0.1)
    assert _gradient_side(cmp, above=True) == "yes"  # 10% higher on every seed: a difference, however small
    noisy = compare_log_runs({0: 1.0, 1: 1.1, 2: 0.95}, {0: 1.02, 1: 1.0, 2: 1.0})
    assert noisy.side(0.0, above=True) == "inconclusive" and _gradient_side(noisy, above=True) == "no"  # equivalent
    wide = compare_log_runs({0: 1.0, 1: 3.0, 2: 0.5}, {0: 1.0, 1: 1.0, 2: 1.0})
    assert _gradient_side(wide, above=True) == "inconclusive"  # too wide to call either way


def test_scales_merge_without_picking():
    from experiments.claim_measures import Verdict
    from experiments.claim_scales import merge

    yes, no = Verdict("a", "yes"), Verdict("b", "no")
    rising = Verdict("c", "inconclusive", "still rising: x (plateau test)")
    assert merge({"long": None, "short": yes}) == ("yes", "short", "")
    assert merge({"long": rising, "short": yes}) == ("yes", "short", "")  # one decides, none the other way
    assert merge({"long": no, "short": yes})[0] == "conflicting"  # never the convenient one
    assert merge({"long": rising, "short": Verdict("-", "not measured")}) == (
        "inconclusive", "long", "still rising: x (plateau test)")
    assert merge({"long": None})[0] == "not measured"
    stalled = Verdict("neither learns (stalled below 0.30·C*: 3/3 vs 3/3)", "inconclusive", "no level to time")
    assert merge({"long": stalled}) == ("inconclusive", "long", "neither learns (stalled below 0.30·C*: 3/3 vs "
                                        "3/3); no level to time")  # not an interval that straddles
    straddles = Verdict("time +3.3% ± 10.4% (paired, n=3)", "inconclusive")
    assert merge({"long": straddles})[2] == ("the 95% interval straddles the paper's side: time +3.3% ± 10.4% "
                                             "(paired, n=3)")
