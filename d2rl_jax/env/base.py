"""What an environment offers the training loop (DESIGN §11): the gymnax contract plus declared capabilities.

    env = make_env(cfg.env); params = env.default_params
    obs, state = env.reset(key, params)
    obs, state, reward_info, done, info = env.step(key, state, action, params)

An environment is a class with pure methods and these attributes, so the loop never tests its type:
- `observation_size`, `action_size`; `horizon` (steps per episode: > 1 means TD targets bootstrap);
- `default_params` (traced parameters, a pytree);
- `reset`, `step` (gymnax's: explicit keys; `step` returns the `RewardInfo` of (s, a) where gymnax returns the
  reward, and `info` holds `nonfinite_action`, True where the raw action held NaN or +-inf);
- `state_channels(state, params)` and `channels_from_observation(obs, params)`: what the reward of a state is
  computed from (the FD env's complex channels, GDMOPT's gains, a probe's observation);
- `evaluate(channels, action, params) -> (RewardInfo, nonfinite)`: the reward of an action on those channels;
- `differentiable_reward`: whether `evaluate` is jnp end to end in the action (APG and the critic
  diagnostics differentiate it);
- `reference_rates(channels, params, key, cfg) -> References`: the levels a policy is measured against on a
  held-out batch (C*, an upper bound, baselines), host-side;
- optional: `relocates(before, after)` (the parameters' change moves where users are placed: the loop places
  them anew at a drift) and `preset_changes` (TrainConfig changes that size each training preset for it).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp


class RewardInfo(NamedTuple):
    """Everything a reward design needs about (s, a): the sum rate C, an upper bound R'(s) >= C for every
    action (the designed reward is C - R'), and the per-link rates (the environment's own pytree)."""

    sum_rate: jax.Array
    upper_bound: jax.Array
    link_rates: Any


class References(NamedTuple):
    """Per-state reference levels of a batch of states."""

    optimum: jax.Array  # (n,) the level C/C* divides by (an optimizer's, or the exact optimum)
    bound: jax.Array  # (n,) an upper bound (C/R')
    levels: dict[str, jax.Array]  # every level the figures draw, by display name, in display order


class ConfiguredEnv:
    """What environments built from a config share: the config, and the sizes it fixes."""

    def __init__(self, cfg: Any):
        self.cfg = cfg

    @property
    def observation_size(self) -> int:
        return self.cfg.observation_size

    @property
    def action_size(self) -> int:
        return self.cfg.action_size


def no_references(num_states: int) -> References:
    """For environments with no reference levels (probes): ratios read NaN."""
    nan = jnp.full((num_states,), jnp.nan)
    return References(optimum=nan, bound=nan, levels={})


def sample_states(env, params, key: jax.Array, num_states: int) -> tuple[jax.Array, Any]:
    """Observations and channels of `num_states` independent resets (a held-out batch, normalization samples)."""
    obs, states = jax.vmap(env.reset, (0, None))(jax.random.split(key, num_states), params)
    return obs, jax.vmap(env.state_channels, (0, None))(states, params)


def random_action_rates(env, channels: Any, params, key: jax.Array) -> jax.Array:
    """Sum rates of uniform raw actions in [-1, 1]^A, one per state, decoded by the environment."""
    num_states = jax.tree.leaves(channels)[0].shape[0]
    actions = jax.random.uniform(key, (num_states, env.action_size), minval=-1.0, maxval=1.0)
    info, _ = jax.vmap(env.evaluate, (0, 0, None))(channels, actions, params)
    return info.sum_rate
