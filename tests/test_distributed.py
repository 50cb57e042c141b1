"""Multi-process sweeps: two local CPU processes (gloo collectives) give the one-process sweep's summary row for
row, and resume together after both are killed mid-sweep (docs/sweeps.md, "Several processes")."""

import csv
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from d2rl_jax.run.grids import make_grid, sweep_config
from d2rl_jax.run.sweep import plan_sweep, run_sweep

# One variant, 4 seeds in chunks of 2 (one run per process each): one program, two sweep chunks.
ARGS = ("--grid", "reward_exp", "--preset", "small", "--actor", "mlp", "--designs", "designed", "--noreferences",
        "--seeds", "4", "--epochs", "40", "--chunk", "10", "--max_chunk", "2")
# Columns that measure wall time or how runs were grouped into programs (2 devices: chunks of 2 runs, sharded).
NOT_COMPARED = {"seconds_per_epoch", "seconds_to_convergence", "seconds_to_50pct", "seconds_to_80pct", "chunk",
                "chunk_runs", "chunk_train_s", "steady_chunk_s_per_epoch", "compile_s"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _start(out, *extra):
    """The same sweep command in two processes, as docs/sweeps.md gives it for one machine."""
    port = _free_port()
    return [subprocess.Popen([sys.executable, "-m", "experiments.sweep", "--distributed", "--coordinator_address",
                              f"localhost:{port}", "--num_processes", "2", "--process_id", str(i), *ARGS,
                              "--out", str(out), *extra, "--distributed_timeout_s", "60"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
            for i in (0, 1)]


def _finish(procs):
    outputs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], "\n\n".join(o[-3000:] for o in outputs)
    return outputs


def _rows(path):
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in NOT_COMPARED} for row in csv.DictReader(f)]


def _assert_same_rows(rows, reference):
    assert len(rows) == len(reference) == 4
    for row, want in zip(rows, reference, strict=True):
        for key, value in row.items():
            try:
                assert float(value) == pytest.approx(float(want[key]), rel=1e-4, abs=1e-6, nan_ok=True), (key, row)
            except ValueError:
                assert value == want[key], (key, row, want)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same sweep in this one process."""
    cfg, hp = sweep_config("small", epochs=40, chunk=10)
    variants = make_grid("reward_exp", hp, actors=["mlp"], designs=["designed"])
    out = tmp_path_factory.mktemp("one_process")
    run_sweep(plan_sweep("reward_exp", variants, cfg, [0, 1, 2, 3]), out, progress=None, checkpoints=False)
    return _rows(out / "summary.csv")


def test_two_processes_killed_mid_sweep_resume_to_the_one_process_summary(reference, tmp_path):
    """Two processes train the first chunk; SIGKILL both once the second chunk holds an orbax checkpoint, start
    both again with --resume: the finished chunk is skipped, the other continues from the multi-process
    checkpoint, and the summary equals the one-process sweep's row for row (both chunks trained sharded)."""
    out = tmp_path / "killed"
    procs = _start(out)
    steps = out / "mlp.designed" / "chunk_001.ckpt"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (steps.is_dir() and any(p.name.isdigit() for p in steps.iterdir())):
        time.sleep(0.01)
    for p in procs:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    assert (out / "mlp.designed" / "chunk_000.json").exists() and not (out / "mlp.designed" / "chunk_001.json").exists()
    outputs = _finish(_start(out, "--resume"))
    assert "finished earlier: skipped" in outputs[0]
    assert "resumed from chunk" in outputs[0] and "resumed from chunk" in outputs[1]
    assert "2 runs sharded over 2 devices" in outputs[0] and "2 runs sharded over 2 devices" in outputs[1]
    _assert_same_rows(_rows(out / "summary.csv"), reference)
    assert not list(out.glob("*/*.ckpt"))
    assert sorted(p.name for p in out.iterdir()) == ["mlp.designed", "plan.json", "summary.csv", "tensorboard",
                                                     "timing.json"]
    assert sorted(p.name for p in (out / "mlp.designed").iterdir()) == [
        "chunk_000.json", "chunk_000.npz", "chunk_001.json", "chunk_001.npz"]


@pytest.mark.parametrize("args, message", [
    (("--distributed", "--num_processes", "2"), "--coordinator_address (or $JAX_COORDINATOR_ADDRESS), --process_id"),
    (("--distributed", "--coordinator_address", "localhost", "--num_processes", "2", "--process_id", "0"),
     "must be host:port"),
    (("--distributed", "--coordinator_address", "localhost:1", "--num_processes", "2", "--process_id", "2"),
     "--process_id=2: must be in 0 .. --num_processes - 1 = 1"),
])
def test_bad_distributed_settings_are_one_line_errors(args, message, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAX_COORDINATOR") and k not in (
        "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")}
    proc = subprocess.run([sys.executable, "-m", "experiments.sweep", *ARGS, "--out", str(tmp_path / "o"), *args],
                          capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_a_peer_that_never_connects_is_an_error_after_the_timeout(tmp_path):
    """Process 1 of 2 alone: it gives up after --distributed_timeout_s with one line, not a hang or a traceback."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "experiments.sweep", *ARGS, "--out", str(tmp_path / "o"),
                           "--distributed", "--coordinator_address", f"localhost:{_free_port()}",
                           "--num_processes", "2", "--process_id", "1", "--distributed_timeout_s", "3"],
                          capture_output=True, text=True,
                          timeout=120)
    lines = [line for line in proc.stderr.strip().splitlines() if "error:" in line]
    assert proc.returncode == 2 and len(lines) == 1 and "could not join the coordinator" in lines[0], proc.stderr
    assert time.monotonic() - start < 60 and not (tmp_path / "o").exists()
