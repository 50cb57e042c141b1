"""Cost of one Mode I diffusion sample vs an MLP actor forward of the same width.

    python -m benchmarks.diffusion_sampler [--batch 256] [--steps 6] [--hidden 256] [--depth 4]

Paper sizes by default: condition (state) 140, output (action) 124, P = 6, 4 x 256 Mish nets,
batch 256. Four timings, each a separately compiled program, compile time apart:
  mlp_forward, mlp_forward_backward, diffusion_sample, diffusion_sample_backward
("backward" = value and gradient w.r.t. the network parameters of -mean(score(x)) with a
fixed linear score, i.e. the actor-loss pattern of eq. (21)). The ratios diffusion / MLP are
measured in the same run. Writes benchmarks/results/diffusion_sampler.json.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from absl import flags

from d2rl_jax.config import DiffusionConfig
from d2rl_jax.core.networks import MLP
from d2rl_jax.diffusion import DiffusionModel
from d2rl_jax.run.io import write_json_atomic
from d2rl_jax.run.timing import device_info, time_compiled
from experiments.common import run_cli

FLAGS = flags.FLAGS
flags.DEFINE_integer("batch", 256, "Batch size.", lower_bound=1)
flags.DEFINE_integer("state_dim", 140, "Condition (state) size.", lower_bound=1)
flags.DEFINE_integer("action_dim", 124, "Output (action) size.", lower_bound=1)
flags.DEFINE_integer("steps", 6, "Diffusion steps P.", lower_bound=1)
flags.DEFINE_integer("hidden", 256, "Hidden width.", lower_bound=1)
flags.DEFINE_integer("depth", 4, "Hidden layers.", lower_bound=1)
flags.DEFINE_integer("repeats", 20, "Timed calls (median reported).", lower_bound=1)
flags.DEFINE_string("out", "benchmarks/results/diffusion_sampler.json", "Output JSON path.")


def dense_flops(sizes: list[tuple[int, int]], batch: int) -> int:
    """Multiply-adds x 2 of a stack of Dense layers (in, out) on a batch."""
    return 2 * batch * sum(i * o for i, o in sizes)


def main(argv: list[str]) -> None:
    del argv
    B, S, A, H, D, P = FLAGS.batch, FLAGS.state_dim, FLAGS.action_dim, FLAGS.hidden, FLAGS.depth, FLAGS.steps
    state = jax.random.normal(jax.random.key(0), (B, S))
    score_weights = jax.random.normal(jax.random.key(1), (A,))

    def score(actions):
        return actions @ score_weights

    mlp = MLP(out_dim=A, hidden_dim=H, depth=D, output_activation=jnp.tanh)
    mlp_params = mlp.init(jax.random.key(2), state)
    model = DiffusionModel(A, DiffusionConfig(num_steps=P, hidden_dim=H, depth=D))
    diffusion_params = model.init(jax.random.key(3), state)
    key = jax.random.key(4)

    cases = {
        "mlp_forward": (lambda p, k: mlp.apply(p, state), mlp_params),
        "mlp_forward_backward": (jax.value_and_grad(lambda p, k: -jnp.mean(score(mlp.apply(p, state)))), mlp_params),
        "diffusion_sample": (lambda p, k: model.sample(p, k, state), diffusion_params),
        "diffusion_sample_backward": (
            jax.value_and_grad(lambda p, k: model.negative_expected_score(p, k, state, score)), diffusion_params),
    }
    te = model.config.time_embed_dim
    mlp_fwd = dense_flops([(S, H)] + [(H, H)] * (D - 1) + [(H, A)], B)
    # The condition's first-layer projection is computed once per sample, the rest at every step.
    sample_fwd = dense_flops([(S, H)], B) + P * dense_flops(
        [(te, 2 * te), (2 * te, te), (A + te, H)] + [(H, H)] * (D - 1) + [(H, A)], B)
    flops = {"mlp_forward": mlp_fwd, "mlp_forward_backward": 3 * mlp_fwd,
             "diffusion_sample": sample_fwd, "diffusion_sample_backward": 3 * sample_fwd}
    results = {}
    for name, (fn, params) in cases.items():
        timing = time_compiled(fn, params, key, repeats=FLAGS.repeats)
        timing["dense_flops"] = flops[name]
        timing["gflops_per_s"] = flops[name] / timing["run_s"] / 1e9
        results[name] = timing
        print(f"{name:<28} {timing['run_s'] * 1e3:9.3f} ms  (compile {timing['compile_s']:.2f} s, "
              f"{timing['gflops_per_s']:.1f} GFLOP/s)", flush=True)
    ratios = {
        "sample_over_mlp_forward": results["diffusion_sample"]["run_s"] / results["mlp_forward"]["run_s"],
        "sample_backward_over_mlp_backward":
            results["diffusion_sample_backward"]["run_s"] / results["mlp_forward_backward"]["run_s"],
        "flops_ratio": flops["diffusion_sample"] / flops["mlp_forward"],
    }
    for name, value in ratios.items():
        print(f"{name:<36} {value:6.2f}")
    path = write_json_atomic(FLAGS.out, {
        "benchmark": "diffusion_sampler",
        "sizes": {"batch": B, "state_dim": S, "action_dim": A, "steps": P, "hidden": H, "depth": D},
        "results": results, "ratios": ratios, "device": device_info(),
    })
    print(f"wrote {path}")


if __name__ == "__main__":
    run_cli(main)
