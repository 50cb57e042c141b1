"""Sweeps: every variant of a grid as one compiled program over its flattened run axis (points x seeds).

    plan = plan_sweep("state_exp", variants, base_cfg, seeds)     # bytes per run, chunks that fit
    rows = run_sweep(plan, out_dir, resume=False)                 # trains, writes, resumes

Runs of one variant share every static setting, so they train in one `vmap`ped program compiled
once; the run axis is split into equal chunks that fit the devices' free memory (`memory`), and
each chunk is sharded over the visible devices by `run_training`. Files under `out_dir`, each
written atomically:

    plan.json                          grid, seeds, variants, points, bytes per run, chunks, compiles
    <variant>/chunk_<k>.npz            per-run metrics of chunk k: epoch/<name>, eval/<name>, run_index
    <variant>/chunk_<k>.json           per-run result rows of chunk k (written last: the chunk is done)
    <variant>/chunk_<k>.ckpt/          orbax checkpoints while chunk k trains (removed when it is done)
    summary.csv                        one row per finished run, rewritten after every chunk

With `resume`, finished chunks are skipped, an unfinished one continues from its last checkpoint,
and the saved plan's chunking is reused, so an interrupted sweep ends with the rows it would have had.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from d2rl_jax.config import TrainConfig
from d2rl_jax.run.distributed import barrier, process_zero_value, writes_files
from d2rl_jax.run.grids import Variant
from d2rl_jax.run.io import (
    as_json,
    nulls_to_nan,
    read_json,
    remove_stale_temporaries,
    write_json_atomic,
    write_text_atomic,
)
from d2rl_jax.run.memory import (
    MEMORY_FRACTION,
    ChunkPlan,
    RunBytes,
    free_device_bytes,
    measured_run_bytes,
    plan_chunks,
    run_bytes,
)
from d2rl_jax.run.results import read_metrics, write_metrics
from d2rl_jax.run.runner import ChunkProgress, run_training
from d2rl_jax.run.summaries import run_rows
from d2rl_jax.run.tensorboard import TensorBoardLog
from d2rl_jax.training import TrainFns, make_train

CSV_COLUMNS = (
    "variant", "actor", "reward", "learner", "state_exploration", "run", "point", "point_label", "seed", "M", "eta",
    "actor_lr", "critic_lr", "noise_std", "reward_lr", "action_temperature", "actor_temperature",
    "final_sum_rate", "best_sum_rate",
    "ratio_to_optimizer", "ratio_to_bound", "ratio_sample", "ratio_deterministic", "ratio_best_of_k", "final_reward",
    "epoch_to_50pct", "seconds_to_50pct", "epoch_to_80pct", "seconds_to_80pct", "ma_epoch_to_80pct",
    "ma_seconds_to_80pct", "critic_alignment", "critic_error", "final_ma_sum_rate",
    "final_ma_reward", "convergence_epoch", "seconds_per_epoch", "seconds_to_convergence",
    "actor_grad_weight_sum", "actor_grad_bias_sum", "critic_grad_weight_sum", "critic_grad_bias_sum",
    "chi_rise_epoch", "final_chi", "replacements", "nonfinite_actions", "diverged_epoch", "chunk", "chunk_runs",
    "chunk_train_s", "steady_chunk_s_per_epoch", "compile_s",
)


@dataclasses.dataclass
class VariantPlan:
    variant: Variant
    config: TrainConfig
    fns: TrainFns
    run_bytes: RunBytes
    chunks: ChunkPlan
    seeds: list[int]

    def run(self, index: int) -> tuple[int, int]:
        """(point, seed) of run `index`: the run axis is point-major."""
        point, seed = divmod(index, len(self.seeds))
        return point, self.seeds[seed]

    def run_name(self, index: int) -> str:
        """Run `index` as a path: seed_<s>, under its point's label when the variant sweeps several points."""
        point, seed = self.run(index)
        return f"seed_{seed}" if len(self.variant.points) == 1 else f"{self.variant.point_label(point)}/seed_{seed}"

    def chunk_inputs(self, index: int) -> tuple[list[int], list[int], list]:
        """Run indices (padded), seeds and hyperparameters of chunk `index`."""
        runs = self.chunks.chunk_runs(index)
        return runs, [self.run(r)[1] for r in runs], [self.variant.points[self.run(r)[0]] for r in runs]


@dataclasses.dataclass
class SweepPlan:
    grid: str
    seeds: list[int]
    base: TrainConfig
    variants: list[VariantPlan]
    budget_bytes: int
    budget_source: str
    num_devices: int

    @property
    def num_runs(self) -> int:
        return sum(v.chunks.num_runs for v in self.variants)

    def identity(self) -> dict:
        """Everything that decides the results (not how they are chunked): a resumed sweep must match it."""
        return {"grid": self.grid, "seeds": self.seeds, "base_config": self.base.to_dict(),
                "variants": [{"name": v.variant.name, "config": v.config.to_dict(),
                              "points": [p.to_dict() for p in v.variant.points]} for v in self.variants]}

    def references(self) -> dict[str, float]:
        """Held-out mean sum rates of the references (C*, R', heuristic, random) every variant is measured on."""
        return self.variants[0].fns.eval_batch.reference_levels() if self.variants else {}

    def to_dict(self) -> dict:
        return {**self.identity(), "references": self.references(), "devices": self.num_devices,
                "budget_bytes": self.budget_bytes, "budget_source": self.budget_source,
                "memory_fraction": MEMORY_FRACTION,
                "num_runs": self.num_runs, "num_chunks": sum(v.chunks.num_chunks for v in self.variants),
                "compile_count": len(self.variants),  # equal chunks per variant: one program each
                "chunking": {v.variant.name: {"runs": v.chunks.num_runs, "chunk_size": v.chunks.chunk_size,
                                              "num_chunks": v.chunks.num_chunks,
                                              "padded_runs": v.chunks.padded_runs,
                                              "bytes_per_run": v.run_bytes.to_dict(),
                                              "layers": {net: [layer.name for layer in layers]
                                                         for net, layers in v.fns.layers.items()}}
                             for v in self.variants}}

    def describe(self) -> str:
        lines = [f"sweep {self.grid}: {len(self.variants)} variants, {self.num_runs} runs "
                 f"({len(self.seeds)} seeds), {self.base.num_epochs} epochs each; {self.num_devices} device(s), "
                 f"memory budget {self.budget_bytes / 2**30:.2f} GiB ({self.budget_source} x {MEMORY_FRACTION})",
                 f"{'variant':<32}{'points':>7}{'runs':>6}{'MiB/run':>9}{'chunks':>8}{'x runs':>8}{'padded':>8}"]
        for v in self.variants:
            lines.append(f"{v.variant.name:<32}{len(v.variant.points):>7}{v.chunks.num_runs:>6}"
                         f"{v.run_bytes.total / 2**20:>9.1f}{v.chunks.num_chunks:>8}{v.chunks.chunk_size:>8}"
                         f"{v.chunks.padded_runs:>8}")
        lines.append(f"compiles: {len(self.variants)} (one per variant); "
                     f"chunks: {sum(v.chunks.num_chunks for v in self.variants)}")
        return "\n".join(lines)


def _plan_variant(cfg: TrainConfig, fns: TrainFns, num_runs: int, budget_bytes: int, devices: list,
                  max_chunk: int | None, measure: bool) -> tuple[RunBytes, ChunkPlan]:
    """Chunks from the estimate first, then from XLA's measured peak of the chunk program they need (compiled
    for the runner), re-planned until the chunk size holds (at most three compiles; one when it fits)."""
    nbytes = run_bytes(cfg, fns)
    chunks = plan_chunks(num_runs, nbytes.total, budget_bytes, len(devices), max_chunk)
    for _ in range(3 if measure else 0):
        peak = measured_run_bytes(fns, chunks.chunk_size, devices)
        if peak is None:  # the backend reports no analysis: the estimate stands
            break
        nbytes = dataclasses.replace(nbytes, xla_peak=peak)
        replanned = plan_chunks(num_runs, nbytes.total, budget_bytes, len(devices), max_chunk)
        if replanned.chunk_size == chunks.chunk_size:
            break
        chunks = replanned
    return nbytes, chunks


def plan_sweep(grid: str, variants: tuple[Variant, ...], base: TrainConfig, seeds: list[int], *,
               budget_bytes: int | None = None, max_chunk: int | None = None,
               devices: list | None = None, measure: bool = True) -> SweepPlan:
    """Bytes per run of every variant and the chunks that fit `budget_bytes` (default: MEMORY_FRACTION
    of the devices' free memory). `measure=False` plans from the estimate without compiling (a resume takes
    the saved plan's chunking and bytes instead)."""
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    devices = jax.devices() if devices is None else devices
    source = "given"
    if budget_bytes is None:
        free, source = free_device_bytes(devices)
        budget_bytes = int(MEMORY_FRACTION * free)
        if jax.process_count() > 1:  # every process must plan the same chunks: the tightest process's budget
            from jax.experimental import multihost_utils

            mib = multihost_utils.process_allgather(np.asarray(budget_bytes // 2**20, np.int32))  # int32: no x64
            budget_bytes = int(np.min(mib)) * 2**20
            source += ", min over processes"
    plans = []
    for variant in variants:
        cfg = variant.config(base)
        fns = make_train(cfg)
        nbytes, chunks = _plan_variant(cfg, fns, len(variant.points) * len(seeds), budget_bytes, devices, max_chunk,
                                       measure)
        plans.append(VariantPlan(variant, cfg, fns, nbytes, chunks, list(seeds)))
    return SweepPlan(grid, list(seeds), base, plans, budget_bytes, source, len(devices))


def prepare_sweep_dir(plan: SweepPlan, out_dir: str | Path, resume: bool) -> None:
    """Refuse to mix two sweeps in one directory; on resume, take the interrupted sweep's chunking
    (free memory may differ now, and finished chunks must keep their runs)."""
    path = Path(out_dir) / "plan.json"
    if not path.exists():
        return
    if not resume:
        raise FileExistsError(f"{path.parent} already holds a sweep (plan.json): resume it, or choose another "
                              "output directory")
    saved = read_json(path)
    if {k: saved.get(k) for k in plan.identity()} != as_json(plan.identity()):
        raise ValueError(f"the sweep in {path.parent} was planned with other settings (grid, seeds, epochs, "
                         "variants or points): resume it with the same flags, or choose another output directory")
    fields = {f.name for f in dataclasses.fields(RunBytes)}
    for v in plan.variants:
        c = saved["chunking"][v.variant.name]
        v.chunks = ChunkPlan(num_runs=c["runs"], chunk_size=c["chunk_size"], num_chunks=c["num_chunks"])
        v.run_bytes = RunBytes(**{k: value for k, value in c["bytes_per_run"].items() if k in fields})


def _to_csv(rows: list[dict]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in CSV_COLUMNS})
    return buffer.getvalue()


def read_rows(out_dir: str | Path, plan: SweepPlan) -> list[dict]:
    """The rows of every finished chunk, in plan order."""
    rows = []
    for name in (v.variant.name for v in plan.variants):
        for path in sorted((Path(out_dir) / name).glob("chunk_*.json")):
            rows += nulls_to_nan(read_json(path))
    return rows


def load_metrics(out_dir: str | Path, variant: str) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(epoch metrics, eval metrics) of every finished run of `variant`, each (runs, ...), by run index."""
    parts = [read_metrics(p) for p in sorted((Path(out_dir) / variant).glob("chunk_*.npz"))]
    if not parts:
        raise FileNotFoundError(f"no finished chunk of {variant} in {out_dir}")
    order = np.argsort(np.concatenate([run_index for _, _, run_index in parts]))

    def merged(i: int) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[i][k] for p in parts])[order] for k in parts[0][i]}

    return merged(0), merged(1)


def sweep_timing(rows: list[dict], epochs: int | None = None) -> dict:
    """Seconds of the compiled chunks and of compiling, summed over the finished chunks (each counted
    once), and, for `epochs`, the wall time projected from each chunk's last compiled chunk of epochs."""
    chunks = {(r["variant"], r["chunk"]): r for r in rows}.values()
    train_s = sum(float(r["chunk_train_s"]) for r in chunks)
    compile_s = sum(float(r["compile_s"]) for r in chunks if np.isfinite(float(r["compile_s"])))
    out = {"chunks": len(chunks), "train_s": train_s, "compile_s": compile_s}
    if epochs is not None:
        per_epoch = sum(float(r["steady_chunk_s_per_epoch"]) for r in chunks)
        out.update(projected_epochs=epochs, projected_train_s=per_epoch * epochs,
                   projected_total_s=per_epoch * epochs + compile_s)
    return out


def _bar(fraction: float, width: int = 24) -> str:
    filled = int(round(width * min(max(fraction, 0.0), 1.0)))
    return "#" * filled + "-" * (width - filled)


class _SweepProgress:
    """Progress lines with a bar per chunk and a sweep ETA from the compiled chunks' measured rate."""

    def __init__(self, progress: Callable[[str], None] | None, total_run_epochs: int):
        self.progress, self.left, self.seconds, self.run_epochs = progress, total_run_epochs, 0.0, 0

    def skip(self, run_epochs: int) -> None:
        self.left -= run_epochs

    def reporter(self, label: str, size: int) -> Callable:
        def report(item):
            if not self.progress:
                return
            if not isinstance(item, ChunkProgress):
                self.progress(f"{label} {item}")
                return
            self.seconds += item.chunk_seconds
            self.run_epochs += item.chunk_epochs * size
            self.left -= item.chunk_epochs * size
            eta = self.seconds / self.run_epochs * self.left
            self.progress(f"{label} [{_bar(item.epochs_done / item.num_epochs)}] {item.epochs_done}/{item.num_epochs}"
                          f" epochs  {item.epochs_per_s:.1f} epochs/s x {size} runs  "
                          f"{item.learning}  chunk ETA {item.eta_s:.0f} s  sweep ETA {eta:.0f} s{item.diverged}")
        return report


def run_sweep(plan: SweepPlan, out_dir: str | Path, *, resume: bool = False, checkpoints: bool = True,
              tensorboard: bool = True, progress: Callable[[str], None] | None = print) -> list[dict]:
    """Train every chunk of every variant (skipping finished ones), write results, return all rows.
    `checkpoints=False` saves no orbax checkpoint inside a chunk (an interrupted chunk restarts); `tensorboard`
    writes each run's events under out_dir/tensorboard/<variant>/<point label>/seed_<s> (seed_<s> for a variant
    of one point)."""
    out = Path(out_dir)
    prepare_sweep_dir(plan, out, resume)
    writer = writes_files()  # multi-process: every process trains its shards, process 0 writes
    barrier("sweep directory checked")  # by every process, before process 0 writes into it
    if writer:
        if resume:  # a kill mid-write leaves a temporary file the killed process could not remove
            remove_stale_temporaries(out)
        write_json_atomic(out / "plan.json", plan.to_dict())
    bar = _SweepProgress(progress, sum(v.chunks.num_chunks * v.chunks.chunk_size for v in plan.variants)
                         * plan.base.num_epochs)
    sweep_start = time.perf_counter()
    chunk_count = sum(v.chunks.num_chunks for v in plan.variants)
    ordinal = 0
    for vp in plan.variants:
        name, cfg = vp.variant.name, vp.config
        for k in range(vp.chunks.num_chunks):
            ordinal += 1
            stem = out / name / f"chunk_{k:03d}"
            if process_zero_value(int(stem.with_suffix(".json").exists())):
                if writer:  # a kill between marking the chunk done and removing its checkpoints leaves them
                    shutil.rmtree(stem.with_suffix(".ckpt"), ignore_errors=True)
                if progress:
                    progress(f"[{ordinal}/{chunk_count} {name}] finished earlier: skipped")
                bar.skip(vp.chunks.chunk_size * cfg.num_epochs)
                continue
            runs, seeds, points = vp.chunk_inputs(k)
            filled = min(len(runs), vp.chunks.num_runs - k * vp.chunks.chunk_size)
            label = f"[{ordinal}/{chunk_count} {name} runs {runs[0]}-{runs[filled - 1]}]"
            logs = TensorBoardLog(out / "tensorboard" / name, [vp.run_name(r) for r in runs[:filled]]) \
                if writer and tensorboard else None
            result = run_training(cfg, seeds, points, checkpoint_dir=stem.with_suffix(".ckpt") if checkpoints else None,
                                  resume=True, progress=bar.reporter(label, len(runs)), fns=vp.fns,
                                  shard=plan.num_devices > 1, on_chunk=None if logs is None else logs.write_chunk)
            if logs is not None:
                logs.close()
            per_run_s = result.seconds_per_epoch / len(runs)  # the program's time shared by its runs
            rows = run_rows(result.epoch_metrics, result.eval_metrics, cfg, per_run_s)[:filled]
            for run, row in zip(runs, rows, strict=False):
                point, seed = vp.run(run)
                hp = vp.variant.points[point]
                state = vp.variant.state_exploration
                row.update(variant=name, actor=cfg.actor, reward=cfg.reward, learner=cfg.learner,
                           state_exploration=int(state), run=run, point=point,
                           point_label=vp.variant.point_label(point), seed=seed,
                           M=hp.max_replace_prob if state else 0.0, eta=hp.replace_rate if state else 0.0,
                           actor_lr=hp.actor_lr, critic_lr=hp.critic_lr, noise_std=hp.noise_std, reward_lr=hp.reward_lr,
                           action_temperature=hp.action_temperature,
                           actor_temperature=hp.actor_temperature, chunk=k, chunk_runs=len(runs),
                           chunk_train_s=sum(result.chunk_seconds),
                           compile_s=result.compile_s,
                           # the last compiled chunk: past the warm-up epochs that skip the update
                           steady_chunk_s_per_epoch=result.chunk_seconds[-1] / cfg.chunk_epochs)
                if state and row["chi_rise_epoch"] is None:
                    row["chi_rise_epoch"] = -1  # chi never left 0
            if writer:
                kept = [{metric: v[:filled] for metric, v in m.items()}  # the padding runs dropped
                        for m in (result.epoch_metrics, result.eval_metrics)]
                write_metrics(stem.with_suffix(".npz"), *kept, run_index=np.asarray(runs[:filled]))
                write_json_atomic(stem.with_suffix(".json"), rows)  # last: marks the chunk finished
                shutil.rmtree(stem.with_suffix(".ckpt"), ignore_errors=True)
                write_text_atomic(out / "summary.csv", _to_csv(read_rows(out, plan)))
    if writer:  # again at the end: a kill between a chunk's rows and this file leaves it a chunk short
        write_text_atomic(out / "summary.csv", _to_csv(read_rows(out, plan)))
    barrier("sweep written")  # every chunk file is on disk before any process reads them back
    rows = read_rows(out, plan)
    if progress:
        progress(f"sweep done: {len(rows)} runs in {time.perf_counter() - sweep_start:.0f} s (this process)")
    return rows
