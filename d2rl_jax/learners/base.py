"""What every learner is (DESIGN §10): pure functions over the agent's part of the run state.

The training loop (`d2rl_jax.train`) collects transitions, samples `batches_per_update` replay batches
and calls `update`; it knows nothing else of the learner. A new learner (TD3 with its own critic
ensemble, SAC, ...) is a new module with a factory of the signature `(cfg, actor, parts) -> Learner`,
registered in `d2rl_jax.learners.FACTORIES`: no branch in the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from d2rl_jax.agents.rewards import RewardModel, RewardState
from d2rl_jax.metrics import Layer, gradient_sums, layer_gradient_magnitudes
from d2rl_jax.moments import RunningMoments

HParams = dict[str, jax.Array]
# reward_fn(obs (B, S), actions (B, A), env_params) -> (B,): the reward of the configured computed design,
# evaluated through the environment's differentiable physics on the channels the observations encode.
RewardFn = Callable[[jax.Array, jax.Array, Any], jax.Array]


@struct.dataclass
class AgentState:
    """The learner's state. Fields a learner does not use stay None (APG has no critic)."""

    actor_params: Any
    actor_opt: Any
    critic_params: Any = None
    critic_opt: Any = None
    target_actor_params: Any = None  # None without TD bootstrap (horizon 1): no targets are read
    target_critic_params: Any = None
    reward: RewardState | None = None  # the reward network of a learned design (DESIGN §6)
    reward_moments: RunningMoments | None = None  # of the critics' targets, with critic_reward_norm


class LearnerParts(NamedTuple):
    """What a learner factory may use beside the config and the actor."""

    action_size: int
    rewards: RewardModel  # the configured reward design (learned designs train their net in the learner)
    reward_fn: RewardFn | None  # None: the environment's reward is not differentiable
    bootstrap: bool  # TD targets (horizon > 1)


class Learner(NamedTuple):
    name: str
    batches_per_update: int  # replay batches of cfg.batch_size rows one `update` consumes (leading axis)
    init: Callable[[jax.Array, jax.Array, HParams], AgentState]  # (key, obs (T, S), hp)
    # (agent, batches (each leaf (batches_per_update, B, ...)), key, hp, env_params) -> (agent, metrics)
    update: Callable[..., tuple[AgentState, dict[str, jax.Array]]]
    # (agent, obs, actions) -> (B,): the learner's estimate of the reward of (s, a) (DDPG: min(Q1, Q2) in
    # reward units); None when it has none. The ground-truth diagnostics compare it with the physics.
    value: Callable[[AgentState, jax.Array, jax.Array], jax.Array] | None
    # obs (B, S) -> {network: its Dense layers in forward order}: what the per-layer gradient metrics report
    layers: Callable[[jax.Array], dict[str, tuple[Layer, ...]]]


def mean_over_steps(metrics: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """An update's metrics: the mean over the steps of its scan (leading axis)."""
    return jax.tree.map(lambda x: jnp.mean(x, axis=0), metrics)


def gradient_metrics(network: str, grads, layers: tuple[Layer, ...]) -> dict[str, jax.Array]:
    """Per-layer mean |dL/dW|, |dL/db| of a network in forward order and their sums (the paper's Figs. 5, 7)."""
    weight, bias = layer_gradient_magnitudes(grads, layers)
    weight_sum, bias_sum = gradient_sums(weight, bias)
    return {f"{network}_grad_weight": weight, f"{network}_grad_bias": bias,
            f"{network}_grad_weight_sum": weight_sum, f"{network}_grad_bias_sum": bias_sum}
