"""Plain MLPs: the non-diffusion actor (A. w/o GDM), the critics and the reward MLP."""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax


class MLP(nn.Module):
    """depth x (Dense(hidden) [-> LayerNorm] -> activation) -> Dense(out_dim) [-> output activation]."""

    out_dim: int
    hidden_dim: int = 256
    depth: int = 4
    activation: Callable[[jax.Array], jax.Array] = jax.nn.mish
    output_activation: Callable[[jax.Array], jax.Array] | None = None
    layer_norm: bool = False

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for _ in range(self.depth):
            x = nn.Dense(self.hidden_dim)(x)
            if self.layer_norm:
                x = nn.LayerNorm()(x)
            x = self.activation(x)
        x = nn.Dense(self.out_dim)(x)
        return x if self.output_activation is None else self.output_activation(x)
