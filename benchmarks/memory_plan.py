r"""The memory planner against XLA on every variant of every grid: planned bytes per run vs measured.

    python -m benchmarks.memory_plan [--preset small] [--out benchmarks/results/memory_plan_small_<backend>.json]

For each distinct static configuration of the grids (`d2rl_jax.run.grids.GRIDS`, their default points): the
analytic estimate (`memory.run_bytes`), the bytes the planner reserves (XLA's peak of the 2-run chunk program
x `MEASURED_MARGIN`) and XLA's peak per run of a 3-run chunk; the planned/measured ratio must lie in [1, 2]
(tests/test_sweep.py checks the estimate's worst variant on every CI run). Exits 1 where one does not.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
from absl import app, flags

from d2rl_jax.run.grids import GRIDS, make_grid, sweep_config
from d2rl_jax.run.io import write_json_atomic
from d2rl_jax.run.memory import MEASURED_MARGIN, measured_run_bytes, run_bytes
from d2rl_jax.run.timing import device_info
from d2rl_jax.training import make_train
from experiments.common import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "small", ["small", "quick", "paper"], "Sweep preset whose shapes are planned.")
flags.DEFINE_string("out", None, "JSON to write (default benchmarks/results/memory_plan_<preset>_<backend>.json).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    base, hp = sweep_config(FLAGS.preset, epochs=4, chunk=2)
    base = base.replace(eval_every=2)  # the chunk's scan length does not change its peak
    rows, seen = [], set()
    for grid in GRIDS:
        for variant in make_grid(grid, hp):
            cfg = variant.config(base)
            key = json.dumps(cfg.to_dict(), sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            fns = make_train(cfg)
            t0 = time.perf_counter()
            planned_peak = measured_run_bytes(fns, 2)
            measured = measured_run_bytes(fns, 3)
            estimate = run_bytes(cfg, fns).estimate
            planned = None if planned_peak is None else int(planned_peak * MEASURED_MARGIN + 0.999)
            row = {"grid": grid, "variant": variant.name, "estimate": estimate, "planned": planned,
                   "xla_per_run_3": measured, "seconds": time.perf_counter() - t0,
                   "planned_over_measured": None if measured is None else planned / measured,
                   "estimate_over_measured": None if measured is None else estimate / measured}
            rows.append(row)
            print(f"{grid:<11}{variant.name:<36}estimate {estimate / 2**20:7.2f} MiB  planned "
                  f"{(planned or 0) / 2**20:7.2f}  XLA {(measured or 0) / 2**20:7.2f}  "
                  f"planned/XLA {row['planned_over_measured'] or float('nan'):5.2f}  "
                  f"estimate/XLA {row['estimate_over_measured'] or float('nan'):5.2f}", flush=True)
    ok = all(r["planned_over_measured"] is not None and 1.0 <= r["planned_over_measured"] <= 2.0 for r in rows)
    out = Path(FLAGS.out or f"benchmarks/results/memory_plan_{FLAGS.preset}_{jax.default_backend()}.json")
    write_json_atomic(out, {"preset": FLAGS.preset, "margin": MEASURED_MARGIN, "device": device_info(),
                            "all_within_1_to_2": ok, "variants": rows})
    print(f"{len(rows)} variants; planned within [1, 2] x XLA's measured peak: {ok}; wrote {out}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    run_cli(main)
