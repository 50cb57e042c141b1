"""Multi-process sweeps: two local CPU processes (gloo collectives), killed mid-sweep and resumed together, give
the same numbers, bit for bit, as one process driving two devices: a run's numbers are decided by the program each
device runs (its share of the run axis), not by how many processes drive the devices. The diffusion actor is the
sensitive case (docs/design-notes.md, "Faults": other layouts differ by float rounding, which its training
amplifies)."""

import csv
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

# One variant, 4 seeds in chunks of 2 (one run per device each): one program, two sweep chunks.
ARGS = ("--grid", "reward_exp", "--preset", "small", "--actor", "diffusion", "--designs", "designed", "--noreferences",
        "--seeds", "4", "--epochs", "20", "--chunk", "10", "--max_chunk", "2")
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


def _metrics(out):
    """Every array of every chunk's metrics file, by file and key."""
    arrays = {}
    for path in sorted(out.glob("*/chunk_*.npz")):
        with np.load(path) as data:
            arrays.update({f"{path.relative_to(out)}:{k}": data[k] for k in data.files})
    return arrays


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The same sweep in one process driving two (forced) CPU devices."""
    out = tmp_path_factory.mktemp("one_process") / "sweep"
    env = dict(os.environ, XLA_FLAGS=(os.environ.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"))
    proc = subprocess.run([sys.executable, "-m", "experiments.sweep", *ARGS, "--out", str(out)], capture_output=True,
                          text=True, timeout=240, env=env)
    assert proc.returncode == 0 and "2 runs sharded over 2 devices" in proc.stdout, proc.stderr[-3000:]
    return _rows(out / "summary.csv"), _metrics(out)


def test_two_processes_killed_mid_sweep_resume_to_the_one_process_two_device_results(reference, tmp_path, strict_json):
    """Two processes train the first chunk; SIGKILL both once the second chunk holds an orbax checkpoint, start
    both again with --resume: the finished chunk is skipped, the other continues from the multi-process
    checkpoint, and the summary and every metric equal the one-process two-device sweep's bit for bit."""
    out = tmp_path / "killed"
    procs = _start(out)
    steps = out / "diffusion.designed" / "chunk_001.ckpt"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not (steps.is_dir() and any(p.name.isdigit() for p in steps.iterdir())):
        time.sleep(0.01)
    for p in procs:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    variant = out / "diffusion.designed"
    assert (variant / "chunk_000.json").exists() and not (variant / "chunk_001.json").exists()
    outputs = _finish(_start(out, "--resume"))
    assert "finished earlier: skipped" in outputs[0]
    assert "resumed from chunk" in outputs[0] and "resumed from chunk" in outputs[1]
    assert "2 runs sharded over 2 devices" in outputs[0] and "2 runs sharded over 2 devices" in outputs[1]
    rows, metrics = reference
    assert _rows(out / "summary.csv") == rows and len(rows) == 4  # bit for bit: the same text
    got = _metrics(out)
    assert got.keys() == metrics.keys() and all(np.array_equal(got[k], metrics[k], equal_nan=True) for k in got)
    assert not list(out.glob("*/*.ckpt"))
    assert strict_json(out) == 4  # plan, timing and the two chunks' rows
    assert sorted(p.name for p in out.iterdir()) == ["diffusion.designed", "plan.json", "summary.csv", "tensorboard",
                                                     "timing.json"]
    assert sorted(p.name for p in (out / "diffusion.designed").iterdir()) == [
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
