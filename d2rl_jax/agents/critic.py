"""Double critics Q_1, Q_2 (s, a) -> R (DESIGN §5), two kinds:

- "mlp" (the paper's): two independent MLPs on [s | a], optionally with LayerNorm after every hidden layer.
- "local" (ours, docs/learning.md): Q_i(s, a) = V_i(s) + g_i(s) . (a - a0), two MLPs on s with a value head
  and an action-sized head, linear in the action around an anchor a0, the current policy's action
  (without gradient). Its action gradient g_i(s) is what the actor ascends; it is the deterministic policy
  gradient's compatible critic (Silver et al., 2014) with a learned state baseline, and, under Gaussian
  exploration, the regression of the reward on the exploration noise: a local gradient estimate pooled
  across states by the network, so the critic spends no capacity on the reward far from the policy.

Both take (obs, action, anchor) and return (q1, q2); the MLP critic ignores the anchor.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from d2rl_jax.core.networks import MLP


class DoubleCritic(nn.Module):
    hidden_dim: int = 256
    depth: int = 3
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array, anchor: jax.Array | None = None
                 ) -> tuple[jax.Array, jax.Array]:
        x = jnp.concatenate([obs, action], axis=-1)
        q1 = MLP(out_dim=1, hidden_dim=self.hidden_dim, depth=self.depth, layer_norm=self.layer_norm, name="q1")(x)
        q2 = MLP(out_dim=1, hidden_dim=self.hidden_dim, depth=self.depth, layer_norm=self.layer_norm, name="q2")(x)
        return q1[..., 0], q2[..., 0]


class LocalDoubleCritic(nn.Module):
    hidden_dim: int = 256
    depth: int = 3
    layer_norm: bool = False

    @nn.compact
    def __call__(self, obs: jax.Array, action: jax.Array, anchor: jax.Array) -> tuple[jax.Array, jax.Array]:
        delta = action - anchor
        qs = []
        for name in ("q1", "q2"):
            heads = MLP(out_dim=1 + action.shape[-1], hidden_dim=self.hidden_dim, depth=self.depth,
                        layer_norm=self.layer_norm, name=name)(obs)
            qs.append(heads[..., 0] + jnp.sum(heads[..., 1:] * delta, axis=-1))
        return qs[0], qs[1]


CRITICS = {"mlp": DoubleCritic, "local": LocalDoubleCritic}


def make_critic(kind: str, hidden_dim: int, depth: int, layer_norm: bool) -> nn.Module:
    return CRITICS[kind](hidden_dim=hidden_dim, depth=depth, layer_norm=layer_norm)
