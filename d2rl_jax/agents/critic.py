"""The double critic Q_1, Q_2 (s, a) -> R (DESIGN §5): two independent MLPs on [s | a]."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from d2rl_jax.networks import MLP


class DoubleCritic(nn.Module):
    hidden_dim: int = 256
    depth: int = 3

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array) -> tuple[jax.Array, jax.Array]:
        x = jnp.concatenate([obs, action], axis=-1)
        q1 = MLP(out_dim=1, hidden_dim=self.hidden_dim, depth=self.depth, name="q1")(x)[..., 0]
        q2 = MLP(out_dim=1, hidden_dim=self.hidden_dim, depth=self.depth, name="q2")(x)[..., 0]
        return q1, q2
