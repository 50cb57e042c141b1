"""One-step probe environments for checking the learner in isolation (no wireless physics).

Observations are uniform in [-1, 1]^S, independent of the action; every step ends an episode.
- "constant": reward 1 for every action (the critic must converge to Q = 1);
- "target":   reward -||a - a*||^2 with a fixed a* (the actor must move to a*);
- "linear":   reward <a, a*> + mean(s) (its action gradient a* never vanishes, so a critic's must point
              along it; the state term spreads the rewards of one action over the held-out states).
Same contract as every environment (d2rl_jax/env/base.py); the reward arrives as `RewardInfo.sum_rate` with a
zero upper bound, so every reward design reduces to it. No reference levels: held-out ratios read NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from d2rl_jax.env.base import RewardInfo, no_references

PROBE_KINDS = ("constant", "target", "linear")


@struct.dataclass
class ProbeState:
    positions: jax.Array  # the observation itself
    time: jax.Array


class ProbeEnv:
    horizon = 1
    differentiable_reward = True

    def __init__(self, observation_size: int = 11, action_size: int = 10, kind: str = "target",
                 target: jax.Array | None = None):
        if kind not in PROBE_KINDS:
            raise ValueError(f"kind={kind!r} is invalid: must be one of {PROBE_KINDS}")
        self.observation_size, self.action_size, self.kind = observation_size, action_size, kind
        self.target = jnp.linspace(-0.6, 0.6, action_size) if target is None else jnp.asarray(target)

    @property
    def default_params(self) -> jax.Array:
        return jnp.zeros(())

    def state_channels(self, state: ProbeState, params) -> jax.Array:
        return state.positions

    def channels_from_observation(self, obs: jax.Array, params) -> jax.Array:
        return obs

    def evaluate(self, obs: jax.Array, action: jax.Array, params) -> tuple[RewardInfo, jax.Array]:
        if self.kind == "constant":
            reward = jnp.ones(())
        elif self.kind == "linear":
            reward = jnp.dot(jnp.clip(action, -1.0, 1.0), self.target) + jnp.mean(obs)
        else:
            reward = -jnp.sum((jnp.clip(action, -1.0, 1.0) - self.target) ** 2)
        return RewardInfo(reward, jnp.zeros(()), jnp.zeros((1,))), ~jnp.all(jnp.isfinite(action))

    def reference_rates(self, channels: jax.Array, params, key: jax.Array, cfg):
        return no_references(channels.shape[0])

    def reset(self, key: jax.Array, params) -> tuple[jax.Array, ProbeState]:
        obs = jax.random.uniform(key, (self.observation_size,), minval=-1.0, maxval=1.0)
        return obs, ProbeState(positions=obs, time=jnp.zeros((), jnp.int32))

    def step(self, key, state: ProbeState, action, params):
        info, nonfinite = self.evaluate(state.positions, action, params)
        obs, next_state = self.reset(key, params)
        done = jnp.ones((), bool)
        return obs, next_state, info, done, {"nonfinite_action": nonfinite, "episode_step": jnp.ones((), jnp.int32)}
