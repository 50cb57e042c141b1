"""The measures that decide the paper's claims (docs/reproduction.md), read from finished sweeps and repeated
timings: each returns a Verdict. The rules themselves (common level, plateau test, paired comparisons) are
`d2rl_jax.run.convergence`; this module applies them to a claim's variants.

- Time claims (fewer epochs, less total time): epochs to the *common level* of the compared runs, paired over
  shared seeds; seconds = epochs x the per-epoch cost (repeated timings when given). Stalled runs (never a quarter
  of the way from random actions to the heuristic) are counted and left out; a variant at least half of whose runs
  stall never converges, which decides a "faster" claim against it. The +-2% rule is shown beside, flagged where it
  fires in the last quarter of a run.
- Final-level claims: a final level counts where the plateau test calls the curve flat; a still-rising curve's
  final level is a lower bound of its plateau, so "A ends higher than B" is decided when A is above B now and B is
  flat (or A below B now and A flat), and is inconclusive when the one that is behind still rises.
- Cost claims (per epoch): >= 3 interleaved timed repeats per program (`benchmarks.cost_repeats`), paired by
  repeat. One rule for every magnitude: the paper's number is a bound in its direction (Fig. 3(b) "more than twice":
  above +100%; Fig. 6(b) "+13.9%": at least +13.9%); the claim holds when the whole interval lies beyond it.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from d2rl_jax.run.convergence import (
    LEVEL_STEP,
    PLATEAU_RISE,
    Comparison,
    Plateau,
    common_level,
    compare_log_runs,
    compare_paired,
    compare_runs,
    epochs_to_level,
    fires_late,
    plateau,
    reward_fluctuation,
    smoothed,
    stall_level,
)
from d2rl_jax.run.io import read_json
from d2rl_jax.run.statistics import evaluation_window, mean_and_ci95
from experiments.sweep_data import SweepData

# Gradient magnitudes whose ratio of geometric means lies inside 1 +- EQUIVALENT are "comparable" (the paper's word
# for Fig. 5's biases); a claim that one is higher or lower is a *no* when its interval lies inside that band.
EQUIVALENT = 0.25

# The (M, eta) the paper chose per design (Sec. V-B-3): the point a state-exploration claim is judged at.
PAPER_POINTS = {"designed": (0.9, 0.001), "designed_mlp": (0.3, 0.01), "designed_gdm": (1.0, 0.001),
                "gdm": (0.4, 0.01)}
POINT_RULE = ("the paper's own (M, eta) for the design; where the sweep did not train it, the trained point nearest "
              "to it (|dM| / 0.1 + |d log10 eta|, ties to the smaller M, then eta): fixed before looking, it uses no "
              "outcome")


@dataclasses.dataclass(frozen=True)
class Verdict:
    measured: str
    holds: str  # "yes", "no", "inconclusive", "not measured", "not comparable"
    note: str = ""
    decided_by: str = "—"
    two_percent: str = ""  # the +-2% rule's result beside a time claim


@dataclasses.dataclass(frozen=True)
class Runs:
    """One variant (at one point): its runs' seeds and held-out C/C* curves, in run order."""

    variant: str
    point: int | None
    seeds: list[int]
    epochs: np.ndarray  # evaluation epochs
    curves: np.ndarray  # (runs, evaluations) held-out C/C*
    smooth: np.ndarray  # the same, trailing moving average over the 0.8 C* rule's window
    rows: list[dict]  # summary rows in run order

    def column(self, name: str) -> dict[int, float]:
        return {s: float(r[name]) for s, r in zip(self.seeds, self.rows, strict=True)}


def runs_of(data: SweepData, variant: str, point: int | None = None) -> Runs:
    rows = sorted(data.variant_rows(variant, point), key=lambda r: r["run"])
    epochs, curves = data.eval_curves(variant, point)
    cfg = data.configs[variant]
    window = evaluation_window(cfg["ma_window"], cfg["eval_every"])
    return Runs(variant, point, [int(r["seed"]) for r in rows], np.asarray(epochs, np.float64),
                np.asarray(curves, np.float64), smoothed(curves, window), rows)


def runs_at(data: SweepData, variant: str, point_of=None) -> Runs:
    """`variant`'s runs, at `point_of`'s point when it is a state-exploration variant (the others train one)."""
    return runs_of(data, variant, point_of(data, variant) if point_of and ".state" in variant else None)


def stall_ratio(data: SweepData) -> float:
    """The smoothed C/C* below which a run counts as stalled (0 for sweeps without reference levels)."""
    refs = data.references
    optimum = refs.get("C* (optimizer)")
    if not optimum or "random actions" not in refs or "heuristic (MRT + MMSE)" not in refs:
        return 0.0
    return stall_level(refs["random actions"] / optimum, refs["heuristic (MRT + MMSE)"] / optimum)


def stalled(runs: Runs, floor: float) -> np.ndarray:
    return runs.smooth.max(axis=-1) < floor


def mostly_stalled(stuck: np.ndarray) -> bool:
    """A variant stalls when at least half its runs do: its typical run never reaches a level the others reach."""
    return bool(2 * stuck.sum() >= stuck.size)


def _mean_ci(values) -> str:
    values = np.asarray(list(values), np.float64)
    mean, ci = mean_and_ci95(values)
    return f"{float(mean):.4g} ± {float(ci):.2g}"


# ---------------------------------------------------------------------------------------------- repeated timings
@dataclasses.dataclass(frozen=True)
class CostTimings:
    """Seconds per epoch of each program over interleaved repeats (benchmarks/cost_repeats.py's JSON)."""

    seconds: dict[str, np.ndarray]  # variant -> one value per repeat
    source: str  # the file and device, for notes

    @classmethod
    def load(cls, path: str | Path) -> CostTimings:
        doc = read_json(path)
        if doc.get("benchmark") != "cost_repeats":
            raise ValueError(f"{path} is not a benchmarks.cost_repeats result (benchmark={doc.get('benchmark')!r})")
        device = doc.get("device", {})
        seconds = {p["variant"]: np.asarray(p["seconds_per_epoch"], np.float64) for p in doc["programs"]}
        kind = device.get("device_kind", "?")
        if device.get("platform") == "cpu":
            kind = f"{device.get('cpu_count', '?')}-core CPU"
        source = f"{Path(path).name}: {kind}, {doc.get('preset')} preset, {doc.get('repeats')} interleaved repeats"
        return cls(seconds, source)

    def has(self, *variants: str) -> bool:
        return all(v in self.seconds for v in variants)

    def per_epoch(self, a: str, b: str, threshold: float = 0.0) -> Comparison:
        """Paired by repeat (repeat r of every program ran in the same round)."""
        return compare_paired(self.seconds[a], self.seconds[b], threshold)


def cost_claim(a: str, b: str, threshold: float, paper: str):
    """A per-epoch cost claim: cost(a) / cost(b) - 1 beyond `threshold` (the paper's number as a bound)."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        if timings is None or not timings.has(a, b):
            if not (data.has(a) and data.has(b)):
                return None
            single = " vs ".join(_mean_ci(data.values(v, "seconds_per_epoch")) for v in (a, b))
            return Verdict(f"one timing per program in the sweep ({single} s)", "not measured",
                           "a cost claim needs >= 3 interleaved repeats: python -m benchmarks.cost_repeats, then "
                           "--timings", "repeated timings")
        cmp = timings.per_epoch(a, b, threshold)
        low, high = cmp.change - cmp.ci, cmp.change + cmp.ci
        measured = (f"{cmp.describe()}; {1e3 * timings.seconds[a].mean():.4g} vs {1e3 * timings.seconds[b].mean():.4g}"
                    f" ms/epoch")
        note = timings.source
        if threshold:  # a magnitude: where the paper's number lies against the interval
            where = "below" if threshold < low else "above" if threshold > high else "inside"
            note = f"the paper's {paper} lies {where} the interval; {note}"
        return Verdict(measured, cmp.side(threshold, above=True), note, "repeated timings (paper's number as bound)")

    return judge


# ------------------------------------------------------------------------------------------------- time claims
def time_claim(a: str, b: str, *, seconds: bool, point_of=None):
    """"a needs fewer epochs (or less time) than b to converge": epochs (x cost) to the common level."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        if not (data.has(a) and data.has(b)):
            return None
        ra, rb = runs_at(data, a, point_of), runs_at(data, b, point_of)
        verdict = _time_verdict(data, ra, rb, seconds, timings)
        if point_of is None:
            return verdict
        state = a if ".state" in a else b
        other = b if state == a else a
        tally = [_time_verdict(data, *((r, runs_of(data, other)) if state == a else (runs_of(data, other), r)),
                               seconds, timings).holds
                 for p in sorted(_points(data, state).values()) for r in [runs_of(data, state, p)]]
        label = point_label(data, state, ra.point if state == a else rb.point)
        return dataclasses.replace(verdict, note="; ".join(x for x in (
            f"at {label}; holds at {tally.count('yes')} of {len(tally)} trained points, "
            f"against at {tally.count('no')}", verdict.note) if x))

    return judge


def _time_verdict(data: SweepData, ra: Runs, rb: Runs, seconds: bool, timings: CostTimings | None) -> Verdict:
    floor = stall_ratio(data)
    sa, sb = stalled(ra, floor), stalled(rb, floor)
    counts = f"stalled below {floor:.2f}·C*: {int(sa.sum())}/{sa.size} vs {int(sb.sum())}/{sb.size}"
    two = _two_percent(data, ra, rb)
    label = "time" if seconds else "epochs"
    da, db = mostly_stalled(sa), mostly_stalled(sb)
    if da and db:
        return Verdict(f"neither learns ({counts})", "inconclusive", "no level above the stall line to time",
                       "common level", two)
    if da or db:
        learner = rb if da else ra
        return Verdict(f"{learner.variant} learns, the other stalls ({counts})", "no" if da else "yes",
                       "a variant whose runs mostly stall never converges: unbounded time", "common level", two)
    level = common_level(np.concatenate([ra.smooth[~sa], rb.smooth[~sb]]))
    if level is None:
        return Verdict(f"no common level: some run stays below {LEVEL_STEP}·C* ({counts})", "inconclusive", "",
                       "common level", two)
    ea = dict(zip(np.asarray(ra.seeds)[~sa], epochs_to_level(ra.epochs, ra.smooth[~sa], level), strict=True))
    eb = dict(zip(np.asarray(rb.seeds)[~sb], epochs_to_level(rb.epochs, rb.smooth[~sb], level), strict=True))
    cmp = compare_runs(ea, eb)
    measured = f"to {level:.2f}·C*: {_mean_ci(ea.values())} vs {_mean_ci(eb.values())} epochs"
    note = counts if (sa.any() or sb.any()) else ""
    if seconds:
        cmp, cost_note = _times_cost(data, ra, rb, cmp, timings)
        if cmp is None:
            return Verdict(measured, "not comparable", cost_note, "common level", two)
        note = "; ".join(x for x in (note, cost_note) if x)
    return Verdict(f"{measured}; {label} {cmp.describe()}", cmp.side(0.0, above=False), note, "common level", two)


def _times_cost(data, ra: Runs, rb: Runs, epochs: Comparison, timings) -> tuple[Comparison | None, str]:
    """Total time = epochs x per-epoch cost: the epochs' change combined with the cost ratio (log-space
    quadrature). The cost from repeated timings when given, else the sweep's one timing per program."""
    if timings is not None and timings.has(ra.variant, rb.variant):
        cost = timings.per_epoch(ra.variant, rb.variant)
        note = f"cost per epoch {cost.describe()} from {timings.source}"
    else:
        if {r["chunk_runs"] for r in ra.rows} != {r["chunk_runs"] for r in rb.rows}:
            return None, ("trained in programs of different run counts (per-run time shares differ by vmap "
                          "amortization): give --timings")
        ca = np.mean([r["seconds_per_epoch"] for r in ra.rows])
        cb = np.mean([r["seconds_per_epoch"] for r in rb.rows])
        cost = Comparison(ca / cb - 1.0, 0.0, 1, 1, False)
        note = "cost per epoch from one timing per program in the sweep (no interval)"
    ratio = (1 + epochs.change) * (1 + cost.change)
    rel = math.hypot(epochs.ci / (1 + epochs.change), cost.ci / (1 + cost.change))
    return Comparison(ratio - 1.0, ratio * rel, epochs.n_a, epochs.n_b, epochs.paired), note


def _two_percent(data: SweepData, ra: Runs, rb: Runs) -> str:
    """The +-2% rule's comparison of convergence epochs, flagged where it fires in the last quarter of a run."""
    ca, cb = ra.column("convergence_epoch"), rb.column("convergence_epoch")
    cmp = compare_runs(ca, cb)
    late = [int(fires_late(list(c.values()), data.configs[r.variant]["num_epochs"]).sum())
            for c, r in ((ca, ra), (cb, rb))]
    flag = f"; fires in the last quarter in {late[0]}/{len(ca)} and {late[1]}/{len(cb)} runs" if any(late) else ""
    return f"{cmp.describe()}{flag}"


# ---------------------------------------------------------------------------------------------- final levels
def final_order(a: Runs, b: Runs, va: dict[int, float], vb: dict[int, float], pa: Plateau,
                pb: Plateau) -> tuple[Comparison, str, str]:
    """(comparison of final values a vs b, verdict on "a ends higher", why). A rising curve's final value is a
    lower bound of its plateau, so a rising variant that is already ahead stays ahead; one behind decides
    nothing."""
    cmp = compare_runs(va, vb)
    side = cmp.side(0.0, above=True)
    if pa.flat and pb.flat:
        return cmp, side, "both flat"
    if side == "yes" and pb.flat:
        return cmp, "yes", f"{a.variant} ahead and still rising, {b.variant} flat"
    if side == "no" and pa.flat:
        return cmp, "no", f"{b.variant} ahead and still rising, {a.variant} flat"
    rising = [r.variant for r, p in ((a, pa), (b, pb)) if not p.flat]
    return cmp, "inconclusive", f"still rising: {', '.join(rising)} (plateau test: rise < {PLATEAU_RISE} C/C*)"


def _final(data: SweepData, a: str, b: str, column: str, point_of) -> tuple[Verdict, Plateau, Plateau]:
    """"a ends higher than b" and both variants' plateau tests."""
    ra, rb = runs_at(data, a, point_of), runs_at(data, b, point_of)
    qa, qb = plateau(ra.epochs, ra.curves), plateau(rb.epochs, rb.curves)
    cmp, holds, why = final_order(ra, rb, ra.column(column), rb.column(column), qa, qb)
    measured = (f"{_mean_ci(ra.column(column).values())} vs {_mean_ci(rb.column(column).values())} "
                f"({column}); {cmp.describe()}")
    return Verdict(measured, holds, f"{why}; {a}: {qa.describe()}; {b}: {qb.describe()}", "plateau test"), qa, qb


def final_claim(a: str, b: str, column: str = "ratio_to_optimizer", point_of=None):
    """"a ends higher than b" on a final per-run `column` (held-out C/C* by default), gated by the plateau test of
    both variants' held-out C/C* curves."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        if not (data.has(a) and data.has(b)):
            return None
        return _final(data, a, b, column, point_of)[0]

    return judge


def stall_claim(designed: str, raw: str, point_of=None):
    """"`raw` stalls below `designed`": raw's curve is flat (the plateau test) and designed ends higher (final_order);
    a raw curve that still rises has not stalled (no), whatever its level."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        if not (data.has(designed) and data.has(raw)):
            return None
        verdict, _, raw_plateau = _final(data, designed, raw, "ratio_to_optimizer", point_of)
        if not raw_plateau.flat:
            return dataclasses.replace(verdict, holds="no", note=f"{raw} still rises: it has not stalled; "
                                       f"{verdict.note}")
        return verdict

    return judge


def combined(holds: list[str], complete: bool = True) -> str:
    """Sub-verdicts read as one: no when one is no, yes when all are yes (and every part was measured)."""
    return "no" if "no" in holds else "yes" if complete and all(h == "yes" for h in holds) else "inconclusive"


def ranking_claim(top: str, others: tuple[str, ...], column: str = "ratio_to_optimizer"):
    """"`top` ends higher than every one of `others` (those the sweep trained)": yes when every pairwise
    final_claim says yes, no when one says no."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        present = [o for o in others if data.has(o)]
        if not data.has(top) or not present:
            return None
        verdicts = {o: final_claim(top, o, column)(data, timings) for o in present}
        holds = combined([v.holds for v in verdicts.values()])
        measured = "; ".join(f"vs {o.split('.', 1)[1]}: {v.holds} ({v.measured.split('; ')[-1]})"
                             for o, v in verdicts.items())
        undecided = [o.split(".", 1)[1] for o, v in verdicts.items() if v.holds == "inconclusive"]
        note = f"undecided against {', '.join(undecided)}: a curve behind still rises" if undecided else ""
        return Verdict(f"{_mean_ci(data.values(top, column))} ({top}); {measured}", holds, note, "plateau test")

    return judge


def fluctuation_claim(a: str, b: str):
    """"a's reward fluctuates less than b's" (Fig. 2(b)): the per-epoch reward's standard deviation around its
    moving average over the last 20% of the run, per run, paired over seeds."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        if not (data.has(a) and data.has(b)):
            return None
        values = []
        for v in (a, b):
            epoch, _ = data.metrics(v)
            runs = runs_of(data, v)
            values.append(dict(zip(runs.seeds, reward_fluctuation(epoch["reward"], data.configs[v]["ma_window"]),
                                   strict=True)))
        cmp = compare_runs(*values)
        measured = f"{_mean_ci(values[0].values())} vs {_mean_ci(values[1].values())}; {cmp.describe()}"
        return Verdict(measured, cmp.side(0.0, above=False), "std of the reward around its moving average, last "
                       "20% of the run", "paired seeds")

    return judge


def _gradient_side(cmp: Comparison, above: bool) -> str:
    """"a above (below) b": yes beyond 1 with its interval; no below (above) it, or inside 1 +- EQUIVALENT."""
    side = cmp.side(0.0, above=above)
    low, high = cmp.bounds
    return "no" if side == "inconclusive" and -EQUIVALENT < low and high < EQUIVALENT else side


def gradient_claim(a: str, b: str, column: str, *, above: bool, within: float | None = None, why: str = ""):
    """A per-run gradient magnitude compared as a ratio of geometric means (paired over seeds): a above/below b,
    or, with `within`, "comparable": the ratio's interval inside 1 +- within."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        if not (data.has(a) and data.has(b)):
            return None
        cmp = compare_log_runs(runs_of(data, a).column(column), runs_of(data, b).column(column))
        low, high = cmp.bounds
        if within is not None:
            inside, outside = -within < low and high < within, low > within or high < -within
            holds = "yes" if inside else "no" if outside else "inconclusive"
        else:
            holds = _gradient_side(cmp, above)
        measured = (f"{_mean_ci(data.values(a, column))} vs {_mean_ci(data.values(b, column))} ({column}); "
                    f"{cmp.describe()}")
        return Verdict(measured, holds, why, "paired seeds")

    return judge


# --------------------------------------------------------------------------------- state-exploration points
def _points(data: SweepData, variant: str) -> dict[tuple[float, float], int]:
    return {(float(r["M"]), float(r["eta"])): r["point"] for r in data.variant_rows(variant)}


def paper_point(data: SweepData, variant: str) -> int | None:
    """The point a claim about `variant` (a state-exploration variant) is judged at, by POINT_RULE."""
    points = _points(data, variant)
    if not points:
        return None
    design = variant.split(".")[1]
    target = PAPER_POINTS.get(design)
    if target is None:  # raw: the grid trains one point
        return min(points.items())[1]

    def distance(mp):
        m, eta = mp
        return (abs(m - target[0]) / 0.1 + abs(math.log10(eta) - math.log10(target[1])), m, eta)

    return points[min(points, key=distance)]


def point_label(data: SweepData, variant: str, point: int | None) -> str:
    row = data.variant_rows(variant, point)[0]
    design = variant.split(".")[1]
    own = PAPER_POINTS.get(design) == (float(row["M"]), float(row["eta"]))
    return f"(M, eta) = ({row['M']:g}, {row['eta']:g}){'' if own else ', nearest to the paper' + chr(39) + 's'}"


def point_table(data: SweepData, variant: str, baseline: str | None) -> list[dict]:
    """Every (M, eta) point of a state-exploration variant: final C/C* (mean, CI), stalled runs, and the verdict of
    "fewer epochs than `baseline`" at that point (None without a baseline)."""
    floor = stall_ratio(data)
    base = runs_of(data, baseline) if baseline and data.has(baseline) else None
    out = []
    for (m, eta), point in sorted(_points(data, variant).items()):
        runs = runs_of(data, variant, point)
        stuck = stalled(runs, floor)
        mean, ci = mean_and_ci95(runs.curves[:, -1])
        row = {"M": m, "eta": eta, "point": point, "final": (float(mean), float(ci)), "stalled": int(stuck.sum()),
               "runs": len(stuck), "verdict": None}
        if base is not None:
            row["verdict"] = _time_verdict(data, runs, base, False, None)
        out.append(row)
    return out


def extreme_claim(top: str, others: tuple[str, ...], column: str, *, highest: bool):
    """"`top` has the highest (lowest) per-run `column` of the variants": paired comparisons against each."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        present = [o for o in others if data.has(o)]
        if not data.has(top) or not present:
            return None
        sides = {}
        for o in present:
            cmp = compare_log_runs(runs_of(data, top).column(column), runs_of(data, o).column(column))
            sides[o] = (cmp, _gradient_side(cmp, highest))
        holds = combined([side for _, side in sides.values()])
        measured = f"{_mean_ci(data.values(top, column))} ({top.split('.', 1)[1]}); " + "; ".join(
            f"vs {o.split('.', 1)[1]} {_mean_ci(data.values(o, column))}: {c.describe()}"
            for o, (c, _) in sides.items())
        return Verdict(measured, holds, f"{column}, per run; ratios of geometric means (log scale: gradients span "
                       f"orders of magnitude across seeds); inside 1 ± {EQUIVALENT}: equivalent, a no", "paired seeds")

    return judge


def all_of(name: str, judges: dict[str, object]):
    """Several sub-claims read as one ("in every design"): yes when all are measured and hold, no when one does
    not hold; a claim about every design is not a yes on some of them."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        verdicts = {k: j(data, timings) for k, j in judges.items()}
        verdicts = {k: v for k, v in verdicts.items() if v is not None}
        if not verdicts:
            return None
        overall = combined([v.holds for v in verdicts.values()], complete=len(verdicts) == len(judges))
        measured = "; ".join(f"{k}: {v.holds} ({v.measured.split('; ')[0]})" for k, v in verdicts.items())
        missing = [k for k in judges if k not in verdicts]
        note = f"{name}: {len(verdicts)} of {len(judges)} measured"
        note += f" (not {', '.join(missing)})" if missing else ""
        notes = {v.note for v in verdicts.values() if v.note}
        return Verdict(measured, overall, "; ".join([note, *sorted(notes)[:1]]),
                       next(iter(verdicts.values())).decided_by)

    return judge


def layer_means(data: SweepData, variant: str, name: str) -> np.ndarray:
    """Mean over the updating epochs and the runs of a per-layer gradient magnitude (the warm-up epochs report
    zeros)."""
    epoch, _ = data.metrics(variant)
    values, updated = epoch[name], epoch["updated"] > 0
    return np.stack([values[i][updated[i]].mean(axis=0) for i in range(values.shape[0])]).mean(axis=0)


def layer_order_claim(designs: tuple[str, ...], main_path: tuple[str, ...]):
    """Fig. 5: "the gradient weight grows from layer to layer along the main path (Layer 3 > Layer 2 > Layer 1), in
    every design": per design, the per-layer mean |dL/dW| over updating epochs and runs, ordering only."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        present = [d for d in designs if data.has(d)]
        if not present:
            return None
        parts, orders = [], []
        for d in present:
            names = data.layer_names(d, "actor")
            if names is None or not set(main_path) <= set(names):
                return Verdict("-", "not measured", "the sweep predates the recorded layer order", "ordering")
            means = layer_means(data, d, "actor_grad_weight")
            path = [float(means[names.index(n)]) for n in main_path]
            orders.append(all(x < y for x, y in zip(path, path[1:], strict=False)))
            parts.append(f"{d.split('.', 1)[1]} " + " < ".join(f"{x:.2g}" for x in path))
        return Verdict("; ".join(parts), "yes" if all(orders) else "no",
                       f"layers {' -> '.join(main_path)} (the denoiser's main path), mean |dL/dW| per layer",
                       "ordering")

    return judge


def gradient_points_claim(state: str, baseline: str, column: str):
    """Fig. 7: "state exploration changes the actor's gradient sums against the baseline (the shadow plane)": per
    (M, eta) point, the paired change of `column` against the variant without state exploration."""

    def judge(data: SweepData, timings: CostTimings | None) -> Verdict | None:
        if not (data.has(state) and data.has(baseline)):
            return None
        base = runs_of(data, baseline).column(column)
        sides = [compare_log_runs(runs_of(data, state, p).column(column), base).side()
                 for p in sorted(_points(data, state).values())]
        up, down = sides.count("yes"), sides.count("no")
        holds = "yes" if up + down else "no"
        return Verdict(f"{column}: above the baseline at {up}, below at {down}, undecided at "
                       f"{len(sides) - up - down} of {len(sides)} points", holds,
                       "paired over shared seeds at each point", "paired seeds")

    return judge


__all__ = ["EQUIVALENT", "PAPER_POINTS", "POINT_RULE", "CostTimings", "Runs", "Verdict", "all_of", "combined",
           "cost_claim", "extreme_claim", "final_claim", "final_order", "fluctuation_claim", "gradient_claim",
           "gradient_points_claim", "layer_means", "layer_order_claim", "mostly_stalled", "paper_point", "point_label",
           "point_table", "ranking_claim", "runs_at", "runs_of", "stall_claim", "stall_ratio", "stalled",
           "time_claim"]
