"""Training-curve figures: mean +- 95% CI over seeds, one line per variant. Written atomically."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from d2rl_jax.io import atomic_path  # noqa: E402
from d2rl_jax.metrics import mean_and_ci95  # noqa: E402


def save_figure_atomic(fig, path: str | Path) -> Path:
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    return Path(path)


def plot_curves(curves: dict[str, tuple[np.ndarray, np.ndarray]], ylabel: str, title: str, path: str | Path,
                references: dict[str, float] | None = None) -> Path:
    """curves: variant -> (x (E,), y (seeds, E)). references: label -> horizontal line."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for name, (x, y) in curves.items():
        mean, ci = mean_and_ci95(y, axis=0)
        ax.plot(x, mean, label=f"{name} (n={y.shape[0]})")
        ax.fill_between(x, mean - ci, mean + ci, alpha=0.25)
    for label, value in (references or {}).items():
        ax.axhline(value, linestyle="--", linewidth=1, color="gray")
        ax.annotate(label, (0.01, value), xycoords=("axes fraction", "data"), fontsize=8, color="gray",
                    va="bottom")
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure_atomic(fig, path)
