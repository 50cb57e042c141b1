"""Actor kinds (DESIGN §5): "mlp" (A. w/o GDM) and "diffusion" (A. w/ GDM, the AENPNN via Mode I).

An `Actor` is a pair of pure functions: `init(key, obs) -> params` and
`act(params, key, obs (B, S)) -> actions (B, A)` in [-1, 1]. The MLP actor ignores the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from d2rl_jax.config import TrainConfig
from d2rl_jax.core.networks import MLP
from d2rl_jax.diffusion import DiffusionModel


class Actor(NamedTuple):
    init: Callable[[jax.Array, jax.Array], Any]
    act: Callable[[Any, jax.Array, jax.Array], jax.Array]


def make_actor(cfg: TrainConfig, action_size: int) -> Actor:
    if cfg.actor == "mlp":
        net = MLP(out_dim=action_size, hidden_dim=cfg.actor_hidden, depth=cfg.actor_depth, output_activation=jnp.tanh)
        return Actor(init=lambda key, obs: net.init(key, obs), act=lambda params, key, obs: net.apply(params, obs))
    model = DiffusionModel(action_size, cfg.diffusion.replace(hidden_dim=cfg.actor_hidden, depth=cfg.actor_depth))
    return Actor(init=lambda key, obs: model.init(key, obs),
                 act=lambda params, key, obs: model.sample(params, key, obs))
