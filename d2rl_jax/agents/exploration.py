"""Exploration on EXECUTED actions only (DESIGN §5); losses never see it.

- epsilon_greedy: each environment's action is replaced, with probability epsilon, by a uniform
  draw from [-1, 1]^A.
- gaussian: N(0, sigma^2) is added and the result clipped to [-1, 1]; sigma follows `noise_std_at`
  (constant, or a linear decay: traced, so runs with different schedules share one program).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def noise_std_at(epoch: jax.Array, hp) -> jax.Array:
    """The Gaussian std at `epoch`: noise_std falling linearly to noise_std_final over noise_decay_epochs
    (noise_decay_epochs = 0: noise_std throughout)."""
    progress = jnp.where(hp.noise_decay_epochs > 0,
                         jnp.minimum(epoch / jnp.maximum(hp.noise_decay_epochs, 1e-9), 1.0), 0.0)
    return hp.noise_std + (hp.noise_std_final - hp.noise_std) * progress


def explore(kind: str, key: jax.Array, actions: jax.Array, epsilon: jax.Array, noise_std: jax.Array) -> jax.Array:
    key_a, key_b = jax.random.split(key)
    if kind == "epsilon_greedy":
        replace = jax.random.bernoulli(key_a, epsilon, actions.shape[:-1])[..., None]
        uniform = jax.random.uniform(key_b, actions.shape, minval=-1.0, maxval=1.0)
        return jnp.where(replace, uniform, actions)
    if kind == "gaussian":
        return jnp.clip(actions + noise_std * jax.random.normal(key_a, actions.shape), -1.0, 1.0)
    raise ValueError(f"exploration={kind!r} is invalid")
