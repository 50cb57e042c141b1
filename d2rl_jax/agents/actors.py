"""Actor kinds (DESIGN §5): "mlp" (A. w/o GDM) and "diffusion" (A. w/ GDM, the AENPNN via Mode I).

An `Actor` is pure functions over its parameters:
- `init(key, obs) -> params`;
- `act(params, key, obs (B, S), temperature=1.0) -> actions (B, A)` in [-1, 1]: the diffusion actor's Mode I
  sample with every draw scaled by `temperature` (traced; 0: the noise-free chain from a fixed start, its
  deterministic action); the MLP actor is deterministic and ignores the key and the temperature;
- `imitation_loss(params, key, obs, actions, weights=None) -> ()`: how the actor is regressed toward given
  actions (the learners that do not backpropagate through the chain, DESIGN §10): the diffusion actor's eps-MSE
  (eqs. 8 / 22) at a random step, the MLP's squared error; `weights` (B,) weight the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from d2rl_jax.config import DETERMINISTIC_ACTORS, TrainConfig
from d2rl_jax.core.networks import MLP
from d2rl_jax.diffusion import DiffusionModel
from d2rl_jax.diffusion.losses import weighted_mean


class Actor(NamedTuple):
    init: Callable[[jax.Array, jax.Array], Any]
    act: Callable[..., jax.Array]
    imitation_loss: Callable[..., jax.Array]
    stochastic: bool  # whether act's output depends on the key (evaluation modes differ only then)


def make_actor(cfg: TrainConfig, action_size: int) -> Actor:
    if cfg.actor == "mlp":
        net = MLP(out_dim=action_size, hidden_dim=cfg.actor_hidden, depth=cfg.actor_depth, output_activation=jnp.tanh)

        def mlp_imitation(params, key, obs, actions, weights=None):
            return weighted_mean(jnp.mean((net.apply(params, obs) - actions) ** 2, axis=-1), weights)

        return Actor(init=lambda key, obs: net.init(key, obs),
                     act=lambda params, key, obs, temperature=1.0: net.apply(params, obs),
                     imitation_loss=mlp_imitation, stochastic=cfg.actor not in DETERMINISTIC_ACTORS)
    model = DiffusionModel(action_size, cfg.diffusion.replace(hidden_dim=cfg.actor_hidden, depth=cfg.actor_depth))
    return Actor(init=lambda key, obs: model.init(key, obs),
                 act=lambda params, key, obs, temperature=1.0: model.sample(params, key, obs, temperature=temperature),
                 imitation_loss=lambda params, key, obs, actions, weights=None: model.loss(params, key, actions, obs,
                                                                                           weights),
                 stochastic=cfg.actor not in DETERMINISTIC_ACTORS)
