"""Running mean and variance of a stream of batches, inside the compiled loop.

The reward designs scale their learned terms by running standard deviations (sigma_C of the sum
rate, sigma_R of the designed reward, sigma_A of the critic's advantage, DESIGN §6). The
statistics move with the policy, so they are exponential moving averages of the first two
moments; the weight of a new batch is max(1 / (updates + 1), 1 - DECAY), so the first batches are
averaged exactly and no zero-initialization bias remains.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

DECAY = 0.995  # ~200 batches of memory
_EPS = 1e-8


@struct.dataclass
class RunningMoments:
    first: jax.Array  # () E[x]
    second: jax.Array  # () E[x^2]
    updates: jax.Array  # () batches seen

    @property
    def mean(self) -> jax.Array:
        return self.first

    @property
    def std(self) -> jax.Array:
        return jnp.sqrt(jnp.maximum(self.second - self.first**2, 0.0) + _EPS)


def init_moments() -> RunningMoments:
    zero = jnp.zeros((), jnp.float32)
    return RunningMoments(first=zero, second=zero, updates=zero)


def update_moments(moments: RunningMoments, batch: jax.Array) -> RunningMoments:
    batch = jnp.asarray(batch, jnp.float32)
    weight = jnp.maximum(1.0 / (moments.updates + 1.0), 1.0 - DECAY)
    return RunningMoments(
        first=(1.0 - weight) * moments.first + weight * jnp.mean(batch),
        second=(1.0 - weight) * moments.second + weight * jnp.mean(batch**2),
        updates=moments.updates + 1.0,
    )
