"""Per-run result rows (DESIGN §8) from a run axis of metrics: what summary tables and figures read.

Each row: final and best held-out sum rate, C/C* and C/R' at the end, the moving-average training
sum rate (of the real environment under state exploration), the convergence epoch (MA sum rate
within the tolerance of its final value), the first epoch (and seconds) at which held-out C/C*
reaches 0.5 and 0.8, the final C/C* in each evaluation mode (`ratio_<mode>`: a deterministic actor's every mode
is its one action; NaN where a stochastic actor's metrics predate the modes), the first epoch (and seconds) at
which the moving average of held-out C/C* over
`ma_window` epochs of evaluations reaches 0.8 (the second convergence rule), the critic's final ground-truth
diagnostics, time per epoch and to
convergence, gradient sums (NaN for a network the learner does not have), the epoch a run diverged at (its
learner's state turned non-finite; None if it never did), and for state
exploration when chi left 0. `select_best_points` chooses the best (M, eta) of a
state-exploration variant from such rows.
"""

from __future__ import annotations

import numpy as np

from d2rl_jax.config import DETERMINISTIC_ACTORS, EVAL_MODES, TrainConfig
from d2rl_jax.run.statistics import convergence_epoch, first_epoch_reaching, ma_first_epoch_reaching, moving_average

# Learning milestones (docs/learning.md): the first evaluation at which held-out C/C* reaches each level.
RATIO_LEVELS = (0.5, 0.8)


def milestone_columns(level: float) -> tuple[str, str]:
    """(epoch column, seconds column) of a C/C* level in result rows."""
    tag = f"{round(100 * level):d}"
    return f"epoch_to_{tag}pct", f"seconds_to_{tag}pct"


# The second convergence rule (beside DESIGN §8's +-2% of the final MA sum rate): the first evaluation epoch at
# which the trailing moving average of held-out C/C* over max(1, ma_window // eval_every) evaluations (the
# training moving average's window in epochs) reaches 0.8. A policy that learned reaches it; one that settles
# low never does, however flat its curve.
MA_RATIO_LEVEL = 0.8
MA_EPOCH_COLUMN, MA_SECONDS_COLUMN = (f"ma_{c}" for c in milestone_columns(MA_RATIO_LEVEL))


def diverged_epochs(epoch_metrics: dict[str, np.ndarray]) -> list[int | None]:
    """Per run, the epoch (1-based, as the curves' x axis) after whose update the learner's state first held a
    non-finite value (`nonfinite_state`, d2rl_jax/training/loop.py), None where it never did (or where the
    metrics predate the flag)."""
    flags = epoch_metrics.get("nonfinite_state")
    if flags is None:
        return [None] * next(iter(epoch_metrics.values())).shape[0]
    return [int(np.argmax(f > 0)) + 1 if f.any() else None for f in flags]


def after_divergence(x: np.ndarray, y: np.ndarray, diverged: list[int | None]) -> np.ndarray:
    """`y` (runs, len(x)) with NaN from each diverged run's divergence epoch on: figures draw such a run as
    diverged (a mark where it ends, left out of the mean after it), not as a curve that learned badly."""
    y = np.array(y, np.float64)
    for i, epoch in enumerate(diverged):
        if epoch is not None:
            y[i, np.asarray(x) >= epoch] = np.nan
    return y


def divergence_note(diverged: list[int | None]) -> str:
    """"" when no run diverged, else e.g. "DIVERGED: 2/3 runs (epochs 1, 40)"."""
    epochs = [e for e in diverged if e is not None]
    if not epochs:
        return ""
    return f"DIVERGED: {len(epochs)}/{len(diverged)} runs (epoch{'s' if len(epochs) > 1 else ''} " \
           f"{', '.join(str(e) for e in epochs)})"


def _updated_mean(values: np.ndarray, updated: np.ndarray) -> float:
    """Mean over the epochs that updated the networks (the warm-up epochs report zeros)."""
    return float(values[updated > 0].mean()) if updated.any() else float("nan")


def training_sum_rate(epoch_metrics: dict[str, np.ndarray]) -> np.ndarray:
    """The environment's sum rate per epoch: with state exploration the real states' (the stored one is
    partly that of generated states)."""
    return epoch_metrics["real_sum_rate"] if "real_sum_rate" in epoch_metrics else epoch_metrics["sum_rate"]


def run_rows(epoch_metrics: dict[str, np.ndarray], eval_metrics: dict[str, np.ndarray], cfg: TrainConfig,
             seconds_per_epoch_per_run: float) -> list[dict]:
    """One dict per run of the leading axis. `seconds_per_epoch_per_run`: the compiled program's wall
    time per epoch divided by the runs it trained together (a vmapped run's share)."""
    # Under state exploration `sum_rate` is that of the stored transitions (generated states where replaced);
    # convergence is judged on the real environment's sum rate of the executed actions.
    ma_rate = moving_average(training_sum_rate(epoch_metrics), cfg.ma_window)
    diverged = diverged_epochs(epoch_metrics)
    rows = []
    for i in range(ma_rate.shape[0]):
        conv = convergence_epoch(ma_rate[i], cfg.convergence_tolerance)
        updated = epoch_metrics["updated"][i]
        row = {
            "final_sum_rate": float(eval_metrics["eval_sum_rate"][i, -1]),
            "best_sum_rate": float(eval_metrics["eval_sum_rate"][i].max()),
            "ratio_to_optimizer": float(eval_metrics["eval_ratio_to_optimizer"][i, -1]),
            "ratio_to_bound": float(eval_metrics["eval_ratio_to_bound"][i, -1]),
            # the designed reward C - R' (GDMOPT's reward on its task); NaN in metrics written before it existed
            "final_reward": float(eval_metrics.get("eval_reward", np.full((i + 1, 1), np.nan))[i, -1]),
            "final_ma_sum_rate": float(ma_rate[i, -1]),
            "final_ma_reward": float(moving_average(epoch_metrics["reward"][i], cfg.ma_window)[-1]),
            "convergence_epoch": conv,
            "seconds_per_epoch": seconds_per_epoch_per_run,
            "seconds_to_convergence": conv * seconds_per_epoch_per_run,
            "nonfinite_actions": int(epoch_metrics["nonfinite_actions"][i].sum()),
            "diverged_epoch": diverged[i],  # None: the learner's state stayed finite
            "critic_alignment": float(eval_metrics["eval_critic_alignment"][i, -1]),
            "critic_error": float(eval_metrics["eval_critic_error"][i, -1]),
        }
        for mode in EVAL_MODES:  # a stochastic actor's final C/C* in every evaluation mode (DESIGN §4)
            name = f"eval_ratio_{mode}"
            row[f"ratio_{mode}"] = (float(eval_metrics[name][i, -1]) if name in eval_metrics
                                    else row["ratio_to_optimizer"] if cfg.actor in DETERMINISTIC_ACTORS
                                    else float("nan"))
        for level in RATIO_LEVELS:
            epoch_name, seconds_name = milestone_columns(level)
            reached = first_epoch_reaching(eval_metrics["eval_epoch"][i], eval_metrics["eval_ratio_to_optimizer"][i],
                                           level)
            row[epoch_name] = reached
            row[seconds_name] = None if reached is None else reached * seconds_per_epoch_per_run
        reached = ma_first_epoch_reaching(eval_metrics["eval_epoch"][i], eval_metrics["eval_ratio_to_optimizer"][i],
                                          MA_RATIO_LEVEL, cfg.ma_window, cfg.eval_every)
        row[MA_EPOCH_COLUMN] = reached
        row[MA_SECONDS_COLUMN] = None if reached is None else reached * seconds_per_epoch_per_run
        for net in ("actor", "critic"):
            for part in ("weight", "bias"):
                name = f"{net}_grad_{part}_sum"
                row[name] = _updated_mean(epoch_metrics[name][i], updated) if name in epoch_metrics else float("nan")
        if cfg.state_exploration:
            rose = epoch_metrics["chi"][i] > 0
            row.update(chi_rise_epoch=int(np.argmax(rose)) if rose.any() else None,
                       final_chi=float(epoch_metrics["chi"][i, -1]),
                       replacements=int(epoch_metrics["replacements"][i].sum()))
        rows.append(row)
    return rows


# By the final held-out sum rate, not the convergence epoch: a point whose policy collapses (M = 1: the agent sees
# generated states only) settles early and low, and the +-2% rule calls that fast (docs/reproduction.md).
SELECTION_RULE = ("highest mean final held-out sum rate over seeds, ties to the lower mean convergence epoch "
                  "(moving-average sum rate within the tolerance of its final value)")


def select_best_points(rows: list[dict]) -> tuple[dict[str, dict], str]:
    """The best (M, eta) of each state-exploration variant with more than one point, by SELECTION_RULE."""
    best = {}
    for name in dict.fromkeys(r["variant"] for r in rows if int(r["state_exploration"])):
        points: dict[tuple[float, float], list[dict]] = {}
        for r in rows:
            if r["variant"] == name:
                points.setdefault((float(r["M"]), float(r["eta"])), []).append(r)
        if len(points) < 2:
            continue
        scored = [(-float(np.mean([r["final_sum_rate"] for r in group])),
                   float(np.mean([r["convergence_epoch"] for r in group])), m, eta)
                  for (m, eta), group in points.items()]
        neg_rate, conv, m, eta = min(scored)
        best[name] = {"M": m, "eta": eta, "convergence_epoch": conv, "final_sum_rate": -neg_rate,
                      "seeds": len(points[(m, eta)])}
    return best, SELECTION_RULE
