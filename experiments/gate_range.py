"""Measure the range of Algorithm 1's gate quantity, to choose the threshold T (DESIGN §7).

    python -m experiments.gate_range --preset quick --epochs 2000 --seeds 2 --out runs/gate_range

Trains with state exploration at M = 0, so chi stays 0 and nothing the agent does feeds back
into the SENPNN (the states do not depend on the actions, DESIGN §2). Both gate quantities are
recorded every epoch: the reconstruction MSE between real states and their Mode II regenerations
(normalized units, the default gate) and the SENPNN's eps-MSE training loss, each smoothed by the
configured EMA. Writes DIR/gate_range.json (levels at fractions of the run, over seeds),
DIR/gate_range.npz (both series, (seeds, epochs)), DIR/gate_range.txt and DIR/gate_range.png.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from absl import app, flags

from d2rl_jax.config import PAPER_GATE_THRESHOLD, TRAIN_PRESETS, ConfigError, HyperParams, train_preset
from d2rl_jax.run.io import write_bytes_atomic, write_json_atomic, write_text_atomic
from d2rl_jax.run.runner import run_training
from d2rl_jax.run.timing import device_info
from experiments.common import run_cli
from experiments.plots import plot_curves

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "quick", list(TRAIN_PRESETS), "Training preset (environment + network sizes).")
flags.DEFINE_integer("epochs", 2000, "Epochs to measure.", lower_bound=1)
flags.DEFINE_integer("chunk", 250, "Epochs per compiled chunk.", lower_bound=1)
flags.DEFINE_integer("seeds", 2, "Seeds (vmapped).", lower_bound=1)
flags.DEFINE_string("out", "runs/gate_range", "Output directory.")

FRACTIONS = (0.05, 0.1, 0.2, 0.5, 1.0)


def _finite_or_none(x) -> float | None:
    return float(x) if np.isfinite(x) else None


def _fmt(x: float | None, width: int) -> str:
    return f"{x:{width}.4f}" if x is not None else f"{'-':>{width}}"


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    try:
        chunk = min(FLAGS.chunk, FLAGS.epochs)
        cfg = train_preset(FLAGS.preset).replace(actor="mlp", state_exploration=True, num_epochs=FLAGS.epochs,
                                                 chunk_epochs=chunk, eval_every=chunk)
    except ConfigError as err:
        raise app.UsageError(str(err)) from None
    out = Path(FLAGS.out)
    seeds = list(range(FLAGS.seeds))
    print(f"gate range: preset={FLAGS.preset} epochs={cfg.num_epochs} seeds={seeds}, M = 0 -> {out}", flush=True)
    result = run_training(cfg, seeds, HyperParams(max_replace_prob=0.0), progress=lambda line: print(line, flush=True))
    m = result.epoch_metrics
    series = {
        "reconstruction": m["gate"],  # the in-loop EMA of the reconstruction MSE
        # the in-loop EMA of the eps-MSE loss; NaN before the SENPNN's first update (warm-up)
        "eps_loss": np.where(m["updated"] > 0, m["senpnn_loss_ema"], np.nan),
    }
    levels = {}
    for name, values in series.items():
        levels[name] = {}
        for f in FRACTIONS:
            epoch = max(int(round(f * cfg.num_epochs)) - 1, 0)
            at = values[:, epoch]  # NaN where the SENPNN has not trained yet (eps_loss, warm-up)
            levels[name][f"{f:.2f}"] = {"epoch": epoch, "mean": _finite_or_none(np.mean(at)),
                                        "max_over_seeds": _finite_or_none(np.max(at))}
        levels[name]["min_over_run"] = _finite_or_none(np.nanmin(values))
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **series)
    write_bytes_atomic(out / "gate_range.npz", buffer.getvalue())  # the per-epoch series the levels are read from
    write_json_atomic(out / "gate_range.json", {
        "preset": FLAGS.preset, "epochs": cfg.num_epochs, "seeds": seeds, "gate_ema_decay": cfg.gate_ema_decay,
        "paper_threshold": PAPER_GATE_THRESHOLD, "levels": levels, "device": device_info(),
        "raw_reconstruction_mse_last_100": float(m["reconstruction_mse"][:, -100:].mean())})
    lines = [f"{'gate':<16}" + "".join(f"{f'{f:.0%} of run':>14}" for f in FRACTIONS) + f"{'min':>10}"]
    for name, lv in levels.items():
        lines.append(f"{name:<16}" + "".join(_fmt(lv[f"{f:.2f}"]["mean"], 14) for f in FRACTIONS)
                     + _fmt(lv["min_over_run"], 10))
    reached = {name: lv["min_over_run"] is not None and lv["min_over_run"] < PAPER_GATE_THRESHOLD
               for name, lv in levels.items()}
    lines.append(f"paper T = {PAPER_GATE_THRESHOLD:g}: reached by reconstruction: {reached['reconstruction']}, "
                 f"by eps_loss: {reached['eps_loss']}  ('-': no value yet at that epoch)")
    write_text_atomic(out / "gate_range.txt", "\n".join(lines) + "\n")
    epochs = np.arange(1, cfg.num_epochs + 1)
    plot_curves({k: (epochs, v) for k, v in series.items()}, "gate quantity (EMA, normalized units)",
                f"{FLAGS.preset}: state-exploration gate at M = 0", out / "gate_range.png")
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    run_cli(main)
