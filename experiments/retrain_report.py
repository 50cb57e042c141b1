"""The retraining report of an `experiments.retrain` directory: retrain.csv, retrain.md and two figures.

    drift_sum_rate.png   per variant: the moving-average sum rate of the retrained runs around the drift
                         (continuous across it) and of the scratch runs from the drift on, mean +- 95% CI,
                         with C* before and after the drift in the panel's title
    recovery.png         per variant: epochs to recover to the scratch level (runs that did not are
                         counted at the end of the window and marked), the sum rate lost on the way, and
                         the held-out sum rate right after the drift relative to before it

retrain.md's first table gives, per variant, epochs and device seconds to the scratch runs' level and to 0.8 C* of
the drifted environment (moving-average held-out C, the sweep's second convergence rule), for the retrained runs
and, beside them, for the runs trained from scratch on the new environment; its second, where the greedy
policies end: held-out C/C* of the drifted environment right after the drift and at the end, retrained and from
scratch, and their difference paired by seed.

It reads only the files the command wrote: `python -m experiments.retrain ... --resume` with every variant
done rewrites the report without training.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from d2rl_jax.run.io import nulls_to_nan, read_json, write_text_atomic
from d2rl_jax.run.results import read_metrics
from d2rl_jax.run.statistics import mean_and_ci95, moving_average
from d2rl_jax.run.summaries import training_sum_rate
from experiments.plots import plot_drift_panels, plot_recovery_bars


def _pretrain_curves(out: Path, variant: str, row: dict) -> np.ndarray | None:
    """The pre-drift per-epoch sum rate of the retrained runs: written by this command beside them, or
    by the run they were loaded from (experiments.run's metrics.npz); None when neither is there."""
    for path in (out / variant / "pretrain" / "metrics.npz", Path(row.get("pretrained_in", "")) / "metrics.npz"):
        if path.is_file():
            return training_sum_rate(read_metrics(path)[0])
    return None


def _fmt(x: float | None, digits: int = 3) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _milestone(rows: list[dict], epochs_key: str, seconds_key: str) -> dict | None:
    """How many runs reached a milestone and the mean epochs and device seconds of those; None for rows written
    before the milestone was recorded."""
    if any(epochs_key not in r for r in rows):
        return None
    reached = [r for r in rows if r[epochs_key] is not None]
    return {"reached": len(reached), "runs": len(rows),
            "epochs": float(np.mean([r[epochs_key] for r in reached])) if reached else None,
            "seconds": float(np.mean([r[seconds_key] for r in reached])) if reached else None}


def _milestone_cell(m: dict | None) -> str:
    """"k/n · E epochs · S s" (means over the k runs that reached it), "0/n", or "—" (not recorded)."""
    if m is None:
        return "—"
    if not m["reached"]:
        return f"0/{m['runs']}"
    return f"{m['reached']}/{m['runs']} · {m['epochs']:.0f} epochs · {m['seconds']:.2f} s"


def _variant_line(rows: list[dict]) -> dict:
    def stat(key: str) -> tuple[float, float]:
        mean, ci = mean_and_ci95(np.asarray([r[key] for r in rows], np.float64))
        return float(mean), float(ci)

    def ratio(values: list[float]) -> tuple[float, float]:  # of C* after the drift
        mean, ci = mean_and_ci95(np.asarray(values, np.float64) / np.asarray([r["optimum_after"] for r in rows]))
        return float(mean), float(ci)

    recovered = [r["recovery_epochs"] for r in rows if r["recovery_epochs"] is not None]
    to_optimum = [r["optimum_recovery_epochs"] for r in rows if r["optimum_recovery_epochs"] is not None]
    seconds = [r["recovery_seconds"] for r in rows if r["recovery_seconds"] is not None]
    return {
        "runs": len(rows),
        "before": stat("eval_before_drift"), "after": stat("eval_after_drift"),
        "scratch": stat("scratch_level"), "retrained": stat("retrained_level"),
        "recovered": len(recovered), "recovery_epochs": float(np.mean(recovered)) if recovered else None,
        "recovery_seconds": float(np.mean(seconds)) if seconds else None,
        "optimum_recovered": len(to_optimum),
        "to_80pct": _milestone(rows, "recovery_80pct_epochs", "recovery_80pct_seconds"),
        "scratch_to_80pct": _milestone(rows, "scratch_80pct_epochs", "scratch_80pct_seconds"),
        "loss": stat("loss_below_scratch_level"), "gain": stat("gain_over_scratch"),
        # held-out C / C* of the drifted environment: where the policies end, not where the exploring curves do
        "after_ratio": ratio([r["eval_after_drift"] for r in rows]),
        "final_ratio": ratio([r["eval_final"] for r in rows]),
        "scratch_ratio": ratio([r["scratch_eval_final"] for r in rows]),
        "ratio_gap": ratio([r["eval_final"] - r["scratch_eval_final"] for r in rows]),
    }


def _markdown(config: dict, lines: dict[str, dict], rows: list[dict]) -> str:
    drift = config["drift"]
    change = {"clutter_move": f"interferers to {drift['clutter_angles_deg']} deg"
              + (f", INR {drift['clutter_inr_db']} dB" if drift["clutter_inr_db"] is not None else ""),
              "noise": f"noise floors +{drift['noise_rise_db']:g} dB",
              "hotspot": f"users in a {drift['hotspot_width_deg']:g} deg sector around "
                         f"{drift['hotspot_center_deg']:g} deg"}
    first = rows[0]
    out = [
        "# Retraining after drift",
        "",
        f"Command: `{config['command']}`  ",
        f"Device: {config['device']['device_kind']} ({config['device']['platform']}).  ",
        f"Drift: **{drift['name']}** ({change[drift['name']]}) at epoch {first['drift_epoch']}; "
        f"{config['epochs']} epochs after it; seeds {config['seeds']}.  ",
        f"Held-out C* (optimizer): {first['optimum_before']:.3f} before the drift, {first['optimum_after']:.3f} after.",
        "",
        f"Recovery: epochs after the drift until the moving-average sum rate of a retrained run is back within "
        f"{100 * config['tolerance']:g}% of the final level of the runs trained from scratch on the new environment "
        "(same variant, point and seeds, same program), and stays there (*epochs to recover*: mean over the runs that "
        "recovered); device s = those epochs x the program's seconds per epoch per run. "
        "*to C\\**: runs that came within the tolerance of C* on the new environment. *to 0.8·C\\**: the first epoch "
        "after the drift at which the moving average of the held-out C/C* (C* of the new environment; a trailing mean "
        "over max(1, ma_window // eval_every) evaluations, the retrained runs' starting with their policy right after "
        "the drift) reaches 0.8, as `runs that reached it/runs · mean epochs · mean device s` over the runs that "
        "reached it, for the retrained runs and for the runs trained from scratch on the new environment. "
        "Loss: the area between the scratch level and the retrained curve where it lies below (bit/s/Hz x epochs); "
        "gain: the signed area between the retrained and the scratch curves. *C before / right after*: the "
        "pre-trained policy on held-out states, no exploration, in the old and the new environment. *Levels* and "
        "recovery: the moving average of the environment's per-epoch sum rate of the executed (exploring) actions, "
        "the real states' under state exploration; a level is the last 10% of the window. ± is a 95% interval "
        "over runs.",
        "",
        "| variant | runs | C before | C right after | scratch level | retrained level | recovered | epochs to "
        "recover | device s | to C* | to 0.8·C* (retrained) | to 0.8·C* (from scratch) | loss | gain over scratch |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    def pm(stat: tuple[float, float]) -> str:
        return f"{stat[0]:.3f} ± {stat[1]:.3f}"

    for name, v in lines.items():
        out.append(f"| {name} | {v['runs']} | {pm(v['before'])} | {pm(v['after'])} | {pm(v['scratch'])} | "
                   f"{pm(v['retrained'])} | {v['recovered']}/{v['runs']} | {_fmt(v['recovery_epochs'], 0)} | "
                   f"{_fmt(v['recovery_seconds'], 2)} | {v['optimum_recovered']}/{v['runs']} | "
                   f"{_milestone_cell(v['to_80pct'])} | {_milestone_cell(v['scratch_to_80pct'])} | "
                   f"{v['loss'][0]:.1f} ± {v['loss'][1]:.1f} | {v['gain'][0]:.1f} ± {v['gain'][1]:.1f} |")
    out += ["", r"Held-out C/C\* of the drifted environment (greedy policy, C\* after the drift): the pre-trained "
            "policy right after the drift, the retrained and the scratch runs at the end; *retrained − scratch* "
            "pairs the runs by seed (same program, same number of epochs on the new environment).", "",
            "| variant | runs | right after the drift | retrained, end | from scratch, end | retrained − scratch |",
            "|---|---|---|---|---|---|"]
    for name, v in lines.items():
        out.append(f"| {name} | {v['runs']} | {pm(v['after_ratio'])} | {pm(v['final_ratio'])} | "
                   f"{pm(v['scratch_ratio'])} | {v['ratio_gap'][0]:+.3f} ± {v['ratio_gap'][1]:.3f} |")
    return "\n".join(out) + "\n"


def _seconds(m: dict | None) -> str:
    """Mean device seconds to 0.8 C* of the runs that reached it, with k/n when not all did."""
    if m is None or m["seconds"] is None:
        return "—" if m is None else f"0/{m['runs']}"
    return f"{m['seconds']:.2f}" + ("" if m["reached"] == m["runs"] else f" ({m['reached']}/{m['runs']})")


def _console(lines: dict[str, dict]) -> str:
    text = [f"{'variant':<30}{'runs':>5}{'C before':>10}{'C after':>9}{'scratch':>9}{'recovered':>11}"
            f"{'epochs':>8}{'device s':>10}{'0.8C* s':>14}{'scratch 0.8C* s':>16}{'loss':>8}"]
    for name, v in lines.items():
        text.append(f"{name:<30}{v['runs']:>5}{v['before'][0]:10.3f}{v['after'][0]:9.3f}{v['scratch'][0]:9.3f}"
                    f"{v['recovered']:>6}/{v['runs']:<4}{_fmt(v['recovery_epochs'], 0):>8}"
                    f"{_fmt(v['recovery_seconds'], 2):>10}{_seconds(v['to_80pct']):>14}"
                    f"{_seconds(v['scratch_to_80pct']):>16}{v['loss'][0]:8.1f}")
    return "\n".join(text)


def write_report(out: str | Path) -> str:
    """Write retrain.csv, retrain.md and the figures of `out`; return the console table."""
    out = Path(out)
    config = read_json(out / "config.json")
    rows, lines, panels, recovery = [], {}, [], {}
    for name in config["variants"]:
        done = out / name / "rows.json"
        if not done.exists():
            continue  # not run yet (an interrupted command): reported once --resume finishes it
        variant_rows = nulls_to_nan(read_json(done))
        rows += variant_rows
        lines[name] = _variant_line(variant_rows)
        after = training_sum_rate(read_metrics(out / name / "retrain.npz")[0])
        # the bars count a run that did not recover as the whole window after the drift
        recovery[name] = [after.shape[1] if r["recovery_epochs"] is None else r["recovery_epochs"]
                          for r in variant_rows]
        pre = _pretrain_curves(out, name, variant_rows[0])
        panels.append(_drift_panel(name, pre, after, len(variant_rows), variant_rows[0]))
    if not rows:
        raise FileNotFoundError(f"{out} holds no finished variant (rows.json)")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out / "retrain.csv", buffer.getvalue())
    write_text_atomic(out / "retrain.md", _markdown(config, lines, rows))
    title = f"drift: {config['drift']['name']}"
    plot_drift_panels(panels, f"{title}: moving-average sum rate around the drift", out / "drift_sum_rate.png")
    unrecovered = {name: v["runs"] - v["recovered"] for name, v in lines.items()}
    plot_recovery_bars(recovery, unrecovered,
                       {name: [r["loss_below_scratch_level"] for r in rows if r["variant"] == name] for name in lines},
                       {name: [r["eval_after_drift"] / r["eval_before_drift"] for r in rows if r["variant"] == name]
                        for name in lines}, f"{title}: recovery per variant", out / "recovery.png")
    return _console(lines)


def _drift_panel(name: str, pre: np.ndarray | None, after: np.ndarray, n: int, row: dict) -> dict:
    """The curves of one variant: the retrained runs' moving average is taken across the drift (the
    same window as the recovery rows), so it shows how fast the average forgets the old environment."""
    drift, window = row["drift_epoch"], row["ma_window"]
    retrained = after[:n] if pre is None else np.concatenate([pre[:, -after.shape[1]:], after[:n]], axis=1)
    start = drift - (retrained.shape[1] - after.shape[1])
    return {
        # C* goes in the title: at our agents' levels (C/C* ~ 0.1) its lines would flatten the curves
        "title": f"{name}   (C* {row['optimum_before']:.2f} -> {row['optimum_after']:.2f})",
        "curves": {"retrained": (np.arange(start, drift + after.shape[1]), moving_average(retrained, window)),
                   "from scratch (new env)": (np.arange(drift, drift + after.shape[1]),
                                              moving_average(after[n:], window))},
        "drift_epoch": drift,
    }
