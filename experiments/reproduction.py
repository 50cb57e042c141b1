"""The paper's quantitative claims (Sec. V) beside what a sweep measured: DIR/reproduction.md.

Each claim names the variants it compares, the per-run column, and the direction the paper reports.
A relative change between two variants is mean(A) / mean(B) - 1 with a 95% interval from the
delta method over seeds; a claim *holds* when the interval lies on the paper's side of zero (or of
the paper's threshold), *does not hold* when it lies on the other side, and is *inconclusive*
otherwise. Claims whose variants the sweep did not run say which grid measures them.

Every claim about convergence epochs or time to convergence is judged twice, once per convergence rule: the
+-2% rule (DESIGN §8: the moving-average training sum rate stays within 2% of its final value) and the 0.8 C*
rule (the moving-average held-out C first reaches 0.8 C*; `d2rl_jax.run.summaries.MA_EPOCH_COLUMN`). Under the
second, a variant whose runs did not all reach 0.8 C* makes the claim *inconclusive* ("k/n runs reached
0.8 C*"): a time exists only for the runs that reached it, and a mean over those would hide the others.

Beside the claims, a table no paper gives: each variant's final held-out C/C* (mean +- 95% CI over seeds)
and its distance to its actor's APG ceiling (`d2rl_jax.run.grids.apg_reference`) at the same epoch.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from d2rl_jax.run.grids import apg_reference
from d2rl_jax.run.statistics import mean_and_ci95, t95
from d2rl_jax.run.summaries import (
    MA_EPOCH_COLUMN,
    MA_RATIO_LEVEL,
    MA_SECONDS_COLUMN,
    SELECTION_RULE,
    select_best_points,
)
from experiments.sweep_data import SweepData


@dataclasses.dataclass(frozen=True)
class Verdict:
    measured: str
    holds: str  # "yes", "no", "inconclusive", "not measured"
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Claim:
    figure: str
    text: str
    paper: str
    grid: str  # the grid that measures it
    judge: Callable[[SweepData], Verdict | None]  # None: the sweep lacks the variants
    rule: str = "—"  # the convergence rule of a time claim: RULE_2PCT or RULE_80


def _stats(x: np.ndarray) -> tuple[float, float, float]:
    """(mean, standard error, 95% half-width) over seeds."""
    x = np.asarray(x, np.float64)
    mean, ci = mean_and_ci95(x)
    se = float(x.std(ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0
    return float(mean), se, float(ci)


def relative_change(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """mean(a) / mean(b) - 1 and its 95% half-width (delta method, independent seeds; Student's t with the
    smaller sample's degrees of freedom, the conservative choice)."""
    ma, sa, _ = _stats(a)
    mb, sb, _ = _stats(b)
    ratio = ma / mb
    n = min(len(a), len(b))
    if n < 2 or not (ma and mb):  # one seed has no spread to measure
        return ratio - 1.0, float("inf")
    return ratio - 1.0, t95(n) * abs(ratio) * np.sqrt((sa / ma) ** 2 + (sb / mb) ** 2)


def _side(low: float, high: float, threshold: float, above: bool) -> str:
    if above:
        return "yes" if low > threshold else "no" if high < threshold else "inconclusive"
    return "yes" if high < threshold else "no" if low > threshold else "inconclusive"


def _same_program_size(data: SweepData, a: str, b: str) -> bool:
    return set(data.values(a, "chunk_runs")) == set(data.values(b, "chunk_runs"))


def reached_counts(data: SweepData, column: str, variants: list[tuple[str, int | None]]) -> list[tuple[str, int, int]]:
    """(variant, runs with a value in `column`, runs) of each (variant, point): an empty milestone column is a run
    that never reached the level."""
    return [(v, int(np.isfinite(x).sum()), len(x)) for v, p in variants for x in [data.values(v, column, p)]]


def not_all_reached(counts: list[tuple[str, int, int]]) -> str | None:
    """"inconclusive: k/n runs reached 0.8 C* (variant), ..." when some variant's runs did not all reach it."""
    if all(k == n for _, k, n in counts):
        return None
    return "inconclusive: " + ", ".join(f"{k}/{n} runs reached {MA_RATIO_LEVEL:g} C* ({v})" for v, k, n in counts)


def compare(a: str, b: str, column: str, *, above: bool, threshold: float = 0.0,
            timing: bool = False, point_of: Callable[[SweepData, str], int | None] | None = None,
            reached: bool = False) -> Callable[[SweepData], Verdict | None]:
    """Judge: is mean(a)/mean(b) - 1 above (or below) `threshold`? `reached`: `column` is a milestone (empty where
    a run never reached it): inconclusive unless every run of both reached it."""

    def judge(data: SweepData) -> Verdict | None:
        if not (data.has(a) and data.has(b)):
            return None
        if not data.has_column(column):
            return Verdict("-", "not measured", f"the sweep has no `{column}` column (written before it existed): "
                           "rerun it")
        pa = point_of(data, a) if point_of else None
        if reached:
            message = not_all_reached(reached_counts(data, column, [(a, pa), (b, None)]))
            if message:
                return Verdict(message, "inconclusive", "a time to 0.8 C* exists only for the runs that reached it: "
                               "not computed from part of the runs")
        x, y = data.values(a, column, pa), data.values(b, column)
        change, ci = relative_change(x, y)
        measured = (f"{100 * change:+.1f}% ± {100 * ci:.1f}% ({_fmt(x)} vs {_fmt(y)}, "
                    f"n={len(x)}/{len(y)})")
        note = ""
        if timing and not _same_program_size(data, a, b):
            return Verdict(measured, "not comparable", "the two variants trained in programs of different run "
                           "counts, so their per-run time shares differ by vmap amortization; single-run costs: "
                           "benchmarks/epoch_time.py --sections designs")
        if point_of:
            note = "best (M, eta) chosen by the final held-out sum rate, not by this statistic"
        return Verdict(measured, _side(change - ci, change + ci, threshold, above), note)

    return judge


def _fmt(x: np.ndarray) -> str:
    mean, _, ci = _stats(x)
    return f"{mean:.4g} ± {ci if ci > 1e-9 * abs(mean) else 0:.2g}"  # equal values: no float round-off CI


def best_point(data: SweepData, variant: str) -> int | None:
    best, _ = select_best_points(data.variant_rows(variant))
    if variant not in best:
        return None
    return point_at(data, variant, best[variant]["M"], best[variant]["eta"])


def point_at(data: SweepData, variant: str, m: float, eta: float) -> int | None:
    """The point of `variant` trained at (M, eta), None if none was."""
    return next((r["point"] for r in data.variant_rows(variant) if r["M"] == m and r["eta"] == eta), None)


RAW_PAIRS = (("diffusion.raw", "diffusion.designed"), ("diffusion.raw.state", "diffusion.designed.state"))


def raw_level(data: SweepData) -> Verdict | None:
    """Where Raw R. ends on our scale: its final held-out sum rate, as a fraction of C* and of where the
    designed reward ends (same actor, with or without state exploration, the same (M, eta)). The paper's claim,
    Raw R. stalls below the designed rewards, holds when raw / designed < 1 with its 95% CI (delta method)
    below 1; the paper's 3.5 bit/s/Hz is its system's scale, reported beside it."""
    present = [(raw, designed) for raw, designed in RAW_PAIRS if data.has(raw)]
    if not present:
        return None
    parts, verdicts, absolute = [], [], []
    for raw, designed in present:
        rate, ratio = data.values(raw, "final_sum_rate"), data.values(raw, "ratio_to_optimizer")
        part = f"{raw}: {_fmt(rate)} bit/s/Hz = {_fmt(ratio)} C*"
        rate_mean, _, rate_ci = _stats(rate)
        absolute.append(abs(rate_mean - 3.5) <= max(rate_ci, 0.1 * 3.5))
        raw_rows = data.variant_rows(raw)
        point = None
        if data.has(designed) and raw.endswith(".state"):  # the designed reward at raw's (M, eta)
            point = point_at(data, designed, raw_rows[0]["M"], raw_rows[0]["eta"])
        if data.has(designed) and (point is not None or not raw.endswith(".state")):
            other = data.values(designed, "final_sum_rate", point)
            change, ci = relative_change(rate, other)
            part += f" = {1 + change:.3f} ± {ci:.3f} of {designed} ({_fmt(other)}; n={len(rate)}/{len(other)})"
            verdicts.append(_side(change - ci, change + ci, 0.0, above=False))
        else:
            part += f" ({designed} not trained{' at its (M, eta)' if data.has(designed) else ''})"
        parts.append(part)
    holds = ("not measured" if not verdicts else "no" if "no" in verdicts
             else "yes" if all(v == "yes" for v in verdicts) else "inconclusive")
    return Verdict("; ".join(parts), holds,
                   "decided on raw / designed final held-out sum rate < 1 (95% CI below 1); the paper's 3.5 bit/s/Hz "
                   f"is its system's scale: ours is {'' if all(absolute) else 'not '}within 10% (or the CI) of it")


def best_design(data: SweepData) -> Verdict | None:
    designs = [f"diffusion.{d}" for d in ("raw", "designed", "designed_mlp", "designed_gdm", "gdm")]
    present = [d for d in designs if data.has(d)]
    if len(present) < 2 or "diffusion.designed_gdm" not in present:
        return None
    means = {d: _stats(data.values(d, "final_sum_rate"))[0] for d in present}
    order = sorted(means, key=means.get, reverse=True)
    measured = " > ".join(f"{d.split('.', 1)[1]} {means[d]:.3f}" for d in order)
    return Verdict(measured, "yes" if order[0] == "diffusion.designed_gdm" else "no",
                   "final held-out sum rate, mean over seeds (ordering only)")


RULE_2PCT, RULE_80 = "±2%", f"{MA_RATIO_LEVEL:g}·C*"
SECOND_RULE = {"convergence_epoch": MA_EPOCH_COLUMN, "seconds_to_convergence": MA_SECONDS_COLUMN}


def both_rules(figure: str, text: str, paper: str, grid: str, a: str, b: str, column: str,
               **kwargs) -> tuple[Claim, Claim]:
    """A time claim judged on the +-2% rule's `column` and on its 0.8 C* counterpart (`SECOND_RULE`)."""
    return (Claim(figure, text, paper, grid, compare(a, b, column, **kwargs), RULE_2PCT),
            Claim(figure, text, paper, grid, compare(a, b, SECOND_RULE[column], reached=True, **kwargs), RULE_80))


def _conv_best(variant: str, text: str) -> tuple[Claim, Claim]:
    return both_rules("Fig. 8", text, "-60%", "state_exp", f"{variant}.state", variant, "convergence_epoch",
                      above=False, point_of=best_point)


CLAIMS: tuple[Claim, ...] = (
    *both_rules("Fig. 3(a)", "A. w/ GDM needs less total time to converge than A. w/o GDM", "-8.3%", "action_exp",
                "diffusion.designed", "mlp.designed", "seconds_to_convergence", above=False, timing=True),
    Claim("Fig. 3(b)", "A. w/ GDM takes more than twice the time per epoch", "> +100%", "action_exp",
          compare("diffusion.designed", "mlp.designed", "seconds_per_epoch", above=True, threshold=1.0,
                  timing=True)),
    *both_rules("Fig. 2(a)", "A. w/ GDM converges in fewer epochs", "faster", "action_exp",
                "diffusion.designed", "mlp.designed", "convergence_epoch", above=False),
    Claim("Fig. 2(a)", "A. w/ GDM ends at a higher sum rate", "higher", "action_exp",
          compare("diffusion.designed", "mlp.designed", "final_sum_rate", above=True)),
    Claim("Fig. 4(a)", "Designed+GDM R. attains the highest sum rate of the five designs", "best", "reward_exp",
          best_design),
    *both_rules("Fig. 6(a)", "Designed+GDM R. cuts total time to convergence vs Designed R.", "-58%", "reward_exp",
                "diffusion.designed_gdm", "diffusion.designed", "seconds_to_convergence", above=False, timing=True),
    *both_rules("Fig. 6(a)", "GDM R. cuts total time to convergence vs Designed R.", "-55%", "reward_exp",
                "diffusion.gdm", "diffusion.designed", "seconds_to_convergence", above=False, timing=True),
    Claim("Fig. 6(b)", "Designed+GDM R. costs more per epoch than Designed R.", "+13.9%", "reward_exp",
          compare("diffusion.designed_gdm", "diffusion.designed", "seconds_per_epoch", above=True, timing=True)),
    *_conv_best("diffusion.designed", "tuned state exploration speeds up Designed R. (epoch 5000 -> 2000)"),
    *_conv_best("diffusion.designed_mlp", "tuned state exploration speeds up Designed R.+MLP (epoch 5000 -> 2000)"),
    *both_rules("Fig. 8", "state exploration slightly slows Designed+GDM R.", "slower", "state_exp",
                "diffusion.designed_gdm.state", "diffusion.designed_gdm", "convergence_epoch", above=True,
                point_of=best_point),
    Claim("Fig. 8", "Raw R. stalls below the designed rewards (near 3.5 bit/s/Hz in the paper), with or without "
          "state exploration", "≈ 3.5, below designed", "state_exp", raw_level),
    Claim("Fig. 9(b)", "state exploration raises the time per epoch (Designed R.)", "higher", "state_exp",
          compare("diffusion.designed.state", "diffusion.designed", "seconds_per_epoch", above=True, timing=True)),
)


def _entries(data: SweepData) -> list[tuple[str, int | None, str]]:
    """(variant, point, label) of every variant, at its best (M, eta) when it sweeps several (state exploration,
    `best_point`), at each point when several are not ranked (e.g. learn_exp's swept points)."""
    entries = []
    for variant in dict.fromkeys(r["variant"] for r in data.rows):
        points = sorted({r["point"] for r in data.variant_rows(variant)})
        best = best_point(data, variant) if len(points) > 1 else None
        if len(points) == 1:
            entries.append((variant, None, variant))
        elif best is not None:
            row = data.variant_rows(variant, best)[0]
            entries.append((variant, best, f"{variant} @ best M = {row['M']:g}, eta = {row['eta']:g}"))
        else:
            entries += [(variant, p, f"{variant} @ {data.variant_rows(variant, p)[0].get('point_label', p)}")
                        for p in points]
    return entries


def ceiling_distance(data: SweepData, variant: str, point: int | None = None) -> dict:
    """`variant`'s final held-out C/C* over seeds and its distance to its actor's APG ceiling at the same epoch:
    mean(ceiling's final C/C*) - mean(variant's), with a 95% half-width (Student's t with the smaller sample's
    degrees of freedom, standard errors added in quadrature). `ceiling`: the APG variant's name; `distance`
    None where the sweep did not train it, or trained it for another number of epochs."""
    x = data.values(variant, "ratio_to_optimizer", point)
    mean, se, ci = _stats(x)
    ceiling = apg_reference(variant.split(".")[0])
    out = {"ratio": (mean, ci), "runs": len(x), "ceiling": ceiling, "ceiling_ratio": None, "distance": None,
           "why": ""}
    if variant == ceiling:
        out["why"] = "the ceiling itself"
    elif not data.has(ceiling):
        out["why"] = "ceiling not trained"
    elif data.configs[ceiling]["num_epochs"] != data.configs[variant]["num_epochs"]:
        out["why"] = f"ceiling trained {data.configs[ceiling]['num_epochs']} epochs"
    else:
        y = data.values(ceiling, "ratio_to_optimizer")
        cmean, cse, cci = _stats(y)
        n = min(len(x), len(y))
        out["ceiling_ratio"] = (cmean, cci)
        out["distance"] = (cmean - mean, t95(n) * float(np.hypot(se, cse)) if n > 1 else float("inf"))
    return out


def _pm(value: tuple[float, float], digits: int = 3) -> str:
    return f"{value[0]:.{digits}f} ± {value[1]:.{digits}f}"


def variant_table(data: SweepData) -> list[str]:
    """Markdown lines: per variant, final held-out C/C*, the 0.8 C* rule's reach, and the distance to the APG
    ceiling."""
    lines = ["## Final held-out C/C* and the distance to the APG ceiling (not in the paper)", "",
             f"Final C/C*: the greedy policy's held-out sum rate over C* at the last evaluation, mean ± 95% CI over "
             f"seeds (Student's t). Reached {MA_RATIO_LEVEL:g}·C*: runs whose moving-average held-out C reached it, "
             "with the mean epoch of those. Distance: the APG ceiling's final C/C* minus the variant's, at the same "
             "epoch (the last), ± a 95% half-width (standard errors in quadrature, t with the smaller sample's "
             "degrees of freedom); — where the sweep did not train the ceiling.", "",
             f"| variant | runs | final C/C* | reached {MA_RATIO_LEVEL:g}·C* | APG ceiling | ceiling's final C/C* "
             "| distance to the ceiling |", "|---|---|---|---|---|---|---|"]
    has_ma = data.has_column(MA_EPOCH_COLUMN)
    for variant, point, label in _entries(data):
        d = ceiling_distance(data, variant, point)
        if has_ma:
            epochs = data.values(variant, MA_EPOCH_COLUMN, point)
            done = epochs[np.isfinite(epochs)]
            reached = f"{done.size}/{epochs.size}" + (f" (epoch {done.mean():.0f})" if done.size else "")
        else:
            reached = "—"
        ceiling = _pm(d["ceiling_ratio"]) if d["ceiling_ratio"] else "—"
        distance = _pm(d["distance"]) if d["distance"] else f"— ({d['why']})"
        lines.append(f"| {label} | {d['runs']} | {_pm(d['ratio'])} | {reached} | {d['ceiling']} | {ceiling} "
                     f"| {distance} |")
    return lines


def reproduction_markdown(data: SweepData) -> str:
    lines = ["# Reproduction of the paper's claims", "",
             f"Sweeps: {', '.join(str(d) for d in data.dirs)}; {data.epochs} epochs per run; device: {data.device}.",
             "Measured: mean ± 95% CI over seeds (relative changes: delta method). *holds*: the interval lies on "
             "the paper's side; *inconclusive*: it straddles; *not measured*: this sweep did not run the variants "
             "(the grid named does). Regenerate: `python -m experiments.figures --from DIR`.", "",
             f"Time claims are judged on both convergence rules (*rule*): {RULE_2PCT}, the moving-average training "
             f"sum rate settles within 2% of its final value; {RULE_80}, the moving-average held-out C first reaches "
             f"{MA_RATIO_LEVEL:g}·C* (inconclusive unless every run of both variants reached it).", "",
             "| figure | paper's claim | rule | paper | measured | holds | note |", "|---|---|---|---|---|---|---|"]
    for claim in CLAIMS:
        verdict = claim.judge(data) or Verdict("-", "not measured", f"run `--grid {claim.grid}`")
        lines.append(f"| {claim.figure} | {claim.text} | {claim.rule} | {claim.paper} | {verdict.measured} "
                     f"| {verdict.holds} | {verdict.note} |")
    best, rule = select_best_points(data.rows)
    if best:
        lines += ["", f"Best (M, eta) per design ({rule}):", ""]
        lines += [f"- {name}: M = {b['M']:g}, eta = {b['eta']:g} (convergence epoch {b['convergence_epoch']:.0f}, "
                  f"final sum rate {b['final_sum_rate']:.3f}, {b['seeds']} seeds)" for name, b in best.items()]
    lines += ["", "Convergence epoch (±2% rule): first epoch after which the moving-average sum rate stays within the "
              "tolerance (2%) of its final value (DESIGN §8); a policy that never settles converges near the last "
              "epoch, and one that settles low converges early. 0.8·C* rule: the first evaluation epoch at which the "
              "trailing moving average of held-out C/C* over max(1, ma_window // eval_every) evaluations reaches "
              "0.8; seconds = that epoch × the run's seconds per epoch. Times are each run's share of its compiled "
              "program's wall time.", "", *variant_table(data), ""]
    return "\n".join(lines)


__all__ = ["CLAIMS", "SELECTION_RULE", "ceiling_distance", "raw_level", "reproduction_markdown", "relative_change",
           "variant_table"]
