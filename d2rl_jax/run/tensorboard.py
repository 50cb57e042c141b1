"""TensorBoard event files of every run: `tensorboard --logdir runs/` shows them.

    log = TensorBoardLog(out / "tensorboard" / variant, ["seed_0", "seed_1"])
    run_training(..., on_chunk=log.write_chunk)     # from the host after each compiled chunk, never in the scan
    log.close()

One event file (directory) per run, written through tensorboardX's `FileWriter`. Tags: `train/<name>` for every
per-epoch scalar of the loop (sum rate, reward, losses, chi, gradient sums, ...) at its epoch (1-based: the
epochs completed), `eval/<name>` for every held-out evaluation (C, C/C*, C/R', critic alignment and error) at
its epoch, and `time/seconds_per_epoch` (the compiled chunk's wall time per epoch, all runs of the program
together) at each chunk's last epoch. `read_scalars` reads a run's events back.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np


class TensorBoardLog:
    """Event writers for `run_names` (runs of the leading axis, in order) under `directory`; runs beyond the
    names (a sweep's padding) are not logged."""

    def __init__(self, directory: str | Path, run_names: list[str]):
        from tensorboardX import FileWriter  # here: only the runs that log pay its import
        from tensorboardX.proto.summary_pb2 import Summary

        self._summary = Summary
        self.writers = [FileWriter(str(Path(directory) / name), flush_secs=30) for name in run_names]

    def _write(self, writer, step: int, values: dict[str, float]) -> None:
        entries = [self._summary.Value(tag=tag, simple_value=v) for tag, v in values.items()]
        writer.add_summary(self._summary(value=entries), int(step))

    def write_chunk(self, epoch_metrics: dict[str, np.ndarray], eval_metrics: dict[str, np.ndarray],
                    chunk_seconds: float) -> None:
        """One compiled chunk's metrics (each with the run axis first) and its wall time."""
        scalars = {k: v for k, v in epoch_metrics.items() if v.ndim == 2}  # (runs, epochs): per-layer arrays skipped
        chunk_epochs = next(iter(epoch_metrics.values())).shape[1]
        for run, writer in enumerate(self.writers):
            last = int(eval_metrics["eval_epoch"][run, -1])  # the epochs completed (retrained runs start mid-way)
            for i, epoch in enumerate(range(last - chunk_epochs + 1, last + 1)):
                self._write(writer, epoch, {f"train/{k}": float(v[run, i]) for k, v in scalars.items()})
            for j, epoch in enumerate(eval_metrics["eval_epoch"][run]):
                self._write(writer, int(epoch), {f"eval/{k.removeprefix('eval_')}": float(v[run, j])
                                                 for k, v in eval_metrics.items() if k != "eval_epoch"})
            self._write(writer, last, {"time/seconds_per_epoch": chunk_seconds / chunk_epochs})
            writer.flush()

    def close(self) -> None:
        for writer in self.writers:
            writer.close()


def read_scalars(directory: str | Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} of every event file in `directory` (one run), in file and write order. Reads
    the TFRecord framing (length, its CRC, the serialized Event, its CRC) with tensorboardX's protobuf classes."""
    from tensorboardX.proto.event_pb2 import Event

    out: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(Path(directory).glob("events.out.tfevents.*")):
        data = path.read_bytes()
        offset = 0
        while offset + 12 <= len(data):
            (length,) = struct.unpack("<Q", data[offset:offset + 8])
            event = Event.FromString(data[offset + 12:offset + 12 + length])
            offset += 12 + length + 4
            for value in event.summary.value:
                out.setdefault(value.tag, []).append((int(event.step), float(value.simple_value)))
    return out
