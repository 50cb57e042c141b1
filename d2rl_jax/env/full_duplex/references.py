"""Reference sum rates over a batch of states: what a learned policy is measured against.

- `bound`: R'(s), the closed-form upper bound (DESIGN §3).
- `heuristic`: MRT + equal split, full uplink power, MMSE receivers.
- `optimizer`: C*(s), projected gradient ascent with restarts (DESIGN §3).
All functions are vmapped over the leading axis of `channels` (`Channels`, each field with a leading state axis)
and jit-compiled by the caller (`FullDuplexEnv.reference_rates`); random actions are `d2rl_jax.env.base`'s.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from d2rl_jax.env.full_duplex import physics
from d2rl_jax.env.full_duplex.params import EnvParams


def bound_rates(channels, params: EnvParams) -> jax.Array:
    return jax.vmap(lambda g, h: physics.upper_bound(
        h, g, params.ul_power_max, params.bs_power_max, params.noise_ul, params.noise_dl))(*channels)


def heuristic_rates(channels, params: EnvParams) -> jax.Array:
    def one(g, h):
        w, v, p = physics.heuristic_allocation(
            h, g, params.clutter, params.ul_power_max, params.bs_power_max, params.noise_ul)
        return physics.sum_rate(h, g, w, v, p, params.clutter, params.noise_ul, params.noise_dl)[0]

    return jax.vmap(one)(*channels)


def optimizer_rates(
    channels, params: EnvParams, key: jax.Array, *, num_restarts: int = 8, num_steps: int = 300,
    learning_rate: float = 0.2,
) -> jax.Array:
    def one(key, g, h):
        return physics.optimize_allocation(
            key, h, g, params.clutter, params.ul_power_max, params.bs_power_max, params.noise_ul, params.noise_dl,
            num_restarts=num_restarts, num_steps=num_steps, learning_rate=learning_rate,
        ).sum_rate

    keys = jax.random.split(key, channels.g.shape[0])
    return jax.vmap(one)(keys, *channels)


def summarize(rates: jax.Array) -> dict[str, float]:
    rates = jnp.asarray(rates)
    return {"mean": float(rates.mean()), "std": float(rates.std()), "min": float(rates.min()),
            "max": float(rates.max())}
