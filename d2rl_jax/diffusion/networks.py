"""The noise predictor eps_Theta(x_p, p, cond) shared by the AENPNN, RENPNN and SENPNN (DESIGN §4).

    step p  -> sinusoidal embedding (16) -> Dense(32) -> Mish -> Dense(16)
    cond    -> [optional encoder: Dense(hidden) -> Mish -> Dense(cond_embed_dim)]
    Mish(Dense([x_p | step embedding | cond features])) -> (depth - 1) x Mish(Dense(hidden)) -> Dense(out_dim)

The first layer's kernel is split into an (x, step) part and a condition part, which is the same
Dense on the concatenation, written so that the condition's projection (the largest input block
for the actor: the 140-feature state) is computed ONCE per sample and reused by all P reverse
steps (`project_condition`, then `predict`). One flax.linen module serves all three networks:
the actor conditions on the state, the reward network on (state, action), the state generator
on nothing (cond=None).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp


def sinusoidal_embedding(steps: jax.Array, dim: int) -> jax.Array:
    """Transformer-style embedding of integer steps (...,) -> (..., dim)."""
    half = dim // 2
    freqs = jnp.exp(-math.log(10000.0) * jnp.arange(half, dtype=jnp.float32) / max(half - 1, 1))
    angles = jnp.asarray(steps, jnp.float32)[..., None] * freqs
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)


class NoisePredictor(nn.Module):
    out_dim: int
    hidden_dim: int = 256
    depth: int = 4
    time_embed_dim: int = 16
    cond_embed_dim: int = 0  # 0: feed the condition to the first layer as it is

    def setup(self) -> None:
        self.time_hidden = nn.Dense(2 * self.time_embed_dim)
        self.time_out = nn.Dense(self.time_embed_dim)
        if self.cond_embed_dim:
            self.cond_hidden = nn.Dense(self.hidden_dim)
            self.cond_out = nn.Dense(self.cond_embed_dim)
        self.first = nn.Dense(self.hidden_dim)  # (x_p, step embedding) block, with the bias
        self.first_cond = nn.Dense(self.hidden_dim, use_bias=False)  # condition block
        self.trunk = [nn.Dense(self.hidden_dim) for _ in range(self.depth - 1)]
        self.out = nn.Dense(self.out_dim)

    def project_condition(self, cond: jax.Array | None) -> jax.Array | None:
        """The condition's contribution to the first layer's pre-activation, (B, hidden) or None."""
        if cond is None:
            return None
        if self.cond_embed_dim:
            cond = self.cond_out(jax.nn.mish(self.cond_hidden(cond)))
        return self.first_cond(cond)

    def predict(self, x: jax.Array, step: jax.Array, cond_projection: jax.Array | None) -> jax.Array:
        t = self.time_out(jax.nn.mish(self.time_hidden(sinusoidal_embedding(step, self.time_embed_dim))))
        t = jnp.broadcast_to(t, x.shape[:-1] + t.shape[-1:])
        h = self.first(jnp.concatenate([x, t], axis=-1))
        if cond_projection is not None:
            h = h + cond_projection
        h = jax.nn.mish(h)
        for layer in self.trunk:
            h = jax.nn.mish(layer(h))
        return self.out(h)

    def __call__(self, x: jax.Array, step: jax.Array, cond: jax.Array | None = None) -> jax.Array:
        return self.predict(x, step, self.project_condition(cond))
