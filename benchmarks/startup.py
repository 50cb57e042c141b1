r"""Start-up of `make run`: seconds from launch until training starts, with a cold and then a warm cache.

    python -m benchmarks.startup [--repeats 1] [--out benchmarks/results/startup_<backend>.json]

Launches `make run`'s command (experiments.run --preset quick --actor mlp,diffusion --apg_reference mlp
--seeds 2) with a fresh cache directory ($D2RL_CACHE_DIR, d2rl_jax/cache.py), stops it at its first
"training:" line (the first chunk program compiled or loaded), and launches it again on the now warm cache:
the ratio of the two is measured in one run. `--nocompile_cache` launches measure the uncached start too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax
from absl import app, flags

from d2rl_jax.run.io import write_json_atomic
from d2rl_jax.run.timing import device_info
from experiments.common import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 1, "Warm launches to time (the median is reported).", lower_bound=1)
flags.DEFINE_string("out", None, "JSON to write (default benchmarks/results/startup_<backend>.json).")

MAKE_RUN = ("--preset", "quick", "--actor", "mlp,diffusion", "--apg_reference", "mlp", "--seeds", "2")


def seconds_to_training(cache: Path, out: Path, *extra: str) -> float:
    """Launch -> the first "training:" line of experiments.run; the process is stopped there."""
    env = dict(os.environ, D2RL_CACHE_DIR=str(cache))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "experiments.run", *MAKE_RUN, "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "training:" in line:
            elapsed = time.perf_counter() - t0
            proc.kill()
            proc.wait()
            return elapsed
    raise RuntimeError("experiments.run ended before training started:\n" + "".join(lines[-20:]))


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cold = seconds_to_training(root / "cache", root / "cold")
        warm = sorted(seconds_to_training(root / "cache", root / f"warm{i}") for i in range(FLAGS.repeats))
        uncached = seconds_to_training(root / "cache", root / "uncached", "--nocompile_cache")
    median = warm[len(warm) // 2]
    result = {"command": "python -m experiments.run " + " ".join(MAKE_RUN), "cold_cache_s": cold,
              "warm_cache_s": median, "warm_cache_runs_s": warm, "no_cache_s": uncached,
              "cold_over_warm": cold / median, "device": device_info()}
    out = Path(FLAGS.out or f"benchmarks/results/startup_{jax.default_backend()}.json")
    write_json_atomic(out, result)
    print(f"launch -> training starts: cold cache {cold:.1f} s, warm cache {median:.1f} s ({cold / median:.1f}x), "
          f"--nocompile_cache {uncached:.1f} s; wrote {out}")


if __name__ == "__main__":
    run_cli(main)
