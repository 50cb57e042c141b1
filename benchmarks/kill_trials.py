r"""Kill-at-any-moment trials: a run and a two-process sweep killed with SIGKILL at random moments, resumed, and
compared with an uninterrupted one bit for bit.

    python -m benchmarks.kill_trials [--trials 12] [--seed 0] [--kinds run,sweep2] \
        [--out benchmarks/results/kill_trials_<backend>.json]

Each trial launches the command in a fresh directory, kills its whole process group (SIGKILL: no cleanup runs) in
one of four phases, taken in turn, at a random moment inside it, then launches it again with --resume until it
exits 0 (each resume may itself be killed once more with --kill_resumes). Phases: `compile` (before the first
"training:" line; that launch compiles without the persistent cache), `mid_chunk` (a random moment of a
chunk's training), `checkpoint` (the moment an orbax step directory appears, i.e. while a checkpoint is being
written) and `final` (after the last chunk: the metrics, summaries and figures being written). The final
metrics (every array of every metrics.npz, or chunk_*.npz of a sweep) and the result rows (summary.json /
summary.csv without wall-time fields) must equal those of the uninterrupted command, bit for bit. The trials'
phases, kill times and outcomes go to the JSON; docs/design-notes.md
("Faults") records the last run here.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags

from d2rl_jax.run.io import read_json, write_json_atomic
from d2rl_jax.run.timing import device_info
from experiments.common import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_integer("trials", 12, "Kill trials per kind (the phases are taken in turn).", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the kill moments.")
flags.DEFINE_list("kinds", ["run", "sweep2"], "run: experiments.run in one process; sweep2: experiments.sweep in two "
                  "processes (--distributed on this machine).")
flags.DEFINE_bool("kill_resumes", False, "Also kill the first resume of each trial once, at a random moment.")
flags.DEFINE_string("out", None, "JSON to write (default benchmarks/results/kill_trials_<backend>.json).")

PHASES = ("compile", "mid_chunk", "checkpoint", "final")
# A run: two variants (DDPG and its APG ceiling), two seeds, four chunks: several checkpoints and final writes.
RUN_ARGS = ("experiments.run", "--preset", "small", "--actor", "mlp", "--seeds", "2", "--epochs", "80", "--chunk", "20",
            "--eval_every", "20")
# The two-process sweep of tests/test_distributed.py: 4 seeds in chunks of 2 runs, each sharded over 2 processes.
SWEEP_ARGS = ("experiments.sweep", "--grid", "reward_exp", "--preset", "small", "--actor", "mlp", "--designs",
              "designed", "--noreferences", "--seeds", "4", "--epochs", "40", "--chunk", "10", "--max_chunk", "2")
WALL_TIME_KEYS = {"seconds_per_epoch", "seconds_to_convergence", "seconds_to_50pct", "seconds_to_80pct",
                  "ma_seconds_to_80pct", "chunk_train_s", "steady_chunk_s_per_epoch", "compile_s", "chunk",
                  "chunk_runs", "seconds_per_epoch_all_seeds", "seconds_per_epoch_per_run", "device",
                  "seconds_to_50pct_per_seed", "seconds_to_80pct_per_seed", "ma_seconds_to_80pct_per_seed"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def launch(kind: str, out: Path, *extra: str) -> list[subprocess.Popen]:
    """The command's processes (one, or two for sweep2), each in its own process group, output to a log."""
    if kind == "run":
        commands = [[sys.executable, "-m", *RUN_ARGS, "--out", str(out), *extra]]
    else:
        port = _free_port()
        commands = [[sys.executable, "-m", *SWEEP_ARGS, "--out", str(out), "--distributed", "--coordinator_address",
                     f"localhost:{port}", "--num_processes", "2", "--process_id", str(i), "--distributed_timeout_s",
                     "60", *extra] for i in (0, 1)]
    out.parent.mkdir(parents=True, exist_ok=True)
    logs = [open(out.parent / f"{out.name}.{i}.log", "a") for i in range(len(commands))]  # noqa: SIM115
    return [subprocess.Popen(c, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            for c, log in zip(commands, logs, strict=True)]


def kill(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in procs:
        p.wait()


def wait(procs: list[subprocess.Popen], timeout: float = 600) -> list[int]:
    deadline = time.monotonic() + timeout
    for p in procs:
        p.wait(timeout=max(1.0, deadline - time.monotonic()))
    return [p.returncode for p in procs]


def _log_text(out: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in sorted(out.parent.glob(f"{out.name}.*.log")))


def _orbax_step_in_progress(out: Path) -> bool:
    """An orbax step directory being written (its temporary name) anywhere under `out`."""
    try:
        return any("orbax-checkpoint-tmp" in p.name for p in out.rglob("*") if p.is_dir())
    except FileNotFoundError:  # a directory renamed or deleted while the walk read it
        return False


def _chunks_trained(out: Path) -> int:
    """Progress lines of process 0 so far: one per compiled chunk trained (and checkpointed)."""
    log = out.parent / f"{out.name}.0.log"
    return log.read_text(errors="replace").count(" epochs/s x ") if log.exists() else 0


@dataclasses.dataclass
class Trial:
    kind: str
    phase: str
    killed_at_s: float  # seconds after launch
    hit: str  # what the kill actually interrupted (the phase's condition observed at the kill)
    resumes: int
    identical: bool
    differences: list[str]


def kill_in_phase(kind: str, out: Path, phase: str, rng: np.random.Generator, profile: dict) -> tuple[float, str]:
    """Launch, kill in `phase` at a random moment, return (seconds after launch, what was interrupted). The launch
    killed while compiling compiles without the cache (warm from the reference, it would load the programs in a
    moment), as the reference's first launch did."""
    procs = launch(kind, out, *(("--nocompile_cache",) if phase == "compile" else ()))
    t0 = time.monotonic()

    def dead() -> bool:
        return any(p.poll() is not None for p in procs)

    if phase == "compile":
        time.sleep(rng.uniform(0.2, 0.95) * profile["ready_s"])
        hit = "compile" if "training:" not in _log_text(out) else "after compile"
    elif phase == "mid_chunk":
        while "training:" not in _log_text(out) and not dead():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, profile["chunk_s"]))
        hit = f"chunk {_chunks_trained(out) + 1} training"
    elif phase == "checkpoint":
        skip = int(rng.integers(0, profile["checkpoints"]))  # which checkpoint write to interrupt
        seen, was = 0, False
        while not dead():
            now = _orbax_step_in_progress(out)
            if now and not was:
                seen += 1
                if seen > skip:
                    break
            was = now
            time.sleep(0.002)
        hit = "checkpoint write" if _orbax_step_in_progress(out) else "checkpoint just committed"
    else:  # final: the last progress line printed, the results being written
        last = profile["chunks"]
        while _chunks_trained(out) < last and not dead():
            time.sleep(0.01)
        time.sleep(rng.uniform(0.0, profile["final_s"]))
        hit = "final writes" if not dead() else "after exit"
    killed_at = time.monotonic() - t0
    kill(procs)
    return killed_at, hit


def resume_to_end(kind: str, out: Path, rng: np.random.Generator, kill_first: bool, profile: dict) -> int:
    resumes = 0
    while True:
        resumes += 1
        procs = launch(kind, out, "--resume")
        if kill_first and resumes == 1:
            time.sleep(rng.uniform(0.1, 1.0) * profile["total_s"])
            if all(p.poll() is None for p in procs):
                kill(procs)
                continue
        codes = wait(procs)
        if codes == [0] * len(procs):
            return resumes
        if resumes >= 3:
            raise RuntimeError(f"{kind} in {out} did not finish after {resumes} resumes (exit {codes}):\n"
                               + _log_text(out)[-3000:])


def results(kind: str, out: Path) -> dict[str, object]:
    """Every metric array and result field that does not measure wall time, by a name that says where it is."""
    found: dict[str, object] = {}
    for path in sorted(out.rglob("*.npz")):
        if any(part in ("tensorboard", "checkpoints") or part.endswith(".ckpt") for part in path.parts):
            continue
        with np.load(path) as data:
            for key in data.files:
                found[f"{path.relative_to(out)}:{key}"] = data[key]
    if kind == "run":
        summary = read_json(out / "summary.json")["variants"]
        for variant, fields in summary.items():
            for key, value in fields.items():
                if key not in WALL_TIME_KEYS:
                    found[f"summary.json:{variant}.{key}"] = value
    else:
        with open(out / "summary.csv", newline="") as f:
            for i, row in enumerate(csv.DictReader(f)):
                for key, value in row.items():
                    if key not in WALL_TIME_KEYS:
                        found[f"summary.csv:{i}.{key}"] = value
    return found


def differences(got: dict[str, object], want: dict[str, object]) -> list[str]:
    diff = [f"{k}: missing" for k in want if k not in got] + [f"{k}: extra" for k in got if k not in want]
    for key in want.keys() & got.keys():
        a, b = got[key], want[key]
        same = np.array_equal(a, b, equal_nan=True) if isinstance(a, np.ndarray) else (a == b or a != a and b != b)
        if not same:
            diff.append(f"{key}: differs")
    return sorted(diff)


def profile_of(kind: str, out: Path) -> tuple[dict, dict[str, object]]:
    """The uninterrupted command: its results and the moments of its phases (for the kill times)."""
    t0 = time.monotonic()
    procs = launch(kind, out)
    ready = None
    while any(p.poll() is None for p in procs):
        if ready is None and "training:" in _log_text(out):
            ready = time.monotonic() - t0
        time.sleep(0.01)
    total = time.monotonic() - t0
    if [p.returncode for p in procs] != [0] * len(procs):
        raise RuntimeError(f"the uninterrupted {kind} failed:\n" + _log_text(out)[-3000:])
    chunks = _chunks_trained(out)  # each chunk trained is checkpointed once
    ready = ready or 0.5 * total
    profile = {"ready_s": ready, "total_s": total, "chunks": chunks, "checkpoints": max(1, chunks),
               "chunk_s": max(0.05, (total - ready) / max(chunks, 1)), "final_s": 1.0}
    return profile, results(kind, out)


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    bad = [k for k in FLAGS.kinds if k not in ("run", "sweep2")]
    if bad:
        raise app.UsageError(f"--kinds={','.join(FLAGS.kinds)}: each must be run or sweep2")
    rng = np.random.default_rng(FLAGS.seed)
    trials: list[Trial] = []
    profiles = {}
    with tempfile.TemporaryDirectory(prefix="kill_trials_") as tmp:
        for kind in FLAGS.kinds:
            profile, want = profile_of(kind, Path(tmp) / f"{kind}_reference" / "out")
            profiles[kind] = profile
            print(f"[{kind}] uninterrupted: {profile['total_s']:.1f} s, training from {profile['ready_s']:.1f} s, "
                  f"{profile['chunks']} chunk lines", flush=True)
            for i in range(FLAGS.trials):
                phase = PHASES[i % len(PHASES)]
                out = Path(tmp) / f"{kind}_{i}" / "out"
                killed_at, hit = kill_in_phase(kind, out, phase, rng, profile)
                resumes = resume_to_end(kind, out, rng, FLAGS.kill_resumes, profile)
                diff = differences(results(kind, out), want)
                trials.append(Trial(kind, phase, killed_at, hit, resumes, not diff, diff[:5]))
                print(f"[{kind} {i + 1}/{FLAGS.trials}] killed at {killed_at:5.1f} s ({phase}: {hit}); resumed "
                      f"{resumes}x; {'identical' if not diff else 'DIFFERENT: ' + '; '.join(diff[:3])}", flush=True)
    identical = sum(t.identical for t in trials)
    print(f"{identical} of {len(trials)} trials end bit-identical to the uninterrupted command", flush=True)
    out = FLAGS.out or f"benchmarks/results/kill_trials_{jax.default_backend()}.json"
    write_json_atomic(out, {"benchmark": "kill_trials", "device": device_info(), "seed": FLAGS.seed,
                            "kill_resumes": FLAGS.kill_resumes, "run_command": " ".join(RUN_ARGS),
                            "sweep2_command": " ".join(SWEEP_ARGS) + " (2 processes, --distributed)",
                            "profiles": profiles, "trials": [dataclasses.asdict(t) for t in trials],
                            "identical": identical, "total": len(trials)})
    print(f"wrote {out}")
    if identical < len(trials):
        sys.exit(1)


if __name__ == "__main__":
    run_cli(main)
