"""Figures: training curves and bars (mean +- 95% CI over seeds), per-layer bars, (M, eta) heat-maps.
Written atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.patches  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from d2rl_jax.run.io import atomic_path  # noqa: E402
from d2rl_jax.run.statistics import mean_and_ci95  # noqa: E402


def save_figure_atomic(fig, path: str | Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def _divergence_ends(y: np.ndarray) -> list[tuple[int, int | None]]:
    """(run, index of its last finite value; None if it has none) of every run of `y` (runs, points) that ends in
    NaN: a diverged run, cut by `summaries.after_divergence` (None: it diverged before the first point)."""
    ends = []
    for run, values in enumerate(np.asarray(y, np.float64)):
        finite = np.flatnonzero(np.isfinite(values))
        if not np.isfinite(values[-1]):
            ends.append((run, int(finite[-1]) if finite.size else None))
    return ends


def _mean_and_ci_of_finite(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and 95% CI over the runs at each point, of the finite values only (a diverged run leaves the mean
    where it ends); NaN where no run has one."""
    y = np.asarray(y, np.float64)
    if np.isfinite(y).all():
        return mean_and_ci95(y, axis=0)
    mean, ci = np.full(y.shape[1], np.nan), np.full(y.shape[1], np.nan)
    for i in range(y.shape[1]):
        values = y[np.isfinite(y[:, i]), i]
        if values.size:
            mean[i], ci[i] = (float(v) for v in mean_and_ci95(values))
    return mean, ci


def _draw_curves(ax, curves: dict[str, tuple[np.ndarray, np.ndarray]], ylabel: str,
                 references: dict[str, float] | None = None, styles: dict[str, dict] | None = None) -> None:
    for name, (x, y) in curves.items():
        ends = _divergence_ends(y)
        mean, ci = _mean_and_ci_of_finite(y)
        diverged = f", {len(ends)} diverged ×" if ends else ""
        line, = ax.plot(x, mean, label=f"{name} (n={y.shape[0]}{diverged})", **(styles or {}).get(name, {}))
        ax.fill_between(x, mean - ci, mean + ci, alpha=0.25, color=line.get_color())
        for run, last in ends:
            if last is not None:
                ax.plot(x[last], y[run, last], marker="x", markersize=8, color=line.get_color(), linestyle="none")
    for label, value in (references or {}).items():
        ax.axhline(value, linestyle="--", linewidth=1, color="gray")
        ax.annotate(label, (0.01, value), xycoords=("axes fraction", "data"), fontsize=8, color="gray",
                    va="bottom")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def plot_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], ylabel: str, title: str, path: str | Path,
                references: dict[str, float] | None = None,
                second: tuple[dict[str, tuple[np.ndarray, np.ndarray]], str] | None = None) -> Path:
    """curves: variant -> (x (E,), y (seeds, E)). references: label -> horizontal line. `second`: (curves,
    y label) of a second panel beside the first."""
    fig, axes = plt.subplots(1, 2 if second else 1, figsize=(12.0 if second else 6.4, 4.0), squeeze=False)
    _draw_curves(axes[0, 0], curves, ylabel, references)
    if second:
        _draw_curves(axes[0, 1], *second)
    fig.suptitle(title, fontsize=10)
    return save_figure_atomic(fig, path)


REFERENCE_SUFFIX = ".apg"  # variants trained by the APG learner: the per-update ceiling, drawn dashed


def learning_styles(names) -> dict[str, dict]:
    """Each actor's DDPG curve solid and its APG ceiling dashed in the same colour."""
    actors = list(dict.fromkeys(n.removesuffix(REFERENCE_SUFFIX) for n in names))
    # More than the 10 default colours would repeat one within a legend: tab20's 20 then.
    colors = plt.get_cmap("tab20").colors if len(actors) > 10 else [f"C{i}" for i in range(10)]
    return {n: {"color": colors[actors.index(n.removesuffix(REFERENCE_SUFFIX)) % len(colors)],
                "linestyle": "--" if n.endswith(REFERENCE_SUFFIX) else "-"} for n in names}


def ratio_references(references: dict[str, float] | None) -> dict[str, float]:
    """The reference sum rates as fractions of the optimum, the first level (the y axis of the learning figures):
    the optimum at 1 under its symbol ("C*", "C_WF"), every other level but the upper bound R' by its name."""
    if not references:
        return {}
    (optimum_name, optimum), *others = references.items()
    if not np.isfinite(optimum):
        return {}
    return {optimum_name.split(" (")[0]: 1.0, **{label: value / optimum for label, value in others
                                                 if not label.startswith("R'")}}


def draw_learning(ax, curves: dict[str, tuple[np.ndarray, np.ndarray]], references: dict[str, float] | None) -> None:
    """Held-out C/C* curves (APG ceilings dashed) with the C*, heuristic and random levels."""
    styles = learning_styles(curves)
    label = {n: f"{n.removesuffix(REFERENCE_SUFFIX)} APG ceiling" if n.endswith(REFERENCE_SUFFIX) else n
             for n in curves}
    _draw_curves(ax, {label[n]: c for n, c in curves.items()}, "held-out C / C*", ratio_references(references),
                 {label[n]: style for n, style in styles.items()})


def plot_learning(curves: dict[str, tuple[np.ndarray, np.ndarray]], references: dict[str, float] | None, title: str,
                  path: str | Path) -> Path:
    """curves: variant -> (eval epochs, C/C* (seeds, evals)), variants named `<actor>` or `<actor>.apg`;
    references: the sum-rate levels of `EvalBatch.reference_levels`."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    draw_learning(ax, curves, references)
    ax.set_title(title, fontsize=9)
    return save_figure_atomic(fig, path)


def plot_curve_panels(panels: list[tuple], title: str, path: str | Path) -> Path:
    """Side-by-side panels (a), (b), ...: each (curves as in `plot_curves`, y label[, reference lines[, styles]])."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.0), squeeze=False)
    for i, (ax, panel) in enumerate(zip(axes[0], panels, strict=True)):
        _draw_curves(ax, *panel)
        ax.set_title(f"({chr(97 + i)})", fontsize=9)
    fig.suptitle(title, fontsize=10)
    return save_figure_atomic(fig, path)


def plot_bar_panels(panels: list[tuple[dict, str]], title: str, path: str | Path) -> Path:
    """Bars of the mean +- 95% CI over seeds: each panel (label -> values (seeds,), y label), or grouped bars
    (series -> {label -> values (seeds,)}, y label) where NaN marks a run that never reached the quantity
    (`draw_grouped_bars`)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.0 * len(panels), 4.0), squeeze=False)
    for i, (ax, (values, ylabel)) in enumerate(zip(axes[0], panels, strict=True)):
        if values and all(isinstance(v, dict) for v in values.values()):
            draw_grouped_bars(ax, values, ylabel, i)
        else:
            _draw_bars(ax, values, ylabel, i)
    fig.suptitle(title, fontsize=10)
    return save_figure_atomic(fig, path)


PARTIAL_HATCH = "//"


def draw_grouped_bars(ax, series: dict[str, dict[str, np.ndarray]], ylabel: str, index: int) -> list[str]:
    """Side-by-side bars per label, one per series (e.g. time to +-2% convergence and time to 0.8 C*), each the
    mean +- 95% CI over the runs. NaN is a run that never reached it: never drawn as zero. When every run
    reached it, a plain bar; when some did, a hatched bar of the mean over those, marked "not reached n/N";
    when none did, no bar, only the mark. Returns the marks written, in drawing order."""
    labels = list(dict.fromkeys(label for values in series.values() for label in values))
    width = 0.8 / max(len(series), 1)
    marks, labelled, partial = [], set(), False
    for j, (name, values) in enumerate(series.items()):
        color = f"C{j}"
        for i, label in enumerate(labels):
            if label not in values:
                continue
            x = np.asarray(values[label], np.float64)
            reached = x[np.isfinite(x)]
            position = i + (j - (len(series) - 1) / 2) * width
            missing = x.size - reached.size
            if reached.size:
                mean, ci = mean_and_ci95(reached)
                ax.bar(position, mean, width, yerr=ci, capsize=3, color=color, alpha=0.5 if missing else 1.0,
                       hatch=PARTIAL_HATCH if missing else None, edgecolor=color,
                       label=None if name in labelled else name)
                labelled.add(name)
                partial |= bool(missing)
            if missing:
                mark = f"not reached {missing}/{x.size}"
                marks.append(mark)
                height = float(sum(mean_and_ci95(reached))) if reached.size else 0.0  # above the error bar
                ax.annotate(mark, (position, height), ha="center", va="bottom", fontsize=6, color="C3",
                            rotation=90 if not reached.size else 0)
    handles, names = ax.get_legend_handles_labels()
    for name in series:  # a series no run reached still gets its legend entry
        if name not in names:
            handles.append(matplotlib.patches.Patch(color=f"C{list(series).index(name)}"))
            names.append(name)
    if partial:
        handles.append(matplotlib.patches.Patch(facecolor="white", edgecolor="gray", hatch=PARTIAL_HATCH))
        names.append("mean of the runs that reached it")
    ax.legend(handles, names, fontsize=6)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(f"({chr(97 + index)})", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return marks


def _draw_bars(ax, values: dict[str, np.ndarray], ylabel: str, index: int):
    stats = [mean_and_ci95(np.asarray(v, np.float64)) for v in values.values()]
    bars = ax.bar(range(len(values)), [m for m, _ in stats], yerr=[c for _, c in stats], capsize=3, color="C0")
    ax.set_xticks(range(len(values)), list(values), rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.set_title(f"({chr(97 + index)})", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    return bars


def plot_layer_bars(panels: list[tuple[dict[str, np.ndarray], str]], title: str, path: str | Path,
                    layer_names: list[str] | None = None) -> Path:
    """Grouped bars per layer in forward order: each panel (variant -> per-layer values (layers,), y label).
    A NaN value is a layer without that parameter (a Dense without bias): its tick says so, no bar is drawn."""
    fig, axes = plt.subplots(1, len(panels), figsize=(6.0 * len(panels), 4.0), squeeze=False)
    for i, (ax, (values, ylabel)) in enumerate(zip(axes[0], panels, strict=True)):
        width = 0.8 / max(len(values), 1)
        for j, (name, per_layer) in enumerate(values.items()):
            layers = np.arange(len(per_layer))
            names = layer_names if layer_names is not None else [f"layer {k + 1}" for k in layers]
            missing = np.isnan(per_layer)
            ax.bar(layers + j * width, np.where(missing, 0.0, per_layer), width, label=name)
            ax.set_xticks(layers + 0.4 - width / 2,
                          [f"{n}\n(none)" if m else n for n, m in zip(names, missing, strict=True)],
                          fontsize=7, rotation=30)
        ax.set_ylabel(ylabel)
        ax.set_title(f"({chr(97 + i)})", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    return save_figure_atomic(fig, path)


def plot_heatmaps(maps: list[tuple[str, np.ndarray, list[float], list[float], float | None]], title: str,
                  path: str | Path) -> Path:
    """(M, eta) maps: each (panel title, values (len(M), len(eta)), M values, eta values, baseline or None)."""
    cols = 2
    rows = (len(maps) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 3.8 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(maps):]:
        ax.axis("off")
    for ax, (name, values, ms, etas, baseline) in zip(axes.flat, maps, strict=False):
        image = ax.imshow(values, aspect="auto", origin="lower", cmap="viridis")
        ax.set_xticks(range(len(etas)), [f"{e:g}" for e in etas], fontsize=7)
        ax.set_yticks(range(len(ms)), [f"{m:g}" for m in ms], fontsize=7)
        ax.set_xlabel("eta")
        ax.set_ylabel("M")
        for (r, c), v in np.ndenumerate(values):
            ax.text(c, r, f"{v:.3g}", ha="center", va="center", fontsize=6, color="w")
        base = f"; without state exp. {baseline:.3g}" if baseline is not None else ""
        ax.set_title(name + base, fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.046)
    fig.suptitle(title, fontsize=10)
    return save_figure_atomic(fig, path)


def plot_point_intervals(panels: list[dict], title: str, path: str | Path) -> Path:
    """One panel per state-exploration variant: final held-out C/C* (mean ± 95% CI) at every (M, eta) point, the
    baseline without state exploration as a band, the point the claims are judged at in red, and each point's
    stalled runs written under it. Each panel: {"title", "labels", "means", "cis", "stalled", "chosen" (index or
    None), "baseline" ((mean, ci) or None)}."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False, layout="constrained")
    for ax, panel in zip(axes.flat, panels, strict=True):
        x = np.arange(len(panel["labels"]))
        colors = ["tab:red" if i == panel["chosen"] else "tab:blue" for i in x]
        for i in x:
            ax.errorbar(i, panel["means"][i], yerr=panel["cis"][i], fmt="o", color=colors[i], capsize=3)
            ax.annotate(panel["stalled"][i], (i, 0), xytext=(0, 2), textcoords="offset points", ha="center",
                        fontsize=6, xycoords=("data", "axes fraction"))
        if panel["baseline"] is not None:
            mean, ci = panel["baseline"]
            ax.axhspan(mean - ci, mean + ci, color="0.85", label="without state exp. (95% CI)")
            ax.legend(fontsize=7, loc="upper right")
        ax.set_xticks(x, panel["labels"], rotation=60, fontsize=6)
        ax.set_ylabel("final held-out C/C*")
        ax.set_title(panel["title"], fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure_atomic(fig, path)


def plot_drift_panels(panels: list[dict], title: str, path: str | Path) -> Path:
    """One panel per variant: each {"title", "curves" (as in `plot_curves`), "drift_epoch"}."""
    cols = min(4, len(panels))
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False, layout="constrained")
    for ax in axes.flat[len(panels):]:
        ax.axis("off")
    for ax, panel in zip(axes.flat, panels, strict=False):
        _draw_curves(ax, panel["curves"], "sum rate (bit/s/Hz), MA")
        ax.axvline(panel["drift_epoch"], color="k", linewidth=1, linestyle=":")
        ax.set_title(panel["title"], fontsize=8)
    fig.suptitle(title, fontsize=10)
    return save_figure_atomic(fig, path)


def plot_recovery_bars(recovery: dict[str, list[float]], unrecovered: dict[str, int], loss: dict[str, list[float]],
                       after_ratio: dict[str, list[float]], title: str, path: str | Path) -> Path:
    """Per variant, mean +- 95% CI over runs: (a) epochs to recover (runs that did not recover count as the
    whole window; the count is written over the bar), (b) sum rate lost, (c) C right after / before the drift."""
    panels = [(recovery, "epochs to recover (to the scratch level)"), (loss, "sum rate lost (bit/s/Hz x epochs)"),
              (after_ratio, "C right after drift / C before")]
    fig, axes = plt.subplots(1, 3, figsize=(15.0, 4.0), squeeze=False)
    for i, (ax, (values, ylabel)) in enumerate(zip(axes[0], panels, strict=True)):
        bars = _draw_bars(ax, values, ylabel, i)
        if i == 0:
            for bar, name in zip(bars, values, strict=True):
                if unrecovered[name]:
                    ax.annotate(f"{unrecovered[name]} not\nrecovered", (bar.get_x() + bar.get_width() / 2,
                                                                      bar.get_height()),
                                ha="center", va="bottom", fontsize=6, color="C3")
    fig.suptitle(title, fontsize=10)
    return save_figure_atomic(fig, path)
