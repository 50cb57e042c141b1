"""Per-run result rows from synthetic metrics: convergence on the real sum rate, warm-up excluded."""

import numpy as np
import pytest

from d2rl_jax.config import train_preset
from d2rl_jax.run.results import write_metrics
from d2rl_jax.run.summaries import after_divergence, diverged_epochs, divergence_note, run_rows


def _metrics(runs=2, epochs=200, state_exploration=False):
    rng = np.random.default_rng(0)
    flat = 1.0 + 0.001 * rng.standard_normal((runs, epochs))
    epoch = {"sum_rate": flat.copy(), "reward": flat - 2.0, "updated": np.ones((runs, epochs)),
             "nonfinite_actions": np.zeros((runs, epochs))}
    epoch["updated"][:, :10] = 0  # warm-up: no update, zero gradients reported
    for net in ("actor", "critic"):
        for part in ("weight", "bias"):
            epoch[f"{net}_grad_{part}_sum"] = np.where(epoch["updated"] > 0, 2.0, 0.0)
    if state_exploration:
        epoch["real_sum_rate"] = flat.copy()
        epoch["sum_rate"][:, 150:] += 2.0  # generated states with inflated channels from epoch 150 on
        epoch["chi"] = np.where(np.arange(epochs) >= 150, 0.4, 0.0) * np.ones((runs, 1))
        epoch["replacements"] = np.ones((runs, epochs))
    evals = {"eval_sum_rate": np.array([[0.5, 0.7], [0.6, 0.4]]), "eval_ratio_to_optimizer": np.full((runs, 2), 0.1),
             "eval_ratio_to_bound": np.full((runs, 2), 0.05), "eval_epoch": np.tile([100, 200], (runs, 1)),
             "eval_critic_alignment": np.full((runs, 2), 0.3), "eval_critic_error": np.full((runs, 2), 0.5)}
    return epoch, evals


def test_rows_take_last_and_best_evaluations_and_skip_warm_up_gradients():
    epoch, evals = _metrics()
    rows = run_rows(epoch, evals, train_preset("small"), seconds_per_epoch_per_run=0.01)
    assert [r["final_sum_rate"] for r in rows] == [0.7, 0.4] and [r["best_sum_rate"] for r in rows] == [0.7, 0.6]
    assert all(r["actor_grad_weight_sum"] == 2.0 for r in rows)  # the warm-up's zeros are not averaged in
    assert rows[0]["seconds_to_convergence"] == pytest.approx(rows[0]["convergence_epoch"] * 0.01)


def test_state_exploration_converges_on_the_real_sum_rate():
    epoch, evals = _metrics(state_exploration=True)
    cfg = train_preset("small").replace(state_exploration=True)
    rows = run_rows(epoch, evals, cfg, seconds_per_epoch_per_run=0.01)
    # The stored sum rate jumps at epoch 150 (it would put convergence after 150); the real one is flat.
    assert all(r["convergence_epoch"] < 150 for r in rows)
    assert all(r["final_ma_sum_rate"] == pytest.approx(1.0, abs=0.01) for r in rows)
    assert [r["chi_rise_epoch"] for r in rows] == [150, 150] and rows[0]["final_chi"] == 0.4


def test_milestones_are_the_first_evaluations_reaching_each_level():
    epoch, evals = _metrics()
    evals["eval_ratio_to_optimizer"] = np.array([[0.55, 0.85], [0.3, 0.6]])
    del epoch["critic_grad_weight_sum"]  # a learner without a critic (apg) reports no critic gradients
    rows = run_rows(epoch, evals, train_preset("small"), seconds_per_epoch_per_run=0.01)
    assert [r["epoch_to_50pct"] for r in rows] == [100, 200] and [r["epoch_to_80pct"] for r in rows] == [200, None]
    assert rows[0]["seconds_to_80pct"] == pytest.approx(2.0) and rows[1]["seconds_to_80pct"] is None
    assert np.isnan(rows[0]["critic_grad_weight_sum"]) and rows[0]["critic_alignment"] == 0.3


def test_ma_milestone_is_the_first_evaluation_where_the_moving_average_of_c_over_c_star_reaches_0_8():
    """The second convergence rule, recomputed from the curves: a trailing mean of held-out C/C* over
    max(1, ma_window // eval_every) evaluations (shorter at the start), its first epoch >= 0.8, x seconds/epoch."""
    epoch, evals = _metrics()
    cfg = train_preset("small").replace(ma_window=100, eval_every=50)  # a window of 2 evaluations
    ratios = np.array([[0.6, 0.9, 0.75, 0.95],  # raw: 0.8 at 100; averaged 0.6, 0.75, 0.825: at 150
                       [0.5, 0.9, 0.6, 0.7]])  # raw: 0.8 at 100; averaged 0.5, 0.7, 0.75, 0.65: never
    evals.update(eval_ratio_to_optimizer=ratios, eval_epoch=np.tile([50, 100, 150, 200], (2, 1)),
                 **{k: np.tile(v[:, -1:], (1, 4)) for k, v in evals.items() if k not in ("eval_epoch",
                                                                                         "eval_ratio_to_optimizer")})
    rows = run_rows(epoch, evals, cfg, seconds_per_epoch_per_run=0.01)
    window = max(1, cfg.ma_window // cfg.eval_every)
    for row, series in zip(rows, ratios, strict=True):
        averaged = [series[max(0, j - window + 1):j + 1].mean() for j in range(len(series))]
        reached = [e for e, a in zip([50, 100, 150, 200], averaged, strict=True) if a >= 0.8]
        expected = reached[0] if reached else None
        assert row["ma_epoch_to_80pct"] == expected and row["epoch_to_80pct"] == 100
        assert row["ma_seconds_to_80pct"] == (None if expected is None else pytest.approx(expected * 0.01))
    assert [r["ma_epoch_to_80pct"] for r in rows] == [150, None]
    # a window shorter than an evaluation period is one evaluation: the raw milestone
    rows = run_rows(epoch, evals, cfg.replace(ma_window=20), seconds_per_epoch_per_run=0.01)
    assert [r["ma_epoch_to_80pct"] for r in rows] == [100, 100] == [r["epoch_to_80pct"] for r in rows]


def test_a_diverged_run_is_dated_and_drawn_as_such(tmp_path):
    """The first epoch whose update left a non-finite state dates the divergence (1-based, as the curves' x axis);
    the curve ends there with a mark, and the mean after it is that of the runs still finite."""
    from experiments.plots import _divergence_ends, _mean_and_ci_of_finite

    epoch, evals = _metrics(runs=2, epochs=200)
    epoch["nonfinite_state"] = np.zeros((2, 200), np.int32)
    epoch["nonfinite_state"][1, 49:] = 1
    rows = run_rows(epoch, evals, train_preset("small").replace(num_epochs=200, chunk_epochs=100, eval_every=100), 1.0)
    assert [r["diverged_epoch"] for r in rows] == [None, 50]
    assert divergence_note([r["diverged_epoch"] for r in rows]) == "DIVERGED: 1/2 runs (epoch 50)"
    with np.load(write_metrics(tmp_path / "metrics.npz", epoch, evals)) as saved:
        assert saved["diverged_epoch"].tolist() == [-1, 50]
    assert divergence_note([None, None]) == "" and diverged_epochs({"sum_rate": np.zeros((2, 5))}) == [None, None]
    x = np.array([50, 100, 150, 200])
    curves = np.array([[0.1, 0.2, 0.3, 0.4], [0.5, 0.6, 0.7, 0.8], [0.3, 0.4, 0.5, 0.6]])
    y = after_divergence(x, curves, [None, 100, None])
    assert np.isnan(y[1, 1:]).all() and y[1, 0] == 0.5 and np.isfinite(y[[0, 2]]).all()
    assert _divergence_ends(y) == [(1, 0)]
    assert _divergence_ends(after_divergence(x, curves, [None, 10, None])) == [(1, None)]  # before the first point
    mean, ci = _mean_and_ci_of_finite(y)
    np.testing.assert_allclose(mean, [0.3, 0.3, 0.4, 0.5])
    assert ci[0] > 0 and np.isfinite(ci).all()
