"""The one optimizer of every network: AdamW (DESIGN §5) with traced learning rate and weight decay.

`optax.inject_hyperparams` keeps lr and weight decay in the optimizer state, so they are traced
per run (vmappable across a sweep) while the update rule is compiled once.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

ADAMW = optax.inject_hyperparams(optax.adamw)(learning_rate=0.0, weight_decay=0.0)


def init_optimizer(params: Any, learning_rate: jax.Array, weight_decay: jax.Array):
    state = ADAMW.init(params)
    hyper = dict(state.hyperparams, learning_rate=jnp.asarray(learning_rate, jnp.float32),
                 weight_decay=jnp.asarray(weight_decay, jnp.float32))
    return state._replace(hyperparams=hyper)


def apply_gradients(params: Any, grads: Any, opt_state: Any) -> tuple[Any, Any]:
    updates, opt_state = ADAMW.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state
