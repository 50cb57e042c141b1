"""DDPG losses with a double critic (DESIGN §5, eqs. 21, 23).

critic: mean over the batch of (Q1 - y)^2 + (Q2 - y)^2, y = r + gamma (1 - done) min(Q1', Q2')(s', pi'(s'))
        (y = r when the horizon is 1: every transition ends its episode, so no target is evaluated)
actor:  -mean min(Q1, Q2)(s, pi(s)); for the diffusion actor pi(s) is a Mode I sample and the
        gradient flows through every reverse step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

CriticApply = Callable[[Any, jax.Array, jax.Array], tuple[jax.Array, jax.Array]]


def critic_loss(critic_apply: CriticApply, critic_params, obs, actions, targets) -> tuple[jax.Array, jax.Array]:
    q1, q2 = critic_apply(critic_params, obs, actions)
    loss = jnp.mean((q1 - targets) ** 2 + (q2 - targets) ** 2)
    return loss, jnp.mean(jnp.minimum(q1, q2))


def actor_loss(act, critic_apply: CriticApply, actor_params, critic_params, key, obs
               ) -> tuple[jax.Array, jax.Array]:
    """(loss, min(Q1, Q2)(s, pi(s)) per row): the second is the policy's value, the baseline of the
    advantage the reward networks learn from (DESIGN §6)."""
    q1, q2 = critic_apply(critic_params, obs, act(actor_params, key, obs))
    policy_q = jnp.minimum(q1, q2)
    return -jnp.mean(policy_q), policy_q
