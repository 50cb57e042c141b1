"""Reading finished sweeps back: the rows of summary.csv, the variants' configs, their metric arrays."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from absl import app

from d2rl_jax.run.io import read_json
from d2rl_jax.run.statistics import moving_average
from d2rl_jax.run.summaries import after_divergence, diverged_epochs
from d2rl_jax.run.sweep import load_metrics


def _number(text: str):
    if text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and "." not in text and "e" not in text.lower() else value


class SweepData:
    """One or more sweep directories read as one table of runs; a variant finished in several is taken from the
    first (a variant a sweep planned but did not finish is taken from the sweep that ran it).

    `aliases` {name: (variant, point label)} reads one point of a variant under another name, as a variant of its
    own (e.g. learn_exp's `mlp.designed.envs_1024` at the preset's point as `mlp.designed`, so that the claims
    that compare `mlp.designed` read it); the aliased variant's other rows are left out."""

    def __init__(self, dirs: list[Path], aliases: dict[str, tuple[str, str]] | None = None):
        self.dirs = [Path(d) for d in dirs]
        self.rows: list[dict] = []
        self.configs: dict[str, dict] = {}
        self._dir_of: dict[str, Path] = {}
        self._source: dict[str, tuple[str, list[int]]] = {}  # alias -> (variant, that variant's runs in order)
        self.plans: list[dict] = []
        for d in self.dirs:
            for name in ("plan.json", "summary.csv"):
                if not (d / name).exists():
                    raise FileNotFoundError(f"{d / name} is missing: is {d} the output directory of a sweep?")
            plan = read_json(d / "plan.json")
            self.plans.append(plan)
            with open(d / "summary.csv", newline="") as f:
                rows = [{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)]
            finished = {row["variant"] for row in rows}
            own = [v["name"] for v in plan["variants"] if v["name"] not in self._dir_of and v["name"] in finished]
            for v in plan["variants"]:
                if v["name"] in own:
                    self._dir_of[v["name"]] = d
                    self.configs[v["name"]] = v["config"]
            self.rows += [row for row in rows if row["variant"] in own]
        for alias, (variant, label) in (aliases or {}).items():
            self._alias(alias, variant, label)

    def _alias(self, alias: str, variant: str, label: str) -> None:
        source = self.variant_rows(variant)
        chosen = [r for r in source if str(r.get("point_label")) == label]
        if not chosen:
            labels = sorted({str(r.get("point_label")) for r in source})
            raise ValueError(f"alias {alias}={variant}@{label}: no such runs (the sweeps' points of {variant!r}: "
                             f"{labels or 'none, the variant is not in them'})")
        self._source[alias] = (variant, sorted(r["run"] for r in source))
        self.configs[alias], self._dir_of[alias] = self.configs[variant], self._dir_of[variant]
        self.rows = [r for r in self.rows if r["variant"] != variant] + [
            {**r, "variant": alias, "point": 0} for r in chosen]

    def has(self, variant: str) -> bool:
        return any(r["variant"] == variant for r in self.rows)

    def has_column(self, column: str) -> bool:
        """Whether every row has `column` (sweeps written before a column was added lack it)."""
        return bool(self.rows) and all(column in r for r in self.rows)

    def variant_rows(self, variant: str, point: int | None = None) -> list[dict]:
        return [r for r in self.rows if r["variant"] == variant and (point is None or r["point"] == point)]

    def values(self, variant: str, column: str, point: int | None = None) -> np.ndarray:
        """One value per run (seed) of `variant` (at `point`)."""
        return np.asarray([r[column] for r in self.variant_rows(variant, point)], np.float64)

    def layer_names(self, variant: str, network: str) -> list[str] | None:
        """The names of `network`'s layers in forward order, as its per-layer gradient metrics hold them; None
        for sweeps written before the order was recorded (their layers are in parameter-name order)."""
        for plan in self.plans:
            layers = plan.get("chunking", {}).get(variant, {}).get("layers")
            if layers is not None:
                return layers.get(network)
        return None

    def metrics(self, variant: str, point: int | None = None) -> tuple[dict, dict]:
        """(epoch metrics, eval metrics), each (runs, ...), of `variant`'s finished runs (at `point`)."""
        stored, all_runs = self._source.get(variant, (variant, None))
        epoch, evals = load_metrics(self._dir_of[variant], stored)
        if point is None and all_runs is None:
            return epoch, evals
        runs = sorted(r["run"] for r in self.variant_rows(variant, point))
        all_runs = all_runs or sorted(r["run"] for r in self.variant_rows(variant))
        index = [all_runs.index(r) for r in runs]
        return {k: v[index] for k, v in epoch.items()}, {k: v[index] for k, v in evals.items()}

    def ma_curves(self, variant: str, point: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(epochs, MA sum rate (runs, E), MA reward (runs, E)). Under state exploration the sum rate is that
        of the real environment, not of the generated states the agent was shown."""
        epoch, _ = self.metrics(variant, point)
        window = self.configs[variant]["ma_window"]
        rate = epoch.get("real_sum_rate", epoch["sum_rate"])
        epochs = np.arange(1, rate.shape[1] + 1)
        diverged = diverged_epochs(epoch)  # a diverged run's curves end where it diverged
        return (epochs, after_divergence(epochs, moving_average(rate, window), diverged),
                after_divergence(epochs, moving_average(epoch["reward"], window), diverged))

    def eval_curves(self, variant: str, point: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(evaluation epochs, held-out C/C* (runs, evaluations)), a diverged run's ending where it diverged."""
        epoch, evals = self.metrics(variant, point)
        epochs = evals["eval_epoch"][0]
        return epochs, after_divergence(epochs, evals["eval_ratio_to_optimizer"], diverged_epochs(epoch))

    @property
    def references(self) -> dict[str, float]:
        """The held-out reference levels (C*, R', heuristic, random) of the first sweep, {} for older sweeps."""
        return self.plans[0].get("references", {})

    @property
    def epochs(self) -> int:
        return int(self.plans[0]["base_config"]["num_epochs"])

    @property
    def device(self) -> str:
        """The device of the first sweep that wrote timing.json (a sweep cut short writes none)."""
        for d in self.dirs:
            timing = d / "timing.json"
            if timing.exists():
                info = read_json(timing).get("device", {})
                return f"{info.get('device_kind', '?')} (jax {info.get('jax_version', '?')})"
        return "unknown (no timing.json)"


def parse_aliases(values: list[str]) -> dict[str, tuple[str, str]]:
    """`--alias NAME=VARIANT@POINT_LABEL` values as SweepData's aliases; a usage error names a malformed one."""
    aliases = {}
    for value in values:
        name, _, rest = value.partition("=")
        variant, _, label = rest.partition("@")
        if not (name and variant and label):
            raise app.UsageError(f"--alias={value!r} is invalid: write NAME=VARIANT@POINT_LABEL, e.g. "
                                 "mlp.designed=mlp.designed.envs_1024@noise_std=0.5,actor_lr=0.001")
        aliases[name] = (variant, label)
    return aliases


def sweeps_from_flag(dirs: list[str], aliases: dict[str, tuple[str, str]] | None = None) -> SweepData:
    """The `--from` directories of a report CLI, read; a usage error names what is missing."""
    try:
        data = SweepData([Path(d) for d in dirs], aliases)
    except (FileNotFoundError, ValueError) as err:
        raise app.UsageError(f"--from: {err}") from None
    if not data.rows:
        raise app.UsageError("--from: the sweeps hold no finished run yet")
    return data
