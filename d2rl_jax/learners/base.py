"""What every learner is (DESIGN §10): pure functions over a state type it owns.

The training loop (`d2rl_jax.training`) collects transitions, samples `batches_per_update` replay batches and
calls `update`; it knows nothing else of the learner. Of a learner's state it reads two fields, which every
state type declares: `actor` (a `Trainable`: the policy's parameters and optimizer, used to act and to
evaluate) and `reward` (the reward network's `RewardState` of a learned design, or None; the loop's collection
adds to its running moments). A new learner is a module with a factory `(cfg, actor, parts) -> Learner` and one
line in `d2rl_jax.learners.LEARNERS` (or `register_learner`): no branch in the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from d2rl_jax.agents.rewards import RewardModel
from d2rl_jax.config import ConfigError, HyperParams, TrainConfig
from d2rl_jax.core.gradient_metrics import Layer, gradient_sums, layer_gradient_magnitudes
from d2rl_jax.core.optim import gradient_step, init_optimizer

# reward_fn(obs (B, S), actions (B, A), env_params) -> (B,): the reward of the configured computed design,
# evaluated through the environment's differentiable reward on the channels the observations encode.
RewardFn = Callable[[jax.Array, jax.Array, Any], jax.Array]


@struct.dataclass
class Trainable:
    """A network's parameters and its AdamW state: the actor of every learner, DDPG's critics."""

    params: Any
    opt: Any

    @classmethod
    def create(cls, params: Any, learning_rate: jax.Array, weight_decay: jax.Array) -> Trainable:
        return cls(params=params, opt=init_optimizer(params, learning_rate, weight_decay))

    def step(self, loss_fn: Callable[..., tuple[jax.Array, Any]], *args) -> tuple[jax.Array, Any, Trainable, Any]:
        """One AdamW step on `loss_fn(params, *args) -> (loss, aux)`: (loss, aux, updated, grads)."""
        loss, aux, params, opt, grads = gradient_step(loss_fn, self.params, self.opt, *args)
        return loss, aux, Trainable(params=params, opt=opt), grads


class LearnerParts(NamedTuple):
    """What a learner factory may use beside the config and the actor."""

    action_size: int
    rewards: RewardModel  # the configured reward design (a learned design's network is trained by the learner)
    reward_fn: RewardFn | None  # None: the environment's reward is not differentiable
    bootstrap: bool  # TD targets (horizon > 1)


class Learner(NamedTuple):
    name: str
    batches_per_update: int  # replay batches of cfg.batch_size rows one `update` consumes (leading axis)
    init: Callable[[jax.Array, jax.Array, HyperParams], Any]  # (key, obs (num_envs, S), hp) -> its state
    # (state, batches (each leaf (batches_per_update, B, ...)), key, hp, env_params) -> (state, metrics)
    update: Callable[..., tuple[Any, dict[str, jax.Array]]]
    # (state, obs, actions) -> (B,): the learner's estimate of the reward of (s, a) (DDPG: min(Q1, Q2) in
    # reward units); None when it has none. The ground-truth diagnostics compare it with the environment's.
    value: Callable[[Any, jax.Array, jax.Array], jax.Array] | None
    # obs (B, S) -> {network: its Dense layers in forward order}: what the per-layer gradient metrics report
    layers: Callable[[jax.Array], dict[str, tuple[Layer, ...]]]
    # (state, obs (B, S), candidates (B, K, A)) -> (B, K): the learner's estimate of each candidate's reward, to
    # pick the best of K (the best_of_k evaluation); None without a critic.
    rank: Callable[[Any, jax.Array, jax.Array], jax.Array] | None = None
    # Stored fields the learner rewrites (dipo's improved actions): each transition stores them as a copy of its
    # executed action; `update` then takes batches with an "index" field (their replay slots) and returns a third
    # output, {"index": (m, B), field: (m, B, A) for each}, which the loop writes back to the buffer.
    relabeled_fields: tuple[str, ...] = ()

    @property
    def has_critic(self) -> bool:
        return self.value is not None


def mean_over_steps(metrics: dict[str, jax.Array]) -> dict[str, jax.Array]:
    """An update's metrics: the mean over the steps of its scan (leading axis)."""
    return jax.tree.map(lambda x: jnp.mean(x, axis=0), metrics)


def gradient_metrics(network: str, grads, layers: tuple[Layer, ...]) -> dict[str, jax.Array]:
    """Per-layer mean |dL/dW|, |dL/db| of a network in forward order and their sums (the paper's Figs. 5, 7)."""
    weight, bias = layer_gradient_magnitudes(grads, layers)
    weight_sum, bias_sum = gradient_sums(weight, bias)
    return {f"{network}_grad_weight": weight, f"{network}_grad_bias": bias,
            f"{network}_grad_weight_sum": weight_sum, f"{network}_grad_bias_sum": bias_sum}


def check_no_imitation(cfg: TrainConfig) -> None:
    """The imitation term (`cfg.imitation_target`) is an option of ddpg; every other learner refuses it."""
    if cfg.imitation_target != "none":
        raise ConfigError(f"TrainConfig.imitation_target={cfg.imitation_target!r} is invalid with "
                          f"learner={cfg.learner!r}: must be 'none' (the imitation term is an option of ddpg)")


def sample_candidates(actor, params: Any, key: jax.Array, obs: jax.Array, k: int) -> jax.Array:
    """k actions per state from the actor, without gradient: (B, k, A)."""
    actions = actor.act(jax.lax.stop_gradient(params), key, jnp.repeat(obs, k, axis=0))
    return jax.lax.stop_gradient(actions.reshape(obs.shape[0], k, -1))


def best_candidate(candidates: jax.Array, scores: jax.Array) -> jax.Array:
    """Per state, the candidate (B, K, A) of highest score (B, K): (B, A)."""
    best = jnp.argmax(scores, axis=1)
    return jnp.take_along_axis(candidates, best[:, None, None], axis=1)[:, 0]
