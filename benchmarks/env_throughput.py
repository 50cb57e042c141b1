"""Environment steps per second for batches of parallel environments.

    python -m benchmarks.env_throughput [--batches 1,64,1024,16384] [--steps 200]

One measured call = `steps` env steps of a vmapped batch inside one `lax.scan` (random raw
actions drawn in the loop, as a policy would supply them), so dispatch overhead is amortized
the way the trainer amortizes it. Compile time is reported apart. Writes
benchmarks/results/env_throughput.json.
"""

from __future__ import annotations

import jax
from absl import app, flags

from d2rl_jax.config import ENV_PRESETS, env_preset
from d2rl_jax.env import FullDuplexEnv
from d2rl_jax.run.io import write_json_atomic
from d2rl_jax.run.timing import device_info, time_compiled
from experiments.common import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("preset", "paper", list(ENV_PRESETS), "Environment preset.")
flags.DEFINE_list("batches", ["1", "64", "1024", "16384"], "Numbers of parallel environments.")
flags.DEFINE_integer("steps", 200, "Env steps per timed call.", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed calls per batch size (median reported).", lower_bound=1)
flags.DEFINE_string("out", "benchmarks/results/env_throughput.json", "Output JSON path.")


def make_rollout(env: FullDuplexEnv, num_steps: int):
    def rollout(key, states, params):
        def body(states, key):
            key_act, key_step = jax.random.split(key)
            batch = states.time.shape[0]
            actions = jax.random.uniform(key_act, (batch, env.action_size), minval=-1.0, maxval=1.0)
            step_keys = jax.random.split(key_step, batch)
            _, states, info, _, _ = jax.vmap(env.step, (0, 0, 0, None))(step_keys, states, actions, params)
            return states, info.sum_rate.mean()

        return jax.lax.scan(body, states, jax.random.split(key, num_steps))

    return rollout


def main(argv: list[str]) -> None:
    del argv
    try:
        batches = [int(b) for b in FLAGS.batches]
    except ValueError:
        raise app.UsageError(f"--batches={','.join(FLAGS.batches)} must be comma-separated integers") from None
    if any(b < 1 for b in batches):
        raise app.UsageError(f"--batches={','.join(FLAGS.batches)}: every batch size must be >= 1")
    env = FullDuplexEnv(env_preset(FLAGS.preset))
    params = env.default_params
    rollout = make_rollout(env, FLAGS.steps)
    rows = []
    for batch in batches:
        _, states = jax.vmap(env.reset, (0, None))(jax.random.split(jax.random.key(batch), batch), params)
        timing = time_compiled(rollout, jax.random.key(0), states, params, repeats=FLAGS.repeats)
        steps_per_s = batch * FLAGS.steps / timing["run_s"]
        rows.append({"batch": batch, "steps_per_call": FLAGS.steps, **timing, "env_steps_per_s": steps_per_s})
        print(f"batch {batch:>6}: {steps_per_s:12.4g} env steps/s  (compile {timing['compile_s']:.2f} s)", flush=True)
    path = write_json_atomic(FLAGS.out, {
        "benchmark": "env_throughput", "preset": FLAGS.preset, "receiver": env.cfg.receiver,
        "results": rows, "device": device_info(),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
