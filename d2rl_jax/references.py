"""Reference sum rates over a batch of states: what a learned policy is measured against.

- `bound`: R'(s), the closed-form upper bound (DESIGN §3).
- `random`: uniform raw actions in [-1, 1]^A decoded by the environment (its receiver mode).
- `heuristic`: MRT + equal split, full uplink power, MMSE receivers.
- `optimizer`: C*(s), projected gradient ascent with restarts (DESIGN §3).
All functions are vmapped over the leading axis of `channels` and jit-compiled by the caller.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from d2rl_jax import physics
from d2rl_jax.env import Channels, EnvParams, FullDuplexEnv


def sample_drops(
    env: FullDuplexEnv, params: EnvParams, key: jax.Array, num_states: int
) -> tuple[jax.Array, Channels]:
    """Observations and channels of `num_states` independent uniform drops (a held-out batch)."""
    obs, states = jax.vmap(env.reset, (0, None))(jax.random.split(key, num_states), params)
    return obs, jax.vmap(env.channels, (0, None))(states.positions, params)


def bound_rates(channels: Channels, params: EnvParams) -> jax.Array:
    return jax.vmap(lambda g, h: physics.upper_bound(
        h, g, params.ul_power_max, params.bs_power_max, params.noise_ul, params.noise_dl))(*channels)


def random_action_rates(env: FullDuplexEnv, channels: Channels, params: EnvParams, key: jax.Array) -> jax.Array:
    num_states = channels.g.shape[0]
    actions = jax.random.uniform(key, (num_states, env.action_size), minval=-1.0, maxval=1.0)
    info, _ = jax.vmap(env.evaluate, (0, 0, None))(channels, actions, params)
    return info.sum_rate


def heuristic_rates(channels: Channels, params: EnvParams) -> jax.Array:
    def one(g, h):
        w, v, p = physics.heuristic_allocation(
            h, g, params.clutter, params.ul_power_max, params.bs_power_max, params.noise_ul)
        return physics.sum_rate(h, g, w, v, p, params.clutter, params.noise_ul, params.noise_dl)[0]

    return jax.vmap(one)(*channels)


def optimizer_rates(
    channels: Channels, params: EnvParams, key: jax.Array, *, num_restarts: int = 8, num_steps: int = 300,
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
