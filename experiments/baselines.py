"""Reference sum rates on a batch of states: random actions, heuristic, optimizer C*, bound R'.

    python -m experiments.baselines --preset quick [--num_states 256] [--seed 0] [--out DIR]

Prints a table and writes DIR/baselines.json (atomically). This is what `make run` runs
until the trainer lands.
"""

from __future__ import annotations

import time

import jax
from absl import app, flags

from d2rl_jax.config import ENV_PRESETS, env_preset
from d2rl_jax.env import FullDuplexEnv, random_action_rates, sample_states
from d2rl_jax.env.full_duplex import references
from d2rl_jax.run.io import write_json_atomic
from d2rl_jax.run.timing import device_info
from experiments.common import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "quick", list(ENV_PRESETS), "Environment preset.")
flags.DEFINE_integer("num_states", 256, "Number of uniform user drops to evaluate.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "PRNG seed of the drops, random actions and optimizer restarts.")
flags.DEFINE_integer("optimizer_restarts", 8, "Random restarts of the optimizer baseline.", lower_bound=1)
flags.DEFINE_integer("optimizer_steps", 300, "Gradient steps per optimizer restart.", lower_bound=1)
flags.DEFINE_string("out", None, "Output directory (default runs/baselines_<preset>).")


def main(argv: list[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    cfg = env_preset(FLAGS.preset)
    env = FullDuplexEnv(cfg)
    params = env.default_params
    key_drop, key_random, key_opt = jax.random.split(jax.random.key(FLAGS.seed), 3)
    out = FLAGS.out or f"runs/baselines_{FLAGS.preset}"
    print(f"preset={FLAGS.preset}: K={cfg.num_dl_users} DL, L={cfg.num_ul_users} UL, "
          f"{cfg.num_tx_antennas}x{cfg.num_rx_antennas} antennas, receiver={cfg.receiver}; "
          f"{FLAGS.num_states} states on {jax.devices()[0].device_kind}")

    _, channels = jax.jit(sample_states, static_argnums=(0, 3))(env, params, key_drop, FLAGS.num_states)
    policies = {
        "random actions": lambda: random_action_rates(env, channels, params, key_random),
        "heuristic (MRT + MMSE)": lambda: references.heuristic_rates(channels, params),
        "optimizer C*": lambda: references.optimizer_rates(
            channels, params, key_opt, num_restarts=FLAGS.optimizer_restarts, num_steps=FLAGS.optimizer_steps),
        "upper bound R'": lambda: references.bound_rates(channels, params),
    }
    rates, seconds = {}, {}
    for name, compute in policies.items():
        print(f"  computing {name} ...", flush=True)
        start = time.perf_counter()
        rates[name] = jax.block_until_ready(jax.jit(compute)())
        seconds[name] = time.perf_counter() - start
    optimum, bound = rates["optimizer C*"], rates["upper bound R'"]

    header = ("policy", "mean C", "std", "C/C*", "C/R'", "seconds")
    print(f"\n{header[0]:<24}" + "".join(f"{h:>8}" for h in header[1:-1]) + f"{header[-1]:>9}")
    summary = {}
    for name, r in rates.items():
        stats = references.summarize(r)
        stats["ratio_to_optimizer"] = float((r / optimum).mean())
        stats["ratio_to_bound"] = float((r / bound).mean())
        stats["seconds_incl_compile"] = seconds[name]
        summary[name] = stats
        print(f"{name:<24}{stats['mean']:8.3f}{stats['std']:8.3f}{stats['ratio_to_optimizer']:8.3f}"
              f"{stats['ratio_to_bound']:8.3f}{seconds[name]:9.2f}")
    path = write_json_atomic(f"{out}/baselines.json", {
        "preset": FLAGS.preset, "env_config": cfg.to_dict(), "num_states": FLAGS.num_states, "seed": FLAGS.seed,
        "optimizer": {"restarts": FLAGS.optimizer_restarts, "steps": FLAGS.optimizer_steps},
        "sum_rate_bit_per_s_per_hz": summary, "device": device_info(),
    })
    print(f"\nwrote {path}")


if __name__ == "__main__":
    run_cli(main)
