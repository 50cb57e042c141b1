"""Environment drift inside the loop (the retraining scenario; scenarios in d2rl_jax/env/full_duplex/drift.py).

`Drift` plays `before` until the traced epoch `hp.drift_epoch` and `after` from it on, so a run switches
mid-way without recompiling and drift epochs vmap like any hyperparameter; where the change moves the users'
placement (`env.relocates`), every user is placed anew at the drift epoch. `NoDrift` is the same interface
doing nothing: the loop calls both alike.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from d2rl_jax.config import ConfigError, HyperParams

# The relocation's draws come from a `fold_in` stream of the run key: a drift leaves every other draw unchanged.
_STREAM_DRIFT = 11


def params_at(epoch: jax.Array, drift_epoch: jax.Array, before: Any, after: Any) -> Any:
    """`after` from `drift_epoch` on (epochs counted from 0), `before` until then; all traced. Any two
    pytrees of one structure (environment parameters, or those with the held-out batch beside them)."""
    drifted = jnp.asarray(epoch) >= jnp.asarray(drift_epoch)
    return jax.tree.map(lambda b, a: jnp.where(drifted, a, b), before, after)


class NoDrift:
    """The environment keeps its parameters."""

    def __init__(self, env_params: Any):
        self.before = env_params

    def params_at(self, epoch: jax.Array, hp: HyperParams) -> Any:
        return self.before

    def select(self, epoch: jax.Array | None, hp: HyperParams | None, before: Any, after: Any) -> Any:
        return before

    def place_users(self, key: jax.Array, epoch: jax.Array, obs: jax.Array, env_state: Any, hp: HyperParams):
        return obs, env_state

    def metrics(self, epoch: jax.Array, hp: HyperParams) -> dict[str, jax.Array]:
        return {}


class Drift(NoDrift):
    """`before` until `hp.drift_epoch`, `after` from it on."""

    def __init__(self, env, before: Any, after: Any, num_envs: int):
        if not callable(getattr(env, "relocates", None)):
            raise ConfigError(f"drift_params: environment {type(env).__name__} has no drift scenarios (it declares "
                              "no `relocates`)")
        super().__init__(before)
        self.env, self.after, self.num_envs = env, after, num_envs
        self.relocate = env.relocates(before, after)

    def params_at(self, epoch: jax.Array, hp: HyperParams) -> Any:
        return params_at(epoch, hp.drift_epoch, self.before, self.after)

    def select(self, epoch: jax.Array | None, hp: HyperParams | None, before: Any, after: Any) -> Any:
        """`before` or `after` for `epoch` (without an epoch: `before`, the original environment)."""
        return before if epoch is None else params_at(epoch, hp.drift_epoch, before, after)

    def place_users(self, key: jax.Array, epoch: jax.Array, obs: jax.Array, env_state: Any, hp: HyperParams):
        """At the drift epoch of a drift that moves the placement: every environment reset (users placed anew)."""
        if not self.relocate:
            return obs, env_state
        placed_obs, placed = jax.vmap(self.env.reset, (0, None))(
            jax.random.split(jax.random.fold_in(key, _STREAM_DRIFT), self.num_envs), self.params_at(epoch, hp))
        at_drift = epoch == hp.drift_epoch
        return (jnp.where(at_drift, placed_obs, obs),
                jax.tree.map(lambda p, e: jnp.where(at_drift, p, e), placed, env_state))

    def metrics(self, epoch: jax.Array, hp: HyperParams) -> dict[str, jax.Array]:
        return {"drifted": (epoch >= hp.drift_epoch).astype(jnp.float32)}
