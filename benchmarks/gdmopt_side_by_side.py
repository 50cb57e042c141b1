r"""Time to quality against GDMOPT (HongyangDu/GDMOPT) on its own power-allocation task, on the same machine.

    python -m benchmarks.gdmopt_side_by_side --gdmopt_repo PATH [--seeds 3] [--gdmopt_budget_s 600]
        [--variants mlp,diffusion,mlp_gdmopt,diffusion_gdmopt] [--our_budget_s 120] [--work /tmp/gdmopt_bench]

PATH is a clone (or a bare mirror) of GDMOPT holding commit 0b76321. The script
1. extracts GDMOPT's code at that commit (`git archive` of main.py, env/, policy/, diffusion/: its log/ holds objects a
   fetched mirror may lack), applies benchmarks/gdmopt/main.patch (CPU when no CUDA, `--bc-coef` parsed as a boolean,
   `--seed` honoured, and held-out scoring at points of training time with a training-time budget; nothing of the
   method changes) and builds its virtual environment from benchmarks/gdmopt/requirements.txt (once; a stamp file
   records what it was built from);
2. writes the shared held-out draws: the 1000 channel draws our quick preset evaluates on (eval_seed 1234), with
   their water-filling optimum C_WF and reference levels (`heldout.npz`);
3. alternates, seed after seed, with nothing else on the machine: GDMOPT's trainer as shipped (its defaults: one
   environment step and one update of batch 512 per epoch; progress printing off) for `--gdmopt_budget_s` seconds of
   training, then each of our variants (benchmarks/gdmopt_ours.py) for `--our_budget_s`. Both are scored on the
   same draws by the mean held-out reward C - C_WF (GDMOPT's reward: 0 is optimal): GDMOPT's actor by one seeded
   sample of its sampler without its exploration noise, ours in its configured evaluation mode. GDMOPT's scoring
   time is kept out of its clock; ours runs inside the timed chunks and counts against us;
4. reports GDMOPT's level at the end of its budget (mean over seeds), each variant's wall time from launch (imports
   and compiling included) and training time to that level, the final levels, and the per-epoch rates; writes
   benchmarks/results/gdmopt_side_by_side_<platform>.json and its figure (held-out reward against wall time).

`--epoch_probe` also times the like-for-like epoch: GDMOPT at batch 256 for `--probe_budget_s` and our probe case
(benchmarks.epoch_time --sections probe) in the same run. Runs already written under --work are kept (resume);
`--fresh` starts over.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from benchmarks.gdmopt_ours import VARIANTS
from benchmarks.processes import interval, plus_minus, run_logged
from d2rl_jax.run.grids import preset_config
from d2rl_jax.run.io import atomic_path, write_json_atomic, write_text_atomic
from d2rl_jax.run.timing import device_info
from d2rl_jax.training.evaluation import held_out_batch
from experiments.common import require_choices, run_cli
from experiments.plots import save_figure_atomic

GDMOPT_COMMIT = "0b76321"
GDMOPT_PATHS = ("main.py", "__init__.py", "env", "policy", "diffusion")
HERE = Path(__file__).resolve().parent
PATCH = HERE / "gdmopt" / "main.patch"
REQUIREMENTS = HERE / "gdmopt" / "requirements.txt"

FLAGS = flags.FLAGS


def _digest(*parts: bytes) -> str:
    return hashlib.sha256(b"\0".join(parts)).hexdigest()[:16]


def build_gdmopt(repo: Path, work: Path) -> tuple[Path, Path]:
    """GDMOPT's patched source and its venv's python under `work`, built unless the stamp says they are current."""
    src, venv = work / "gdmopt_src", work / "gdmopt_venv"
    stamp = work / "gdmopt_build.stamp"
    want = _digest(GDMOPT_COMMIT.encode(), PATCH.read_bytes(), REQUIREMENTS.read_bytes(), FLAGS.python.encode())
    python = venv / "bin" / "python"
    if stamp.exists() and stamp.read_text().strip() == want and python.exists():
        return src, python
    subprocess.run(["rm", "-rf", str(src)], check=True)
    src.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(repo), "archive", GDMOPT_COMMIT, "--", *GDMOPT_PATHS],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    subprocess.run(["patch", "-p1", "-d", str(src), "-i", str(PATCH)], check=True, stdout=subprocess.DEVNULL)
    if not python.exists():
        subprocess.run([FLAGS.python, "-m", "venv", str(venv)], check=True)
    extra = ["--extra-index-url", FLAGS.pip_extra_index] if FLAGS.pip_extra_index else []
    run_logged([str(python), "-m", "pip", "install", "-q", "-r", str(REQUIREMENTS), *extra], work / "pip.log")
    stamp.write_text(want + "\n")
    return src, python


def write_heldout(path: Path) -> dict[str, float]:
    """The quick preset's held-out draws on gdmopt_power, their C_WF and reference levels (npz); the levels' means."""
    cfg, _ = preset_config("quick", env="gdmopt_power")
    batch = held_out_batch(cfg)
    c_wf = np.asarray(batch.optimum, np.float64)
    rewards = {name: float(np.mean(np.asarray(level, np.float64) - c_wf))
               for name, level in zip(batch.level_names, batch.levels, strict=True)}
    with atomic_path(path) as tmp:
        np.savez(tmp, gains=np.asarray(batch.obs, np.float32), c_wf=c_wf.astype(np.float32))
    return {"eval_seed": cfg.eval_seed, "draws": int(cfg.eval_states), "mean_c_wf": float(c_wf.mean()),
            "reference_rewards": rewards}


def check_scorer(scores: dict, references: dict[str, float]) -> None:
    """GDMOPT's scorer (in the patch) and our environment must score an allocation alike: the uniform one."""
    theirs, ours = scores["uniform_allocation_reward"], references["uniform allocation"]
    if not abs(theirs - ours) <= 1e-4 * max(1.0, abs(ours)):
        raise RuntimeError(f"GDMOPT's held-out scorer gives the uniform allocation {theirs:.6f}, our environment "
                           f"{ours:.6f}: the two sides would not be scored alike")


def scored_curve(points: list[dict], launch: float) -> dict:
    """A run's scored points as curves, with wall time from `launch` (GDMOPT's scoring seconds taken out; ours
    record none: their scoring runs inside the timed chunks)."""
    return {"train_s": [p["train_s"] for p in points],
            "wall_s": [p["unix_time"] - launch - p.get("scoring_s_before", 0.0) for p in points],
            "epoch": [p["epoch"] for p in points], "reward": [p["reward"] for p in points],
            "ratio": [p["ratio"] for p in points]}


def first_time_reaching(curve: dict, level: float, clock: str = "wall_s") -> float | None:
    """The first scored time at which the held-out reward is >= level (None: never)."""
    for t, reward in zip(curve[clock], curve["reward"], strict=True):
        if reward >= level:
            return float(t)
    return None


def summarize(gdmopt: list[dict], ours: dict[str, list[dict]]) -> dict:
    """GDMOPT's final level L (mean over its seeds); per variant, the time to L per seed, the final level and rate."""
    finals = [c["reward"][-1] for c in gdmopt]
    level = float(np.mean(finals))
    gdmopt_wall = [c["wall_s"][-1] for c in gdmopt]
    out = {"gdmopt": {"final_reward": interval(finals), "final_wall_s": interval(gdmopt_wall),
                      "final_train_s": interval([c["train_s"][-1] for c in gdmopt]),
                      "epochs": interval([c["epoch"][-1] for c in gdmopt]),
                      "seconds_per_epoch": interval([c["train_s"][-1] / c["epoch"][-1] for c in gdmopt]),
                      "wall_s_to_level": [first_time_reaching(c, level) for c in gdmopt]},
           "level": level, "variants": {}}
    for name, curves in ours.items():
        wall = [first_time_reaching(c, level) for c in curves]
        train = [first_time_reaching(c, level, "train_s") for c in curves]
        reached = [w for w in wall if w is not None]
        entry = {"wall_s_to_level": wall, "train_s_to_level": train, "reached": f"{len(reached)}/{len(curves)}",
                 "final_reward": interval([c["reward"][-1] for c in curves]),
                 "final_ratio": interval([c["ratio"][-1] for c in curves]),
                 "seconds_per_epoch": interval([c["train_s"][-1] / c["epoch"][-1] for c in curves])}
        if len(reached) == len(curves):
            entry["wall_s_to_level_interval"] = interval(reached)
            entry["train_s_to_level_interval"] = interval(train)
            # GDMOPT's wall time to the end of its budget, over ours to its level: the headline "x sooner"
            entry["times_sooner_than_gdmopt_budget"] = float(np.mean(gdmopt_wall) / np.mean(reached))
        out["variants"][name] = entry
    return out


def markdown_table(summary: dict, probe: dict | None) -> str:
    """The results as the table benchmarks/README.md shows (mean ± 95% t-interval over seeds)."""
    g, level = summary["gdmopt"], summary["level"]
    rows = ["| side | ms/epoch | held-out reward at the end | wall s to GDMOPT's level | training s to it | × sooner |",
            "|---|---|---|---|---|---|",
            f"| GDMOPT as shipped ({g['final_train_s']['mean']:.0f} s of training, {g['epochs']['mean']:.0f} epochs) "
            f"| {1e3 * g['seconds_per_epoch']['mean']:.1f} | {plus_minus(g['final_reward'])} (its level L) "
            f"| {plus_minus(g['final_wall_s'], 0)} (its end) | – | 1 |"]
    for name, v in summary["variants"].items():
        wall, train = v.get("wall_s_to_level_interval"), v.get("train_s_to_level_interval")
        reached = (f"{plus_minus(wall, 1)} | {plus_minus(train, 1)} | {v['times_sooner_than_gdmopt_budget']:.0f}"
                   if wall else f"reached by {v['reached']} | – | –")
        rows.append(f"| ours: {name} | {1e3 * v['seconds_per_epoch']['mean']:.1f} | {plus_minus(v['final_reward'])} "
                    f"| {reached} |")
    text = f"GDMOPT's level L = {level:.3f} (mean held-out reward at the end of its budget)\n\n" + "\n".join(rows)
    if probe:
        ours = ", ".join(f"{k} {r:.1f}" for k, r in probe["ours"].items())
        text += (f"\n\nLike-for-like epoch (batch 256): GDMOPT {probe['gdmopt_batch256_epochs_per_s']:.1f} epochs/s, "
                 f"ours (probe) {ours} epochs/s; diffusion ×{probe['ratio_diffusion']:.2f}")
    return text + "\n"


def draw_figure(gdmopt: list[dict], ours: dict[str, list[dict]], summary: dict, references: dict, path: Path) -> None:
    import matplotlib.pyplot as plt  # the Agg backend: experiments.plots set it

    fig, ax = plt.subplots(figsize=(8, 5))
    colors = {"GDMOPT": "black", "mlp": "tab:blue", "diffusion": "tab:red", "mlp_gdmopt": "tab:cyan",
              "diffusion_gdmopt": "tab:orange"}
    for name, curves in [("GDMOPT", gdmopt), *ours.items()]:
        for i, c in enumerate(curves):
            ax.plot(np.maximum(c["wall_s"], 1e-1), c["reward"], color=colors.get(name, "gray"), lw=1, alpha=0.8,
                    label=(name if name == "GDMOPT" else f"ours: {name}") if i == 0 else None)
    at_left = ax.get_yaxis_transform()  # x in axes fraction, y in data
    for name, reward in references.items():
        if reward > -0.6:
            ax.axhline(reward, color="gray", ls=":", lw=1)
            ax.text(0.01, reward, name, transform=at_left, fontsize=8, va="bottom", color="gray")
    ax.axhline(summary["level"], color="black", ls="--", lw=1)
    ax.text(0.01, summary["level"], "GDMOPT at the end of its budget (mean over seeds)", transform=at_left, fontsize=8,
            va="bottom")
    ax.set_xscale("log")
    ax.set_ylim(-0.6, 0.02)
    ax.set_xlabel("wall time from launch (s, log)")
    ax.set_ylabel("held-out reward C - C_WF (1000 draws)")
    ax.set_title("GDMOPT's power allocation: held-out reward against wall time, same CPU")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 0.1))
    save_figure_atomic(fig, path)


def run_gdmopt(src: Path, python: Path, work: Path, seed: int, heldout: Path, budget_s: float, every_s: float,
               name: str, batch: int | None = None) -> dict:
    out = work / "runs" / f"{name}_seed{seed}.json"
    if out.exists():
        return json.loads(out.read_text())
    scores = work / "runs" / f"{name}_seed{seed}.scores.json"
    cmd = [str(python), "main.py", "--device", "cpu", "--seed", str(seed), "--bc-coef", "false", "--quiet",
           "--heldout", str(heldout), "--score-every-s", str(every_s), "--budget-s", str(budget_s),
           "--scores-out", str(scores), "--logdir", str(work / "gdmopt_log" / f"{name}_seed{seed}")]
    if batch is not None:
        cmd += ["--batch-size", str(batch)]
    print(f"GDMOPT ({name}) seed {seed}: {budget_s:.0f} s of training", flush=True)
    launch = run_logged(cmd, work / "logs" / f"{name}_seed{seed}.log", cwd=src)
    result = {"launch_unix_time": launch, **json.loads(scores.read_text())}
    write_json_atomic(out, result)
    return result


def run_ours(variant: str, seed: int, heldout: Path, budget_s: float, work: Path) -> dict:
    out = work / "runs" / f"ours_{variant}_seed{seed}.json"
    if out.exists():
        return json.loads(out.read_text())
    print(f"ours ({variant}) seed {seed}: {budget_s:.0f} s of training", flush=True)
    tmp = out.with_suffix(".part.json")
    launch = run_logged([sys.executable, "-m", "benchmarks.gdmopt_ours", "--variant", variant, "--seed", str(seed),
                         "--budget_s", str(budget_s), "--heldout", str(heldout), "--scores_out", str(tmp)],
                        work / "logs" / f"ours_{variant}_seed{seed}.log")
    result = {**json.loads(tmp.read_text()), "launcher_unix_time": launch}
    write_json_atomic(out, result)
    tmp.unlink()
    return result


def epoch_probe(src: Path, python: Path, work: Path, heldout: Path) -> dict:
    """GDMOPT's epochs/s at batch 256 and our probe case's (benchmarks.epoch_time), one after the other."""
    scores = run_gdmopt(src, python, work, 0, heldout, FLAGS.probe_budget_s, FLAGS.probe_budget_s, "gdmopt_b256",
                        batch=256)
    last = scores["points"][-1]
    probe_out = work / "runs" / "ours_probe.json"
    if not probe_out.exists():
        run_logged([sys.executable, "-m", "benchmarks.epoch_time", "--sections", "probe", "--actors", "mlp,diffusion",
                    "--out", str(probe_out)], work / "logs" / "ours_probe.log")
    ours = json.loads(probe_out.read_text())["probe"]
    gdmopt_rate = last["epoch"] / last["train_s"]
    return {"gdmopt_batch256_epochs_per_s": gdmopt_rate,
            "ours": {p["actor"]: p["epochs_per_s"] for p in ours},
            "ratio_diffusion": next(p["epochs_per_s"] for p in ours if p["actor"] == "diffusion") / gdmopt_rate,
            "note": "GDMOPT: one environment step, one update of batch 256 and its one-episode test per epoch, "
                    "scored twice (start, end); ours: benchmarks.epoch_time's probe (state 11, action 10, batch 256, "
                    "P = 6, 16 environments per epoch)"}


def define_flags() -> None:
    """The program's flags: defined when it runs, so that its functions import into tests and other programs."""
    flags.DEFINE_string("gdmopt_repo", None, "A clone or bare mirror of HongyangDu/GDMOPT holding commit 0b76321.")
    flags.DEFINE_string("work", "/tmp/gdmopt_bench", "Working directory: GDMOPT's code and venv, the runs' files.")
    flags.DEFINE_string("python", "python3.11", "The interpreter GDMOPT's virtual environment is built with.")
    flags.DEFINE_string("pip_extra_index", None, "An extra package index for GDMOPT's venv (e.g. pytorch's CPU "
                        "wheels).")
    flags.DEFINE_integer("seeds", 3, "Seeds per side (0..n-1).", lower_bound=1)
    flags.DEFINE_float("gdmopt_budget_s", 600.0, "GDMOPT's training seconds per seed.", lower_bound=1.0)
    flags.DEFINE_float("gdmopt_score_every_s", 15.0, "GDMOPT's held-out scoring period, training seconds.",
                       lower_bound=0.1)
    flags.DEFINE_list("variants", list(VARIANTS), f"Our variants, from {VARIANTS} (benchmarks/gdmopt_ours.py).")
    flags.DEFINE_float("our_budget_s", 120.0, "Training seconds per run of each of our variants.", lower_bound=1.0)
    flags.DEFINE_boolean("epoch_probe", True, "Also time the like-for-like epoch (GDMOPT at batch 256, our probe).")
    flags.DEFINE_float("probe_budget_s", 60.0, "GDMOPT's training seconds in the epoch probe.", lower_bound=1.0)
    flags.DEFINE_boolean("fresh", False, "Delete the runs under --work first (the built venv is kept).")
    flags.DEFINE_string("out", None, "Output JSON (default benchmarks/results/gdmopt_side_by_side_<platform>.json).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    if FLAGS.gdmopt_repo is None:
        raise app.UsageError("--gdmopt_repo is required: a clone or mirror of HongyangDu/GDMOPT holding 0b76321")
    require_choices("variants", FLAGS.variants, VARIANTS)
    work = Path(FLAGS.work).absolute()
    if FLAGS.fresh:
        subprocess.run(["rm", "-rf", str(work / "runs"), str(work / "logs"), str(work / "gdmopt_log")], check=True)
    (work / "runs").mkdir(parents=True, exist_ok=True)
    src, python = build_gdmopt(Path(FLAGS.gdmopt_repo), work)
    heldout = work / "heldout.npz"
    draws = write_heldout(heldout)
    gdmopt_runs, our_runs = [], {v: [] for v in FLAGS.variants}
    for seed in range(FLAGS.seeds):  # alternating: one side's seed, then the other's, on an otherwise idle machine
        g = run_gdmopt(src, python, work, seed, heldout, FLAGS.gdmopt_budget_s, FLAGS.gdmopt_score_every_s, "gdmopt")
        check_scorer(g, draws["reference_rewards"])
        gdmopt_runs.append(scored_curve(g["points"], g["launch_unix_time"]))
        for variant in FLAGS.variants:
            r = run_ours(variant, seed, heldout, FLAGS.our_budget_s, work)
            our_runs[variant].append(scored_curve(r["points"], r["launcher_unix_time"]))
    summary = summarize(gdmopt_runs, our_runs)
    probe = epoch_probe(src, python, work, heldout) if FLAGS.epoch_probe else None
    platform = jax.default_backend()
    out = Path(FLAGS.out or f"benchmarks/results/gdmopt_side_by_side_{platform}.json")
    draw_figure(gdmopt_runs, our_runs, summary, draws["reference_rewards"], out.with_suffix(".png"))
    write_json_atomic(out, {
        "gdmopt_commit": GDMOPT_COMMIT, "heldout": draws, "seeds": FLAGS.seeds,
        "gdmopt_budget_s": FLAGS.gdmopt_budget_s, "our_budget_s": FLAGS.our_budget_s, "summary": summary,
        "epoch_probe": probe, "curves": {"gdmopt": gdmopt_runs, **our_runs}, "device": device_info(),
        "protocol": "alternating per seed: GDMOPT, then each of our variants; nothing else running; GDMOPT's "
                    "scoring kept out of its clock, ours inside its timed chunks"})
    table = markdown_table(summary, probe)
    write_text_atomic(out.with_suffix(".md"), table)
    print(table)
    print(f"wrote {out}, {out.with_suffix('.md')} and {out.with_suffix('.png')}", flush=True)


if __name__ == "__main__":
    define_flags()
    run_cli(main)
