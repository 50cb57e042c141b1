r"""Retraining after environment drift: pre-train, drift, retrain every variant; recovery table and figures.

    python -m experiments.retrain --drift clutter_move [--grid retrain_exp] [--preset quick] \
        [--pretrain_epochs 500] [--epochs 500] [--seeds 2] [--out DIR] [--resume]
    python -m experiments.retrain --drift noise --from runs/quick/mlp --epochs 1000
    python -m experiments.retrain --drift noise --from runs/retrain_clutter_move_quick   # reuse its pre-training

Drifts (d2rl_jax/drift.py): clutter_move (interferers move, --clutter_angles, --clutter_inr_db),
noise (noise floors rise by --noise_rise_db), hotspot (users crowd into a sector, --hotspot_center,
--hotspot_width). Each variant of the grid (d2rl_jax/grids.py; retrain_exp by default: actor kinds,
reward designs, state exploration on/off) is pre-trained on the original environment for
--pretrain_epochs (or loaded with --from DIR: a directory with run.json and checkpoints/, written by
experiments.run per actor and by this command per variant, or an output directory of this command),
then retrained for --epochs in the drifted environment beside as many runs from scratch there, all
seeds and points in one compiled program.
Recovery: epochs (and device seconds) until the moving-average sum rate is back within --tolerance of
the scratch runs' final level, and of C* of the new environment; the sum rate lost on the way.

Writes, atomically:
  DIR/config.json                         the drift, schedule, variants, seeds
  DIR/<variant>/pretrain/                 run.json, metrics.npz and orbax checkpoints (reusable with --from)
  DIR/<variant>/retrain.npz, rows.json    metrics after the drift (retrained, then scratch runs; the format of
                                          d2rl_jax/run/results.py) and the rows
  DIR/retrain.csv, DIR/retrain.md         one row per run; the table per variant
  DIR/drift_sum_rate.png, DIR/recovery.png   the figures (experiments/retrain_report.py)
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
from pathlib import Path

from absl import app, flags

from d2rl_jax.config import ConfigError, HyperParams, TrainConfig
from d2rl_jax.env.full_duplex.drift import DRIFT_SCENARIOS, DriftScenario, drifted_params
from d2rl_jax.run.distributed import barrier, process_zero_value, writes_files
from d2rl_jax.run.grids import GRIDS, SWEEP_PRESETS, Variant, sweep_config, variant_name
from d2rl_jax.run.io import as_json, read_json, write_json_atomic
from d2rl_jax.run.results import write_metrics
from d2rl_jax.run.retrain import (
    RUN_INFO,
    load_pretrained,
    pretrain,
    read_run_info,
    recovery_rows,
    retrain,
    write_run_info,
)
from d2rl_jax.run.timing import device_info
from d2rl_jax.training import make_train
from experiments import common
from experiments.common import (
    define_distributed_flags,
    define_grid_flags,
    grid_from_flags,
    init_distributed,
    parse_floats,
    run_cli,
)
from experiments.retrain_report import write_report

FLAGS = flags.FLAGS
flags.DEFINE_enum("drift", None, list(DRIFT_SCENARIOS), "The environment change applied at the drift epoch.")
flags.DEFINE_enum("grid", None, list(GRIDS), "Variants to retrain (default retrain_exp; not with --from).")
flags.DEFINE_enum("preset", "quick", list(SWEEP_PRESETS), "Sizes and default epochs (d2rl_jax/grids.py).")
flags.DEFINE_string("from", None, "Pre-trained runs to retrain: a directory with run.json and checkpoints/, or an "
                    "earlier output of this command (every variant's pretrain/ is reused).")
flags.DEFINE_integer("pretrain_epochs", None, "Epochs on the original environment (default: the preset's).",
                     lower_bound=1)
flags.DEFINE_integer("epochs", None, "Epochs after the drift (default: as many as pre-trained).", lower_bound=1)
flags.DEFINE_integer("chunk", None, "Epochs per compiled chunk (default: the preset's if it divides both phases).",
                     lower_bound=1)
flags.DEFINE_integer("seeds", 2, "Seeds per variant and point (not with --from: its runs are retrained).",
                     lower_bound=1)
flags.DEFINE_integer("seed_offset", 0, "First seed.")
define_grid_flags()
define_distributed_flags()
flags.adopt_module_key_flags(common)  # --help lists the grid flags too
flags.DEFINE_list("clutter_angles", None, "clutter_move: interferer angles after the drift, degrees (default -10,45).")
flags.DEFINE_float("clutter_inr_db", None, "clutter_move: interferer INR after the drift, dB (default unchanged).")
flags.DEFINE_float("noise_rise_db", DriftScenario.noise_rise_db, "noise: rise of both noise floors, dB.")
flags.DEFINE_float("hotspot_center", DriftScenario.hotspot_center_deg, "hotspot: the sector's centre, degrees.")
flags.DEFINE_float("hotspot_width", DriftScenario.hotspot_width_deg, "hotspot: the sector's full width, degrees.")
flags.DEFINE_float("tolerance", 0.02, "Recovered: the moving-average sum rate within this fraction of the target.",
                   lower_bound=0.0, upper_bound=1.0)
flags.DEFINE_string("out", None, "Output directory (default runs/retrain_<drift>_<preset>).")
flags.DEFINE_bool("resume", False, "Continue in --out: finished variants are kept, unfinished ones resume from "
                  "their checkpoints.")
flags.mark_flag_as_required("drift")


def _scenario() -> DriftScenario:
    angles = parse_floats("clutter_angles", FLAGS.clutter_angles)
    return DriftScenario(FLAGS.drift, **({} if angles is None else {"clutter_angles_deg": tuple(angles)}),
                         clutter_inr_db=FLAGS.clutter_inr_db, noise_rise_db=FLAGS.noise_rise_db,
                         hotspot_center_deg=FLAGS.hotspot_center, hotspot_width_deg=FLAGS.hotspot_width)


def _schedule(cfg: TrainConfig, pretrain_epochs: int | None, epochs: int) -> TrainConfig:
    """`cfg` with a chunk that divides both phases (the compiled chunk is shared) and `epochs` epochs."""
    phases = [e for e in (pretrain_epochs, epochs) if e is not None]
    chunk = FLAGS.chunk
    if chunk is None:
        chunk = cfg.chunk_epochs if all(e % cfg.chunk_epochs == 0 for e in phases) else math.gcd(*phases)
    bad = [e for e in phases if e % chunk]
    if bad:
        raise ConfigError(f"--chunk={chunk} is invalid: it must divide the epochs of both phases ({phases})")
    return cfg.with_schedule(epochs=epochs, chunk=chunk)


@dataclasses.dataclass(frozen=True)
class Job:
    """One variant to retrain: its config, its runs (points x seeds, point-major) and where they come from."""

    variant: Variant
    cfg: TrainConfig  # num_epochs: the epochs after the drift
    seeds: list[int]  # per run
    hps: list[HyperParams]  # per run
    pretrain_epochs: int  # 0: loaded from `source`
    source: Path | None  # a directory with run.json and checkpoints/


def _loaded_jobs(source: Path) -> list[Job]:
    """--from: one directory with run.json, or a retrain output directory (each variant's pretrain/)."""
    dirs = [source] if (source / RUN_INFO).is_file() else [p.parent for p in source.glob(f"*/pretrain/{RUN_INFO}")]
    earlier = source / "config.json"  # an earlier output: its order of variants, else by name
    order = read_json(earlier).get("variants", []) if earlier.is_file() else []
    dirs.sort(key=lambda d: (order.index(d.parent.name) if d.parent.name in order else len(order), str(d)))
    if not dirs:
        read_run_info(source)  # raises, naming what --from must hold
    jobs = []
    for d in dirs:
        cfg, seeds, hps = read_run_info(d)
        points = tuple(dict.fromkeys(hps))
        variant = Variant(variant_name(cfg.actor, cfg.reward, cfg.state_exploration), cfg.actor, cfg.reward,
                          cfg.state_exploration, points)
        epochs = FLAGS.epochs or cfg.num_epochs
        jobs.append(Job(variant, _schedule(cfg, None, epochs), seeds, hps, 0, d))
    return jobs


def _jobs() -> list[Job]:
    source = getattr(FLAGS, "from")
    if source is not None:
        if FLAGS.pretrain_epochs is not None or FLAGS.grid is not None:
            raise app.UsageError("--from retrains the runs it names: --pretrain_epochs and --grid do not apply")
        return _loaded_jobs(Path(source))
    base, base_hp = sweep_config(FLAGS.preset)
    variants = grid_from_flags(FLAGS.grid or "retrain_exp", base_hp, references=False)
    pre = FLAGS.pretrain_epochs or base.num_epochs
    cfg = _schedule(base, pre, FLAGS.epochs or pre)
    seeds = list(range(FLAGS.seed_offset, FLAGS.seed_offset + FLAGS.seeds))
    return [Job(v, v.config(cfg), [s for _ in v.points for s in seeds], [p for p in v.points for _ in seeds], pre,
                None) for v in variants]


def _run_job(job: Job, scenario: DriftScenario, out: Path) -> None:
    variant, cfg, hps, run_seeds = job.variant, job.cfg, job.hps, job.seeds
    vdir = out / variant.name
    fns = make_train(cfg, drift_params=drifted_params(cfg.env, scenario))
    log = lambda line: print(f"[{variant.name}] {line}", flush=True)  # noqa: E731
    if job.source is None:
        pre_cfg = cfg.replace(num_epochs=job.pretrain_epochs)
        log(f"pre-training {len(run_seeds)} run(s) for {job.pretrain_epochs} epochs on the original environment ...")
        if writes_files():
            write_run_info(vdir / "pretrain", pre_cfg, run_seeds, hps)
        pre = pretrain(pre_cfg, fns, run_seeds, hps, checkpoint_dir=vdir / "pretrain" / "checkpoints",
                       resume=FLAGS.resume, progress=log)
        if writes_files():
            write_metrics(vdir / "pretrain" / "metrics.npz", pre.epoch_metrics, pre.eval_metrics)
        drift_epoch, state = job.pretrain_epochs, pre.final_state
    else:
        try:
            drift_epoch, state = load_pretrained(job.source, fns)
        except (FileNotFoundError, ValueError) as err:
            raise app.UsageError(f"--from={job.source}: {err}") from None
        log(f"loaded {len(run_seeds)} run(s) at epoch {drift_epoch} from {job.source}")
    log(f"drift ({scenario.name}) at epoch {drift_epoch}; retraining {len(run_seeds)} run(s) beside "
        f"{len(run_seeds)} from scratch for {cfg.num_epochs} epochs ...")
    result = retrain(cfg, fns, state, run_seeds, hps, drift_epoch, checkpoint_dir=vdir / "retrain" / "checkpoints",
                     resume=FLAGS.resume, progress=log)
    rows = recovery_rows(result, cfg, FLAGS.tolerance)
    for row, hp, seed in zip(rows, hps, run_seeds, strict=True):
        row.update(variant=variant.name, point=variant.point_label(variant.points.index(hp)), seed=seed,
                   drift=scenario.name, drift_epoch=drift_epoch,
                   pretrained_in=str(vdir / "pretrain" if job.source is None else job.source))
    if writes_files():  # multi-process: every process trains its shards, process 0 writes
        write_metrics(vdir / "retrain.npz", result.run.epoch_metrics, result.run.eval_metrics)
        write_json_atomic(vdir / "rows.json", rows)  # last: its presence marks the variant done
        shutil.rmtree(vdir / "retrain", ignore_errors=True)  # its checkpoints: the curves and rows hold the results


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    init_distributed()
    try:
        scenario = _scenario()
        jobs = _jobs()
        for job in jobs:
            drifted_params(job.cfg.env, scenario)  # shape checks (clutter count) before anything runs
    except (ConfigError, FileNotFoundError) as err:
        raise app.UsageError(str(err)) from None
    out = Path(FLAGS.out or f"runs/retrain_{FLAGS.drift}_{FLAGS.preset}")
    source = getattr(FLAGS, "from")
    epochs = sorted({job.cfg.num_epochs for job in jobs})
    config = {"drift": dataclasses.asdict(scenario), "preset": None if source else FLAGS.preset, "from": source,
              "pretrain_epochs": None if source else jobs[0].pretrain_epochs,
              "epochs": epochs[0] if len(epochs) == 1 else epochs, "seeds": sorted({s for j in jobs for s in j.seeds}),
              "tolerance": FLAGS.tolerance, "variants": [job.variant.name for job in jobs],
              "command": " ".join(["python -m experiments.retrain", *sys.argv[1:]])}
    if (out / "config.json").exists():
        saved = read_json(out / "config.json")
        if not FLAGS.resume:
            raise app.UsageError(f"--out={out} already holds a retraining run: pass --resume to continue it, or "
                                 "choose a new --out")
        mismatch = [k for k in ("drift", "from", "pretrain_epochs", "epochs", "seeds", "variants", "preset")
                    if saved.get(k) != as_json(config[k])]
        if mismatch:
            raise app.UsageError(f"--resume: --out={out} was written with other settings ({', '.join(mismatch)})")
        config["command"] = saved["command"]  # the report names the command that made the run
    barrier("retraining directory checked")  # by every process, before process 0 writes into it
    if writes_files():
        write_json_atomic(out / "config.json", {**config, "device": device_info()})
    print(f"drift={scenario.name} variants={len(jobs)} seeds={config['seeds']} pre-train="
          f"{config['pretrain_epochs'] or 'loaded'} retrain={config['epochs']} epochs -> {out}", flush=True)
    for job in jobs:
        if FLAGS.resume and process_zero_value(int((out / job.variant.name / "rows.json").exists())):
            print(f"[{job.variant.name}] done earlier: kept", flush=True)
            continue
        _run_job(job, scenario, out)
    barrier("retraining written")
    if not writes_files():
        return
    table = write_report(out)
    print("\n" + table + f"\n\nwrote {out}/retrain.md, retrain.csv, drift_sum_rate.png, recovery.png", flush=True)


if __name__ == "__main__":
    run_cli(main, "interrupted: rerun with --resume to continue; finished variants are kept")
