"""What the benchmarks that time runs from their launch share: a run as a process of its own, and a summary over
seeds. A process per run puts imports, held-out references and compiling inside its clock, as a user meets them."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np

from d2rl_jax.run.statistics import mean_and_ci95


def run_logged(cmd: list[str], log: Path, cwd: Path | None = None) -> float:
    """Run `cmd` with its output in `log`; the launch time (unix seconds). Raises with the log's tail on failure."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        launch = time.time()
        rc = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, check=False).returncode
    if rc != 0:
        tail = "".join(log.read_text(errors="replace").splitlines(keepends=True)[-20:])
        raise RuntimeError(f"{' '.join(cmd)} exited with {rc}; the end of {log}:\n{tail}")
    return launch


def interval(values: list[float]) -> dict:
    """Mean and 95% t-interval half-width over seeds (None for the width with one value)."""
    x = np.asarray(values, np.float64)
    mean, ci = mean_and_ci95(x)
    return {"mean": float(mean), "ci95": float(ci) if len(x) > 1 else None, "values": [float(v) for v in x]}


def plus_minus(entry: dict, digits: int = 3) -> str:
    """"mean ± half-width" of an `interval` entry (the mean alone for one value)."""
    width = entry.get("ci95")
    return f"{entry['mean']:.{digits}f}" + (f" ± {width:.{digits}f}" if width is not None else "")
