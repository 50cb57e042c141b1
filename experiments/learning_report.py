r"""The learning studies' table and curves from finished learn_exp or diffusion_exp sweeps (docs/learning.md).

    python -m experiments.learning_report --from DIR[,DIR2,...] [--out DIR] [--epochs 1000,5000,10000]

For every variant and traced point (mean +- 95% CI over its seeds): held-out C/C* at fixed epochs, the
epochs and seconds (per-run share of the compiled program) to 0.5 C* and 0.8 C* (over the seeds that reached
it, with how many did), the final C/C* in each evaluation mode (one sample, the noise-free chain, the best of K
by the critic; sweeps written before the modes show one), the final critic alignment cos(grad_a minQ, grad_a C)
and RMS error / std of the reward, and seconds per epoch. Writes learning.md (the table, with the reference
levels and the device) and learning_curves.png (one panel per actor: the best point of every setting, the APG
ceiling dashed, the C*, heuristic and random levels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from absl import app, flags

from d2rl_jax.config import EVAL_MODES
from d2rl_jax.run.io import write_text_atomic
from d2rl_jax.run.statistics import mean_and_ci95
from d2rl_jax.run.summaries import RATIO_LEVELS, milestone_columns
from experiments.common import run_cli
from experiments.plots import REFERENCE_SUFFIX, draw_learning, save_figure_atomic
from experiments.sweep_data import SweepData, sweeps_from_flag

FLAGS = flags.FLAGS
flags.DEFINE_list("from", None, "learn_exp or diffusion_exp sweep directories, comma-separated.")
flags.DEFINE_string("out", None, "Where learning.md and learning_curves.png go (default: the first --from).")
flags.DEFINE_list("epochs", None, "Epochs at which to tabulate C/C* (default: a quarter, half and all of the run).")
flags.mark_flag_as_required("from")


def _fmt(values: np.ndarray, digits: int = 3) -> str:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "–"
    mean, ci = mean_and_ci95(values)
    return f"{mean:.{digits}f} ± {ci:.{digits}f}"


def _milestone(rows: list[dict], level: float, seconds: bool) -> str:
    epoch_col, seconds_col = milestone_columns(level)
    reached = [r[seconds_col if seconds else epoch_col] for r in rows if r[epoch_col] not in (None, "")]
    if not reached:
        return f"– (0/{len(rows)})"
    mean, ci = mean_and_ci95(np.asarray(reached, np.float64))
    return f"{mean:.0f} ± {ci:.0f} ({len(reached)}/{len(rows)})"


def point_entries(data: SweepData) -> list[tuple[str, str, int]]:
    """(label, variant, point) of every traced point of every variant, in the sweeps' order."""
    entries = []
    for name in dict.fromkeys(v["name"] for plan in data.plans for v in plan["variants"]):
        for p in sorted({r["point"] for r in data.variant_rows(name)}):
            label = data.variant_rows(name, p)[0].get("point_label") or "-"
            entries.append((name if label == "-" else f"{name} [{label}]", name, p))
    return entries


def table(data: SweepData, epochs: list[int]) -> str:
    head = ["variant [point]", "seeds", *[f"C/C* @ {e}" for e in epochs]]
    for level in RATIO_LEVELS:
        head += [f"epochs to {level:g}·C*", f"s to {level:g}·C*"]
    modes = data.has_column("ratio_deterministic")
    if modes:
        head += [f"final C/C* {mode}" for mode in EVAL_MODES]
    head += ["critic cos", "critic err/std", "ms/epoch/run"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, variant, point in point_entries(data):
        rows = data.variant_rows(variant, point)
        eval_epochs, ratios = data.eval_curves(variant, point)
        cells = [label, str(len(rows))]
        for e in epochs:
            index = np.flatnonzero(eval_epochs == e)
            cells.append(_fmt(ratios[:, index[0]]) if index.size else "–")
        for level in RATIO_LEVELS:
            cells += [_milestone(rows, level, seconds=False), _milestone(rows, level, seconds=True)]
        if modes:
            cells += [_fmt([r[f"ratio_{mode}"] for r in rows]) for mode in EVAL_MODES]
        cells += [_fmt([r["critic_alignment"] for r in rows], 2), _fmt([r["critic_error"] for r in rows], 2),
                  _fmt([1e3 * r["seconds_per_epoch"] for r in rows], 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _grids(data: SweepData) -> str:
    return " + ".join(dict.fromkeys(plan.get("grid", "sweep") for plan in data.plans))


def best_points(data: SweepData) -> dict[str, tuple[str, int]]:
    """Each variant's point with the highest mean final C/C* (the curve the figure draws)."""
    best = {}
    for _, variant, point in point_entries(data):
        score = float(np.mean(data.values(variant, "ratio_to_optimizer", point)))
        if variant not in best or score > best[variant][0]:
            best[variant] = (score, point)
    return {v: (v, p) for v, (_, p) in best.items()}


def curves_figure(data: SweepData, path: Path) -> Path:
    import matplotlib.pyplot as plt

    chosen = best_points(data)
    actors = list(dict.fromkeys(v.split(".")[0] for v in chosen))
    fig, axes = plt.subplots(1, len(actors), figsize=(6.4 * len(actors), 4.4), squeeze=False)
    for ax, actor in zip(axes[0], actors, strict=True):
        curves = {}
        for variant, (_, point) in chosen.items():
            if variant.split(".")[0] != actor:
                continue
            setting = variant.split(".")[-1]
            name = actor + REFERENCE_SUFFIX if setting == "apg" else f"{actor} {setting}"
            curves[name] = data.eval_curves(variant, point)
        draw_learning(ax, curves, data.references)
        ax.set_title(f"{actor} actor: best point of each setting", fontsize=9)
    fig.suptitle(f"{_grids(data)}: held-out C/C* (mean ± 95% CI over seeds); device {data.device}", fontsize=10)
    return save_figure_atomic(fig, path)


def report(data: SweepData, epochs: list[int]) -> str:
    refs = ", ".join(f"{k} {v:.3f}" for k, v in data.references.items())
    return (f"# {_grids(data)}: {data.epochs} epochs, device {data.device}\n\n"
            f"Held-out references (mean sum rate, bit/s/Hz): {refs}.\n\n{table(data, epochs)}\n")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    data = sweeps_from_flag(getattr(FLAGS, "from"))
    try:
        epochs = [int(e) for e in FLAGS.epochs] if FLAGS.epochs else sorted({data.epochs // 4, data.epochs // 2,
                                                                            data.epochs})
    except ValueError:
        raise app.UsageError(f"--epochs={','.join(FLAGS.epochs)}: each must be an integer") from None
    out = Path(FLAGS.out or getattr(FLAGS, "from")[0])
    paths = [write_text_atomic(out / "learning.md", report(data, epochs)),
             curves_figure(data, out / "learning_curves.png")]
    print("\n".join(f"wrote {p}" for p in paths), flush=True)


if __name__ == "__main__":
    run_cli(main)
