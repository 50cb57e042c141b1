"""The one optimizer of every network: AdamW (DESIGN §5) with traced learning rate and weight decay.

`optax.inject_hyperparams` keeps lr and weight decay in the optimizer state, so they are traced
per run (vmappable across a sweep) while the update rule is compiled once.
"""

from __future__ import annotations

from collections.abc import Callable
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


def gradient_step(loss_fn: Callable[..., tuple[jax.Array, Any]], params: Any, opt_state: Any, *args
                  ) -> tuple[jax.Array, Any, Any, Any, Any]:
    """One AdamW step on `loss_fn(params, *args) -> (loss, aux)`: (loss, aux, params, opt_state, grads).
    Every network's update goes through here (Brax's `gradient_update_fn`)."""
    (loss, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, *args)
    params, opt_state = apply_gradients(params, grads, opt_state)
    return loss, aux, params, opt_state, grads
