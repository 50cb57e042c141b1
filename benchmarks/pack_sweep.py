r"""Pack a finished (or partly finished) sweep into one .tar.gz small enough to bring back from an accelerator.

    python -m benchmarks.pack_sweep --sweep DIR --out FILE.tar.gz [--epoch_metrics sum_rate,reward,...]

Keeps plan.json, summary.csv, timing.json, every chunk's rows (chunk_*.json) and its metrics (chunk_*.npz) with
the evaluation arrays and only the named per-epoch series (the rest, e.g. per-layer gradients, dominate the
size): `experiments.figures` and `experiments.learning_report` read the unpacked directory as they read the sweep.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from absl import app, flags

from d2rl_jax.run.io import atomic_path
from experiments.common import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_string("sweep", None, "The sweep's output directory.")
flags.DEFINE_string("out", None, "The .tar.gz to write.")
flags.DEFINE_list("epoch_metrics", ["sum_rate", "real_sum_rate", "reward", "updated", "nonfinite_actions",
                                    "nonfinite_state"],
                  "Per-epoch series to keep.")
flags.mark_flags_as_required(["sweep", "out"])


def _slim(path: Path, keep: set[str]) -> bytes:
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files if not k.startswith("epoch/") or k[len("epoch/"):] in keep}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def pack(sweep: Path, out: Path, keep: set[str]) -> int:
    """Write the archive; returns the number of files in it."""
    count = 0
    with atomic_path(out) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(sweep.rglob("*")):
            parts = path.relative_to(sweep).parts
            if not path.is_file() or any(p.endswith(".ckpt") for p in parts) or path.name.startswith("."):
                continue
            name = str(Path(sweep.name) / path.relative_to(sweep))
            if path.suffix == ".npz":
                data = _slim(path, keep)
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            elif path.suffix in (".json", ".csv"):
                tar.add(path, arcname=name)
            else:
                continue
            count += 1
    return count


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    sweep = Path(FLAGS.sweep)
    if not (sweep / "plan.json").is_file():
        raise app.UsageError(f"--sweep={sweep}: no plan.json there (not a sweep's output directory)")
    count = pack(sweep, Path(FLAGS.out), set(FLAGS.epoch_metrics))
    print(f"packed {count} files of {sweep} into {FLAGS.out} ({Path(FLAGS.out).stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    run_cli(main)
