"""GDMOPT's power-allocation task (HongyangDu/GDMOPT, env/env.py and env/utility.py) as a pure environment.

A contextual bandit: one step per episode. The observation is the N channel gains, the first `num_strong`
drawn U(1, 2) and the other `num_weak` U(0, 1), fresh at every reset (GDMOPT appends an 11th entry that is
always 0 when the agent acts: dropped here). An action a in [-1, 1]^N allocates the power
p = P_T |a| / sum|a|; the sum rate is C = sum_n log2(1 + g_n p_n / sigma^2) and GDMOPT's reward is
C - C_WF(g), with C_WF the water-filling optimum, so the reward is <= 0 and 0 is optimal. Here C_WF is the
`RewardInfo.upper_bound` (exact, and tight), so the `designed` reward C - R' is GDMOPT's reward and `raw` is C.

The action map is safe for any input (GDMOPT's returns NaN for an all-zero action): non-finite entries count
as 0 (and are flagged), magnitudes are divided by their largest before summing (no overflow), and an
all-zero action allocates P_T / N to every channel.

Reference levels of a held-out batch: C_WF, the best fixed allocation (P_T / num_strong to each strong
channel, 0 to the weak ones: reward about -0.048 with the defaults), the uniform allocation (about -0.99),
and uniform random actions.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
from flax import struct

from d2rl_jax.config import ConfigError, env_config
from d2rl_jax.env.base import ConfiguredEnv, References, RewardInfo, random_action_rates


@env_config("gdmopt_power")
@dataclasses.dataclass(frozen=True)
class GdmoptPowerConfig:
    """GDMOPT's defaults: 5 strong and 5 weak channels, P_T = 3, noise power 1."""

    env_name: ClassVar[str]
    num_strong: int = 5  # gains U(1, 2)
    num_weak: int = 5  # gains U(0, 1)
    total_power: float = 3.0  # P_T
    noise_power: float = 1.0

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in ("num_strong", "num_weak"):
            value = getattr(self, f)
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                raise ConfigError(f"{name}.{f}={value!r} is invalid: must be an integer >= 0")
        if self.num_strong + self.num_weak < 1:
            raise ConfigError(f"{name}.num_strong={self.num_strong!r} is invalid: with num_weak={self.num_weak} "
                              "there must be at least one channel")
        for f in ("total_power", "noise_power"):
            value = getattr(self, f)
            if not (isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < float("inf")):
                raise ConfigError(f"{name}.{f}={value!r} is invalid: must be a finite number > 0")

    @property
    def num_channels(self) -> int:
        return self.num_strong + self.num_weak

    @property
    def observation_size(self) -> int:
        return self.num_channels

    @property
    def action_size(self) -> int:
        return self.num_channels

    def replace(self, **changes) -> GdmoptPowerConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@struct.dataclass
class GdmoptParams:
    total_power: jax.Array  # P_T
    noise_power: jax.Array  # sigma^2


@struct.dataclass
class GdmoptState:
    gains: jax.Array  # (N,) this episode's channel gains
    time: jax.Array  # () int32


def water_filling(gains: jax.Array, total_power: jax.Array, noise_power: jax.Array) -> jax.Array:
    """The water-filling powers (N,) for gains (N,) in closed form: with n = sigma^2 / g sorted ascending,
    mu_k = (P_T + sum_{i<=k} n_(i)) / k, K the largest k with mu_k > n_(k), p = max(mu_K - n, 0)."""
    levels = noise_power / gains  # +inf for a zero gain: it sorts last and gets no power
    ordered = jnp.sort(levels)
    k = jnp.arange(1, gains.shape[0] + 1, dtype=gains.dtype)
    mu = (total_power + jnp.cumsum(ordered)) / k
    active = jnp.sum(mu > ordered)  # mu_k > n_(k) holds for a prefix of k
    water = mu[jnp.maximum(active, 1) - 1]
    return jnp.maximum(water - levels, 0.0)


def sum_rate(gains: jax.Array, powers: jax.Array, noise_power: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(C, per-channel rates) in bit/s/Hz."""
    rates = jnp.log2(1.0 + gains * powers / noise_power)
    return rates.sum(), rates


def allocate(action: jax.Array, total_power: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(powers p = P_T |a| / sum|a|, nonfinite flag) for ANY raw action; all-zero -> P_T / N each."""
    finite = jnp.isfinite(action)
    magnitude = jnp.abs(jnp.where(finite, action, 0.0))
    largest = jnp.max(magnitude)
    scaled = magnitude / jnp.where(largest > 0, largest, 1.0)  # in [0, 1]: the sum cannot overflow
    total = jnp.sum(scaled)
    uniform = jnp.full_like(scaled, 1.0 / scaled.shape[0])
    shares = jnp.where(total > 0, scaled / jnp.where(total > 0, total, 1.0), uniform)
    return total_power * shares, ~jnp.all(finite)


class GdmoptPowerEnv(ConfiguredEnv):
    horizon = 1
    differentiable_reward = True
    # Held-out draws: the references are closed form, so every preset but `small` evaluates on 1000 of them.
    preset_changes: ClassVar[dict[str, dict]] = {name: {"eval_states": 1000}
                                                 for name in ("quick", "paper", "quick_step7", "paper_step7")}

    cfg: GdmoptPowerConfig

    @property
    def default_params(self) -> GdmoptParams:
        return GdmoptParams(total_power=jnp.float32(self.cfg.total_power),
                            noise_power=jnp.float32(self.cfg.noise_power))

    def draw_gains(self, key: jax.Array) -> jax.Array:
        key_strong, key_weak = jax.random.split(key)
        strong = jax.random.uniform(key_strong, (self.cfg.num_strong,), minval=1.0, maxval=2.0)
        weak = jax.random.uniform(key_weak, (self.cfg.num_weak,), minval=0.0, maxval=1.0)
        return jnp.concatenate([strong, weak])

    def state_channels(self, state: GdmoptState, params: GdmoptParams) -> jax.Array:
        return state.gains

    def channels_from_observation(self, obs: jax.Array, params: GdmoptParams) -> jax.Array:
        return obs

    def evaluate(self, gains: jax.Array, action: jax.Array, params: GdmoptParams) -> tuple[RewardInfo, jax.Array]:
        powers, nonfinite = allocate(action, params.total_power)
        rate, rates = sum_rate(gains, powers, params.noise_power)
        optimum, _ = sum_rate(gains, water_filling(gains, params.total_power, params.noise_power), params.noise_power)
        return RewardInfo(rate, optimum, rates), nonfinite

    def reset(self, key: jax.Array, params: GdmoptParams) -> tuple[jax.Array, GdmoptState]:
        gains = self.draw_gains(key)
        return gains, GdmoptState(gains=gains, time=jnp.zeros((), jnp.int32))

    def step(self, key, state: GdmoptState, action, params: GdmoptParams):
        info, nonfinite = self.evaluate(state.gains, action, params)
        obs, next_state = self.reset(key, params)  # every step ends an episode: the next one draws anew
        return obs, next_state, info, jnp.ones((), bool), {"nonfinite_action": nonfinite,
                                                           "episode_step": jnp.ones((), jnp.int32)}

    def fixed_allocation_rates(self, gains: jax.Array, params: GdmoptParams, powers: jax.Array) -> jax.Array:
        """Sum rates (n,) of one fixed allocation `powers` (N,) on gains (n, N)."""
        return jax.vmap(lambda g: sum_rate(g, powers, params.noise_power)[0])(gains)

    def reference_rates(self, gains: jax.Array, params: GdmoptParams, key: jax.Array, cfg) -> References:
        cfg_env, n = self.cfg, self.cfg.num_channels
        optimum = jax.jit(jax.vmap(lambda g: self.evaluate(g, jnp.ones((n,)), params)[0].upper_bound))(gains)
        strong = jnp.concatenate([jnp.full((cfg_env.num_strong,), 1.0), jnp.zeros((cfg_env.num_weak,))])
        best_fixed = params.total_power * strong / max(cfg_env.num_strong, 1)
        uniform = jnp.full((n,), params.total_power / n)
        random = jax.jit(random_action_rates, static_argnums=0)(self, gains, params, jax.random.fold_in(key, 1))
        return References(optimum=optimum, bound=optimum, levels={
            "C_WF (water-filling)": optimum,
            "best fixed allocation": self.fixed_allocation_rates(gains, params, best_fixed),
            "uniform allocation": self.fixed_allocation_rates(gains, params, uniform),
            "random actions": random})
