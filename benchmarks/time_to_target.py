r"""Wall time from launch to a level of held-out C/C* on the paper's system: a process per run, stopped at the level.

    python -m benchmarks.time_to_target [--preset paper] [--settings default,batch_512] [--actors mlp] [--seeds 3]
        [--level 0.8] [--budget_s 300 | --budget_s 200,450] [--eval_every 20]

Each (seed, setting, actor) trains DDPG in a process of its own, launched one after another on an otherwise idle
machine, seed by seed so that the settings interleave (a slow spell of the machine falls on every setting alike).
A setting is the preset with the changes named in SETTINGS. A run evaluates on the preset's held-out batch every
`--eval_every` epochs (one compiled chunk each: the evaluation runs inside the timed chunks) and stops at the first
evaluation at or above `--level`, or after the chunk whose training seconds pass its setting's `--budget_s`.
Per run: the wall seconds from launch to the first evaluation at each of 0.5, 0.6, 0.7 and `--level` (imports, the
held-out references with C*, initializing and compiling in: children run without the persistent cache, so every run
starts cold), the training seconds and epochs to them, the start-up seconds (launch to the first chunk) and the C/C*
curve. Per setting and level: mean and 95% t-interval over seeds where every seed reached the level, else how many
did (a baseline given a shorter budget is still compared at the lower levels). Resumable: finished runs are kept
under --work, and reused only with the same level, budget and evaluation period.
Writes benchmarks/results/time_to_target_<preset>_<platform>.{json,md,png}.
"""

from __future__ import annotations

import time

PROCESS_START = time.time()  # before the heavy imports

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks.processes import interval, plus_minus, run_logged  # noqa: E402
from d2rl_jax.config import ACTOR_KINDS, TRAIN_PRESETS, ConfigError, HyperParams, TrainConfig  # noqa: E402
from d2rl_jax.run.grids import preset_config  # noqa: E402
from d2rl_jax.run.io import write_json_atomic, write_text_atomic  # noqa: E402
from d2rl_jax.run.runner import run_training  # noqa: E402
from d2rl_jax.run.timing import device_info  # noqa: E402
from experiments.common import parse_floats, require_choices, run_cli  # noqa: E402

# Setting -> (TrainConfig changes as `with_changes` takes them, HyperParams changes) from the preset: the levers of an
# epoch's cost and of the learning per epoch that benchmarks/epoch_profile.py points at (the critic steps are 86% of
# an epoch). The MMSE receiver is not the paper's action (76 reals instead of 124): reported apart.
SETTINGS: dict[str, tuple[dict, dict]] = {
    "default": ({}, {}),
    "batch_512": ({"batch_size": 512}, {}),
    "batch_512_lr_2e-3": ({"batch_size": 512}, {"actor_lr": 2e-3, "critic_lr": 2e-3}),
    "batch_512_mmse_receiver": ({"batch_size": 512, "receiver": "mmse"}, {}),
    # the exploration std falling from 0.5 to 0.1 over 3000 epochs: a smaller std ends higher at 10k epochs but
    # starts slower (docs/learning.md, sigma 0.2 vs 0.5)
    "batch_512_noise_decay": ({"batch_size": 512}, {"noise_std_final": 0.1, "noise_decay_epochs": 3000.0}),
}
REPORT_LEVELS = (0.5, 0.6, 0.7)  # reported beside the stop level: levels slower settings reach within their budget

FLAGS = flags.FLAGS


def setting_config(preset: str, setting: str, actor: str, eval_every: int) -> tuple[TrainConfig, HyperParams]:
    """The preset with `setting`'s changes, for `actor`, in chunks of `eval_every` epochs that each end in one
    held-out evaluation (of the configured mode only). The epoch count only bounds the loop: a run stops itself."""
    if setting not in SETTINGS:
        raise ConfigError(f"setting={setting!r} is invalid: must be one of {tuple(SETTINGS)}")
    cfg, hp = preset_config(preset)
    changes, traced = SETTINGS[setting]
    cfg = cfg.with_changes(actor=actor, eval_all_modes=False, **changes)
    return (cfg.replace(chunk_epochs=eval_every, eval_every=eval_every, num_epochs=eval_every * 1_000_000),
            hp.replace(**traced))


def train_to_level(preset: str, setting: str, actor: str, seed: int, level: float, budget_s: float,
                   eval_every: int, launch_time: float = PROCESS_START) -> dict:
    """One run, stopped at the first evaluation at or above `level` or past `budget_s` training seconds."""
    cfg, hp = setting_config(preset, setting, actor, eval_every)
    points: list[dict] = []

    def record(_, eval_metrics: dict[str, np.ndarray], chunk_s: float) -> None:
        ratio = float(eval_metrics["eval_ratio_to_optimizer"][0, -1])
        epoch = (len(points) + 1) * eval_every
        if not np.isfinite(ratio):
            raise FloatingPointError(f"{setting} {actor} seed {seed}: non-finite held-out C/C* at epoch {epoch}")
        points.append({"epoch": epoch, "train_s": (points[-1]["train_s"] if points else 0.0) + chunk_s,
                       "unix_time": time.time(), "ratio": ratio})

    result = run_training(cfg, [seed], hp, progress=None, on_chunk=record,
                          until=lambda ev, train_s: ev["eval_ratio_to_optimizer"][0, -1] >= level
                          or train_s >= budget_s)
    first = points[0]
    return {"preset": preset, "setting": setting, "actor": actor, "seed": seed, "level": level, "budget_s": budget_s,
            "launch_unix_time": launch_time, "compile_s": result.compile_s,
            "startup_s": first["unix_time"] - first["train_s"] - launch_time,
            "seconds_per_epoch": points[-1]["train_s"] / points[-1]["epoch"], "points": points,
            "train_config": cfg.to_dict(), "hyperparams": hp.to_dict()}


def first_reaching(points: list[dict], level: float) -> dict | None:
    return next((p for p in points if p["ratio"] >= level), None)


def run_summary(run: dict, launch: float, levels: tuple[float, ...]) -> dict:
    """A finished run's times to each of `levels` (None: not reached within its budget) from `launch` (the
    launcher's clock), its start-up and its curve."""
    points, last = run["points"], run["points"][-1]
    hits = {level: first_reaching(points, level) for level in levels}
    return {"seed": run["seed"], "budget_s": run["budget_s"], "startup_s": run["startup_s"],
            "seconds_per_epoch": run["seconds_per_epoch"], "final_ratio": last["ratio"], "final_epoch": last["epoch"],
            "final_train_s": last["train_s"],
            "to_level": {f"{level:g}": None if hit is None else
                         {"wall_s": hit["unix_time"] - launch, "train_s": hit["train_s"], "epoch": hit["epoch"]}
                         for level, hit in hits.items()},
            "wall_s_curve": [p["unix_time"] - launch for p in points], "ratio_curve": [p["ratio"] for p in points]}


def summarize(runs: list[dict], levels: tuple[float, ...]) -> dict:
    """Per setting and actor: every seed's times and, at each level every seed reached, their intervals."""
    out: dict[str, dict] = {}
    for r in runs:
        out.setdefault(f"{r['setting']}.{r['actor']}", {"setting": r["setting"], "actor": r["actor"],
                                                          "runs": []})["runs"].append(r)
    for entry in out.values():
        rows = entry["runs"]
        entry["seconds_per_epoch"] = interval([r["seconds_per_epoch"] for r in rows])
        entry["startup_s"] = interval([r["startup_s"] for r in rows])
        entry["final_ratio"] = interval([r["final_ratio"] for r in rows])
        entry["budget_s"] = max(r["budget_s"] for r in rows)
        entry["levels"] = {}
        for level in levels:
            hits = [r["to_level"][f"{level:g}"] for r in rows]
            reached = [h for h in hits if h is not None]
            entry["levels"][f"{level:g}"] = {"reached": f"{len(reached)}/{len(rows)}", **(
                {key: interval([h[key] for h in hits]) for key in ("wall_s", "train_s", "epoch")}
                if len(reached) == len(rows) else {})}
    return out


def markdown_table(summary: dict, levels: tuple[float, ...]) -> str:
    """Wall seconds from launch to each level (mean ± 95% t-interval over seeds, where every seed reached it)."""
    head = " | ".join(f"wall s to {level:g}·C\\*" for level in levels)
    rows = [f"| setting | actor | s/epoch | start-up s | {head} | epochs to {levels[-1]:g}·C\\* | C/C\\* at the stop |",
            "|---" * (6 + len(levels)) + "|"]
    for e in summary.values():
        cells = []
        for level in levels:
            hit = e["levels"][f"{level:g}"]
            cells.append(plus_minus(hit["wall_s"], 1) if "wall_s" in hit else
                         f"{hit['reached']} within {e['budget_s']:.0f} s of training")
        last = e["levels"][f"{levels[-1]:g}"]
        rows.append(f"| {e['setting']} | {e['actor']} | {plus_minus(e['seconds_per_epoch'], 3)} | "
                    f"{plus_minus(e['startup_s'], 1)} | {' | '.join(cells)} | "
                    f"{plus_minus(last['epoch'], 0) if 'epoch' in last else '–'} | {plus_minus(e['final_ratio'])} |")
    return "\n".join(rows) + "\n"


def draw_figure(summary: dict, level: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from experiments.plots import save_figure_atomic

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for color, entry in zip(plt.cm.tab10.colors, summary.values(), strict=False):
        for i, r in enumerate(entry["runs"]):
            ax.plot(r["wall_s_curve"], r["ratio_curve"], color=color, lw=1.2, alpha=0.8,
                    label=f"{entry['setting']} ({entry['actor']})" if i == 0 else None)
    ax.axhline(level, color="k", ls=":", lw=1)
    ax.set_xlabel("wall time from launch (s)")
    ax.set_ylabel("held-out C / C*")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    save_figure_atomic(fig, path)


def study_levels(level: float) -> tuple[float, ...]:
    """The levels a study reports: REPORT_LEVELS below the stop level, and the stop level."""
    return tuple(sorted({*(lv for lv in REPORT_LEVELS if lv < level), level}))


def budgets(settings: list[str], values: list[str]) -> dict[str, float]:
    """`--budget_s`: one value for every setting, or one per setting in order."""
    if len(values) not in (1, len(settings)):
        raise app.UsageError(f"--budget_s has {len(values)} values for {len(settings)} settings: give one, or one "
                             "per setting")
    numbers = parse_floats("budget_s", values)
    if not all(np.isfinite(b) and b > 0 for b in numbers):
        raise app.UsageError(f"--budget_s={','.join(values)}: every budget must be a positive number")
    return dict(zip(settings, numbers * len(settings) if len(numbers) == 1 else numbers, strict=True))


def launch_run(setting: str, actor: str, seed: int, budget_s: float, work: Path) -> dict:
    """The finished run: trained in a child process unless an earlier launch left it under `work`."""
    name = f"{FLAGS.preset}_{setting}_{actor}_seed{seed}"
    out = work / "runs" / f"{name}.json"
    protocol = {"level": FLAGS.level, "budget_s": budget_s, "eval_every": FLAGS.eval_every}
    if out.exists():
        saved = json.loads(out.read_text())
        kept = {"level": saved["level"], "budget_s": saved["budget_s"],
                "eval_every": saved["train_config"]["eval_every"]}
        if kept != protocol:
            raise app.UsageError(f"{out} was trained with {kept}, not {protocol}: choose another --work, or delete it")
        return saved
    print(f"{setting} ({actor}) seed {seed}: to {FLAGS.level:g}·C* or {budget_s:.0f} s of training", flush=True)
    tmp = out.with_suffix(".part.json")
    launch = run_logged([sys.executable, "-m", "benchmarks.time_to_target", "--child", "--nocompile_cache",
                         "--preset", FLAGS.preset, "--setting", setting, "--actors", actor, "--seed", str(seed),
                         "--level", str(FLAGS.level), "--budget_s", str(budget_s),
                         "--eval_every", str(FLAGS.eval_every), "--scores_out", str(tmp)],
                        work / "logs" / f"{name}.log")
    result = {**json.loads(tmp.read_text()), "launcher_unix_time": launch}
    write_json_atomic(out, result)
    tmp.unlink()
    last = result["points"][-1]
    hit = first_reaching(result["points"], FLAGS.level)
    print(f"  {'reached' if hit else 'not reached'}: epoch {last['epoch']}, C/C* {last['ratio']:.3f}, "
          f"{last['unix_time'] - launch:.1f} s from launch", flush=True)
    return result


def define_flags() -> None:
    """The program's flags: defined when it runs, so that its functions import into tests and other programs."""
    flags.DEFINE_enum("preset", "paper", list(TRAIN_PRESETS), "Training preset the settings change.")
    flags.DEFINE_list("settings", ["default"], f"Settings, from {tuple(SETTINGS)}.")
    flags.DEFINE_list("actors", ["mlp"], f"Actor kinds, from {ACTOR_KINDS}.")
    flags.DEFINE_integer("seeds", 3, "Seeds per setting and actor (0..n-1), each a process of its own.", lower_bound=1)
    flags.DEFINE_float("level", 0.8, "The held-out C/C* a run stops at.", lower_bound=0.0, upper_bound=1.0)
    flags.DEFINE_list("budget_s", ["300"], "Training seconds after which a run stops unreached: one for every "
                      "setting, or one per setting.")
    flags.DEFINE_integer("eval_every", 20, "Epochs between held-out evaluations (one compiled chunk).", lower_bound=1)
    flags.DEFINE_string("work", "runs/time_to_target", "Working directory: every run's result and log (resumable).")
    flags.DEFINE_string("out", None, "Output JSON (default benchmarks/results/time_to_target_<preset>_<platform>.json; "
                        "the table and the figure beside it).")
    # One run, launched by the launcher above.
    flags.DEFINE_boolean("child", False, "Train one run (--setting, --actors with one actor, --seed) and write "
                         "--scores_out.")
    flags.DEFINE_string("setting", "default", "--child: the run's setting.")
    flags.DEFINE_integer("seed", 0, "--child: the run's seed.", lower_bound=0)
    flags.DEFINE_string("scores_out", None, "--child: output JSON (its evaluations and settings).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    require_choices("actors", FLAGS.actors, ACTOR_KINDS)
    if FLAGS.child:
        require_choices("setting", [FLAGS.setting], tuple(SETTINGS))
        if len(FLAGS.actors) != 1 or FLAGS.scores_out is None:
            raise app.UsageError("--child trains one run: one actor in --actors, and --scores_out")
        budget = budgets([FLAGS.setting], FLAGS.budget_s)[FLAGS.setting]
        write_json_atomic(FLAGS.scores_out, train_to_level(FLAGS.preset, FLAGS.setting, FLAGS.actors[0], FLAGS.seed,
                                                           FLAGS.level, budget, FLAGS.eval_every))
        return
    require_choices("settings", FLAGS.settings, tuple(SETTINGS))
    budget = budgets(FLAGS.settings, FLAGS.budget_s)
    work = Path(FLAGS.work).absolute()
    (work / "runs").mkdir(parents=True, exist_ok=True)
    levels = study_levels(FLAGS.level)
    runs = []
    for seed in range(FLAGS.seeds):
        for setting in FLAGS.settings:
            for actor in FLAGS.actors:
                run = launch_run(setting, actor, seed, budget[setting], work)
                runs.append({"setting": setting, "actor": actor,
                             **run_summary(run, run["launcher_unix_time"], levels)})
    summary = summarize(runs, levels)
    out = Path(FLAGS.out or f"benchmarks/results/time_to_target_{FLAGS.preset}_{jax.default_backend()}.json")
    table = markdown_table(summary, levels)
    draw_figure(summary, FLAGS.level, out.with_suffix(".png"))
    write_json_atomic(out, {"preset": FLAGS.preset, "level": FLAGS.level, "levels": levels, "budget_s": budget,
                            "eval_every": FLAGS.eval_every, "seeds": FLAGS.seeds,
                            "settings": {s: {"train_config": SETTINGS[s][0], "hyperparams": SETTINGS[s][1]}
                                         for s in FLAGS.settings},
                            "summary": summary, "device": device_info(),
                            "protocol": "one process per run, launched one after another seed by seed, nothing else "
                                        "running; cold start (no persistent cache) in every run"})
    write_text_atomic(out.with_suffix(".md"), table)
    print(table + f"wrote {out}", flush=True)


if __name__ == "__main__":
    define_flags()
    run_cli(main)
