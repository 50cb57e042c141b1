"""The analogs of the paper's Figs. 2-9 and a reproduction table from finished sweeps.

    python -m experiments.figures --from DIR[,DIR2,...] [--out DIR] [--timings JSON] [--alias NAME=VARIANT@POINT]

Reads each DIR written by `experiments.sweep` (plan.json, summary.csv, per-chunk metrics); a
variant found in several DIRs is taken from the first. `--timings`: a `benchmarks.cost_repeats` result, whose
interleaved repeats decide the per-epoch cost claims; `--alias`: read one point of a variant under a grid's name
(e.g. learn_exp's setting as `mlp.designed`). Draws what the sweeps hold:

  fig2_action_curves.png   MLP vs diffusion actor: MA sum rate, MA reward (mean +- 95% CI)   action_exp
  learning.png             held-out C/C* of both actors with their APG ceilings, C*/heuristic/random   action_exp
  fig3_action_time.png     time to convergence (+-2%, 0.8 C*, common level), per epoch   action_exp
  fig4_reward_curves.png   the five reward designs: MA sum rate, MA reward                 reward_exp / state_exp
  fig5_reward_gradients.png  per-layer mean |dL/dW|, |dL/db| of the actor per design       reward_exp / state_exp
  fig6_reward_time.png     time to convergence and per epoch per design                    reward_exp / state_exp
  fig7_state_gradients.png (M, eta) maps of the actor's gradient weight and bias sums      state_exp, 2+ points
  fig8_points.png          every (M, eta) point's final C/C* with its interval and stalled runs     state_exp, 2+ points
  fig8_state_curves.png    each design at its judged (M, eta) vs without state exploration  state_exp
  fig9_state_time.png      time to convergence and per epoch, with and without             state_exp

Each time-to-convergence panel (Figs. 3, 6, 9) shows three rules side by side: +-2% of the final MA sum rate
(DESIGN §8), the moving-average held-out C reaching 0.8 C*, and reaching the common level of the panel's runs
(what decides the time claims, docs/reproduction.md); runs that never reach a level are marked "not reached n/N"
(a hatched bar: the mean of those that did; no bar when none did), never drawn as 0.
Every sum-rate panel draws each actor's APG ceiling (dashed, when the sweep trained it: the default) and
the held-out C*, heuristic and random levels. Also DIR/reproduction.md (experiments/reproduction.py).
Writes into --out (default: the first DIR).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import app, flags

from d2rl_jax.config import REWARD_DESIGNS
from d2rl_jax.run.convergence import common_level, epochs_to_level
from d2rl_jax.run.grids import apg_reference
from d2rl_jax.run.io import write_text_atomic
from d2rl_jax.run.statistics import mean_and_ci95
from d2rl_jax.run.summaries import MA_SECONDS_COLUMN
from experiments.claim_measures import (
    CostTimings,
    layer_means,
    mostly_stalled,
    paper_point,
    point_table,
    runs_of,
    stall_ratio,
    stalled,
)
from experiments.common import run_cli
from experiments.plots import (
    REFERENCE_SUFFIX,
    plot_bar_panels,
    plot_curve_panels,
    plot_heatmaps,
    plot_layer_bars,
    plot_learning,
    plot_point_intervals,
)
from experiments.reproduction import LABELS, reproduction_markdown
from experiments.sweep_data import SweepData, parse_aliases, sweeps_from_flag

FLAGS = flags.FLAGS
flags.DEFINE_list("from", None, "Sweep output directories, comma-separated.")
flags.DEFINE_multi_string("alias", [], "NAME=VARIANT@POINT_LABEL: read one point of a variant as NAME (e.g. a "
                          "learn_exp setting as mlp.designed), so that the claims comparing NAME read it. Repeatable.")
flags.DEFINE_string("timings", None, "A benchmarks.cost_repeats JSON: per-epoch costs from interleaved repeats, "
                    "which decide the cost claims and the cost factor of the time claims.")
flags.DEFINE_string("out", None, "Where figures and reproduction.md go (default: the first --from directory).")
flags.mark_flag_as_required("from")

_MA = "MA sum rate (bit/s/Hz)"


def _apg_entries(data: SweepData, entries: dict[str, tuple[str, int | None]]) -> dict[str, str]:
    """label -> variant of the APG ceiling of every actor among `entries` that the sweeps hold."""
    actors = dict.fromkeys(variant.split(".")[0] for variant, _ in entries.values())
    return {f"{a} APG ceiling": apg_reference(a) for a in actors if data.has(apg_reference(a))}


def _curve_panels(data: SweepData, entries: dict[str, tuple[str, int | None]]) -> list:
    """MA sum rate (with each actor's APG ceiling dashed and the held-out C*, heuristic and random levels) and
    MA reward."""
    rates, rewards = {}, {}
    for label, (variant, point) in entries.items():
        epochs, rate, reward = data.ma_curves(variant, point)
        rates[label], rewards[label] = (epochs, rate), (epochs, reward)
    styles = {}
    for label, variant in _apg_entries(data, entries).items():
        epochs, rate, _ = data.ma_curves(variant)
        rates[label] = (epochs, rate)
        styles[label] = {"linestyle": "--", "color": "k"}
    levels = {k: v for k, v in data.references.items() if not k.startswith("R'")}
    return [(rates, _MA, levels, styles), (rewards, "MA reward")]


def learning_figure(data: SweepData, entries: dict[str, tuple[str, int | None]], title: str, path: Path) -> Path:
    """Held-out C/C* of `entries` with the APG ceilings (dashed) and the C*, heuristic and random levels."""
    curves = {label: data.eval_curves(v, p) for label, (v, p) in entries.items()}
    curves.update({label.replace(" APG ceiling", REFERENCE_SUFFIX): data.eval_curves(v)
                   for label, v in _apg_entries(data, entries).items()})
    return plot_learning(curves, data.references, title, path)


CONVERGED = "±2% of the final MA sum rate"
REACHED_80 = "MA held-out C ≥ 0.8·C*"


def _common_level_seconds(data: SweepData, entries: dict[str, tuple[str, int | None]]) -> tuple[str, dict] | None:
    """Seconds to the common level of the entries' runs (the level every run that did not stall reaches;
    `experiments.claim_measures`): epochs to it x the run's seconds per epoch; NaN for a stalled run."""
    runs = {label: runs_of(data, v, p) for label, (v, p) in entries.items()}
    floor = stall_ratio(data)
    # as in the claims: a stalled run, and every run of a variant most of whose runs stall, has no time to a level
    out = {label: stalled(r, floor) | mostly_stalled(stalled(r, floor)) for label, r in runs.items()}
    learned = [r.smooth[~out[label]] for label, r in runs.items()]
    level = common_level(np.concatenate(learned)) if any(x.size for x in learned) else None
    if level is None:
        return None
    seconds = {}
    for label, r in runs.items():
        epochs = np.where(out[label], np.nan, epochs_to_level(r.epochs, r.smooth, level))
        seconds[label] = epochs * np.array([row["seconds_per_epoch"] for row in r.rows])
    return f"MA held-out C ≥ {level:.2f}·C* (common level)", seconds


def _time_panels(data: SweepData, entries: dict[str, tuple[str, int | None]], common: bool = True) -> list:
    """(a) device time to convergence by three rules side by side: +-2% of the final MA sum rate (DESIGN §8;
    late on rising curves), the moving-average held-out C reaching 0.8 C*, and reaching the common level of the
    entries' runs (what decides the time claims; `common` needs the runs' evaluation curves). A run that never
    reached a level (or stalled) is NaN: `draw_grouped_bars` marks it, never draws it as zero; sweeps written
    before the 0.8 C* column lack it; (b) device time per epoch (a vmapped run's share, one timing per program)."""
    total = {CONVERGED: {label: data.values(v, "seconds_to_convergence", p) for label, (v, p) in entries.items()}}
    if data.has_column(MA_SECONDS_COLUMN):
        total[REACHED_80] = {label: data.values(v, MA_SECONDS_COLUMN, p) for label, (v, p) in entries.items()}
    level = _common_level_seconds(data, entries) if common else None
    if level is not None:
        total[level[0]] = level[1]
    per_epoch = {label: 1e3 * data.values(v, "seconds_per_epoch", p) for label, (v, p) in entries.items()}
    return [(total, "device time to convergence (s)"), (per_epoch, "device time per epoch (ms, per-run share)")]


def action_figures(data: SweepData, out: Path) -> list[Path]:
    entries = {label: (v, None) for label, v in (("A. w/o GDM (MLP)", "mlp.designed"),
                                                 ("A. w/ GDM (diffusion)", "diffusion.designed")) if data.has(v)}
    if len(entries) < 2 or not data.has("mlp.designed"):
        return []
    learning = {v.split(".")[0]: (v, None) for v, _ in entries.values()}
    return [plot_curve_panels(_curve_panels(data, entries), "Fig. 2 analog: action exploration",
                              out / "fig2_action_curves.png"),
            learning_figure(data, learning, "held-out C/C* of both actors (DDPG) and their APG ceilings",
                            out / "learning.png"),
            plot_bar_panels(_time_panels(data, entries), "Fig. 3 analog: device time, action exploration",
                            out / "fig3_action_time.png")]


def _designs_of(data: SweepData, suffix: str = "") -> tuple[str, list[str]]:
    """The actor whose variants cover most reward designs (the diffusion actor on ties) and those designs."""
    found = {a: [d for d in REWARD_DESIGNS if data.has(f"{a}.{d}{suffix}")] for a in ("diffusion", "mlp")}
    actor = max(found, key=lambda a: len(found[a]))
    return actor, found[actor]


def reward_figures(data: SweepData, out: Path) -> list[Path]:
    actor, designs = _designs_of(data)
    if len(designs) < 2:
        return []
    entries = {LABELS[d]: (f"{actor}.{d}", None) for d in designs}
    layers = [({label: layer_means(data, v, f"actor_grad_{part}") for label, (v, _) in entries.items()},
               f"actor mean |dL/d{'W' if part == 'weight' else 'b'}|") for part in ("weight", "bias")]
    return [plot_curve_panels(_curve_panels(data, entries), "Fig. 4 analog: reward designs (diffusion actor)",
                              out / "fig4_reward_curves.png"),
            plot_layer_bars(layers, "Fig. 5 analog: gradient weight and bias per layer (forward order)", out /
                            "fig5_reward_gradients.png", data.layer_names(f"{actor}.{designs[0]}", "actor")),
            plot_bar_panels(_time_panels(data, entries), "Fig. 6 analog: device time per reward design",
                            out / "fig6_reward_time.png")]


def _point_panel(data: SweepData, variant: str, baseline: str) -> dict:
    rows = point_table(data, variant, None)
    chosen = paper_point(data, variant)
    base = None
    if data.has(baseline):
        mean, ci = mean_and_ci95(data.values(baseline, "ratio_to_optimizer"))
        base = (float(mean), float(ci))
    return {"title": variant, "labels": [f"{r['M']:g}/{r['eta']:g}" for r in rows],
            "means": [r["final"][0] for r in rows], "cis": [r["final"][1] for r in rows],
            "stalled": [f"{r['stalled']}/{r['runs']}" for r in rows],
            "chosen": next((i for i, r in enumerate(rows) if r["point"] == chosen), None), "baseline": base}


def state_figures(data: SweepData, out: Path) -> list[Path]:
    """Figs. 7 and 8's (M, eta) maps and point intervals for the designs swept over several points; Fig. 8's
    curves and Fig. 9's times for every design with state exploration (a one-point sweep included)."""
    actor, present = _designs_of(data, ".state")
    if not present:
        return []
    designs = [d for d in present if len({r["point"] for r in data.variant_rows(f"{actor}.{d}.state")}) > 1]
    maps = []
    for d in designs:
        rows = data.variant_rows(f"{actor}.{d}.state")
        ms, etas = sorted({r["M"] for r in rows}), sorted({r["eta"] for r in rows})
        for part in ("weight", "bias"):
            column = f"actor_grad_{part}_sum"
            grid = np.full((len(ms), len(etas)), np.nan)
            for i, m in enumerate(ms):
                for j, e in enumerate(etas):
                    grid[i, j] = np.mean([r[column] for r in rows if r["M"] == m and r["eta"] == e])
            base = float(data.values(f"{actor}.{d}", column).mean()) if data.has(f"{actor}.{d}") else None
            maps.append((f"{LABELS[d]}: {part} sum", grid, ms, etas, base))
    paths = [plot_heatmaps(maps, "Fig. 7 analog: sum over layers of the actor's gradient weight / bias",
                           out / "fig7_state_gradients.png"),
             plot_point_intervals([_point_panel(data, f"{actor}.{d}.state", f"{actor}.{d}") for d in designs],
                                  "every (M, eta) point: final C/C* (95% CI; red: the point the claims are judged at;"
                                  " under each: stalled runs)", out / "fig8_points.png")] if designs else []
    entries = {}
    for d in REWARD_DESIGNS:
        if data.has(f"{actor}.{d}.state"):
            point = paper_point(data, f"{actor}.{d}.state") if d in designs else None
            entries[f"{LABELS[d]} w/ state exp."] = (f"{actor}.{d}.state", point)
        if data.has(f"{actor}.{d}"):
            entries[f"{LABELS[d]}"] = (f"{actor}.{d}", None)
    paths += [plot_curve_panels(_curve_panels(data, entries), "Fig. 8 analog: judged (M, eta) vs no state exploration",
                                out / "fig8_state_curves.png"),
              plot_bar_panels(_time_panels(data, entries), "Fig. 9 analog: device time with / without state exp.",
                              out / "fig9_state_time.png")]
    return paths


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    data = sweeps_from_flag(getattr(FLAGS, "from"), parse_aliases(FLAGS.alias))
    out = Path(FLAGS.out or getattr(FLAGS, "from")[0])
    paths = action_figures(data, out) + reward_figures(data, out) + state_figures(data, out)
    try:
        timings = CostTimings.load(FLAGS.timings) if FLAGS.timings else None
    except (OSError, ValueError, KeyError) as err:
        raise app.UsageError(f"--timings={FLAGS.timings}: {err}") from None
    paths.append(write_text_atomic(out / "reproduction.md", reproduction_markdown(data, timings)))
    print("\n".join(f"wrote {p}" for p in paths), flush=True)


if __name__ == "__main__":
    run_cli(main)
