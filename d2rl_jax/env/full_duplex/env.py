"""The full-duplex resource-allocation MDP as a pure-functional, gymnax-style environment.

    env = FullDuplexEnv(cfg); params = env.default_params
    obs, state = env.reset(key, params)
    obs, state, reward_info, done, info = env.step(key, state, action, params)

Every method is a pure function of its arguments (jit / vmap them freely). `step` evaluates
the action on the CURRENT state's channels (the reward of (s, a)), then moves the users.
The action never changes the next state (DESIGN §2).

Episodes are H = `cfg.horizon` steps long; `done` marks the end of one for TD targets.
The user population is NOT re-dropped at an episode boundary: each parallel environment is
one continuing cell whose users keep moving (random walk), so consecutive states stay
correlated, which is the setting state exploration is meant for. With `mobility="iid"`
every step is a fresh uniform drop.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import struct

from d2rl_jax.config import EnvConfig
from d2rl_jax.env.base import ConfiguredEnv, References, RewardInfo, random_action_rates
from d2rl_jax.env.full_duplex import drift, mobility, physics, references
from d2rl_jax.env.full_duplex.actions import decode_action
from d2rl_jax.env.full_duplex.observation import decode_observation, encode_observation
from d2rl_jax.env.full_duplex.params import EnvParams, make_env_params


@struct.dataclass
class EnvState:
    positions: jax.Array  # (K + L, 2) metres; downlink users first
    time: jax.Array  # () int32, step within the current episode


class Channels(NamedTuple):
    g: jax.Array  # (K, N_t) downlink
    h: jax.Array  # (L, N_r) uplink


class LinkRates(NamedTuple):
    ul: jax.Array  # (L,)
    dl: jax.Array  # (K,)


class FullDuplexEnv(ConfiguredEnv):
    """C is the sum rate (13a), R' the closed-form upper bound of DESIGN §3; the held-out references are C* (an
    optimizer), R', the MRT + MMSE heuristic and random actions."""

    differentiable_reward = True
    cfg: EnvConfig

    @property
    def horizon(self) -> int:
        return self.cfg.horizon

    @property
    def default_params(self) -> EnvParams:
        return make_env_params(self.cfg)

    # Pure pieces ---------------------------------------------------------------------------
    def channels(self, positions: jax.Array, params: EnvParams) -> Channels:
        cfg = self.cfg
        chex.assert_shape(positions, (cfg.num_users, 2))
        gain = (params.channel_gain_rho0, params.pathloss_exponent, params.bs_height_m)
        dl, ul = positions[: cfg.num_dl_users], positions[cfg.num_dl_users:]
        g = physics.user_channels(dl, cfg.num_tx_antennas, *gain, array_gain=cfg.user_array_gain)
        h = physics.user_channels(ul, cfg.num_rx_antennas, *gain, array_gain=cfg.user_array_gain)
        return Channels(g=g, h=h)

    def state_channels(self, state: EnvState, params: EnvParams) -> Channels:
        return self.channels(state.positions, params)

    def observation(self, positions: jax.Array, params: EnvParams) -> jax.Array:
        g, h = self.channels(positions, params)
        return encode_observation(positions, g, h, params)

    def channels_from_observation(self, obs: jax.Array, params: EnvParams) -> Channels:
        """The channels an observation encodes (how a generated state is evaluated, DESIGN §7)."""
        _, g, h = decode_observation(obs, self.cfg, params)
        return Channels(g=g, h=h)

    def evaluate(
        self, channels: Channels, action: jax.Array, params: EnvParams
    ) -> tuple[RewardInfo, jax.Array]:
        """(RewardInfo of the decoded action on these channels, nonfinite-action flag)."""
        g, h = channels
        decoded = decode_action(action, self.cfg, params, h, params.clutter)
        rate, ul_rates, dl_rates = physics.sum_rate(
            h, g, decoded.w, decoded.v, decoded.p, params.clutter, params.noise_ul, params.noise_dl
        )
        bound = physics.upper_bound(h, g, params.ul_power_max, params.bs_power_max, params.noise_ul, params.noise_dl)
        return RewardInfo(rate, bound, LinkRates(ul=ul_rates, dl=dl_rates)), decoded.nonfinite

    def reference_rates(self, channels: Channels, params: EnvParams, key: jax.Array, cfg) -> References:
        """C* (projected gradient ascent with `cfg.optimizer_restarts` restarts of `cfg.optimizer_steps` steps,
        from `key`), R', the heuristic and random actions (from fold_in(key, 1)) on a batch of channels."""
        optimum = jax.jit(functools.partial(references.optimizer_rates, num_restarts=cfg.optimizer_restarts,
                                            num_steps=cfg.optimizer_steps))(channels, params, key)
        bound = jax.jit(references.bound_rates)(channels, params)
        heuristic = jax.jit(references.heuristic_rates)(channels, params)
        random = jax.jit(random_action_rates, static_argnums=0)(self, channels, params, jax.random.fold_in(key, 1))
        return References(optimum=optimum, bound=bound, levels={
            "C* (optimizer)": optimum, "R' (upper bound)": bound, "heuristic (MRT + MMSE)": heuristic,
            "random actions": random})

    @staticmethod
    def relocates(before: EnvParams, after: EnvParams) -> bool:
        return drift.relocates(before, after)

    def place_users(self, key: jax.Array, params: EnvParams) -> jax.Array:
        return mobility.uniform_in_sector(key, self.cfg.num_users, params.cell_radius_m, params.sector_center_rad,
                                          params.sector_half_width_rad)

    # gymnax contract -----------------------------------------------------------------------
    def reset(self, key: jax.Array, params: EnvParams) -> tuple[jax.Array, EnvState]:
        positions = self.place_users(key, params)
        state = EnvState(positions=positions, time=jnp.zeros((), jnp.int32))
        return self.observation(positions, params), state

    def step(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[jax.Array, EnvState, RewardInfo, jax.Array, dict[str, jax.Array]]:
        reward_info, nonfinite = self.evaluate(self.channels(state.positions, params), action, params)
        if self.cfg.mobility == "iid":
            positions = self.place_users(key, params)
        else:
            step_length = params.user_speed_mps * params.step_time_s
            positions = mobility.random_walk(key, state.positions, step_length, params.cell_radius_m)
        time = state.time + 1
        done = time >= self.cfg.horizon
        next_state = EnvState(positions=positions, time=jnp.where(done, 0, time))
        info = {"nonfinite_action": nonfinite, "episode_step": time}
        return self.observation(positions, params), next_state, reward_info, done, info
