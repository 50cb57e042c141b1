"""Training objectives of the diffusion networks.

- `noise_prediction_loss` (eqs. 8 / 22):
  E_{p, x_0, eps} ||eps - eps_Theta(sqrt(abar_p) x_0 + sqrt(1 - abar_p) eps, p)||^2
  with p uniform on 1..P; the mean is over features and batch rows (rows optionally weighted, e.g. to
  train the SENPNN on real states only).
- `negative_expected_score` (eq. 21): -E[score(x_0)] for Mode I samples x_0, e.g. score = min(Q1, Q2)
  for the actor; gradients reach the network through every reverse step of the sampler.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from d2rl_jax.diffusion.samplers import Bound, EpsFn, q_sample, sample_mode1
from d2rl_jax.diffusion.schedules import Schedule


def weighted_mean(per_row: jax.Array, weights: jax.Array | None) -> jax.Array:
    """The mean of per-row losses (B,), the rows weighted by `weights` (B,) when given."""
    if weights is None:
        return jnp.mean(per_row)
    return jnp.sum(weights * per_row) / jnp.maximum(jnp.sum(weights), 1e-8)


def noise_prediction_loss(
    eps_fn: EpsFn, key: jax.Array, schedule: Schedule, x0: jax.Array, weights: jax.Array | None = None
) -> jax.Array:
    key_step, key_noise = jax.random.split(key)
    steps = jax.random.randint(key_step, x0.shape[:-1], 1, schedule.num_steps + 1)
    noise = jax.random.normal(key_noise, x0.shape, x0.dtype)
    per_row = jnp.mean((eps_fn(q_sample(schedule, x0, steps, noise), steps) - noise) ** 2, axis=-1)
    return weighted_mean(per_row, weights)


def negative_expected_score(
    eps_fn: EpsFn,
    key: jax.Array,
    schedule: Schedule,
    shape: tuple[int, ...],
    score_fn: Callable[[jax.Array], jax.Array],
    clip: Bound,
) -> jax.Array:
    samples = sample_mode1(eps_fn, key, schedule, shape, clip)
    return -jnp.mean(score_fn(samples))
