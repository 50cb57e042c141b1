"""The analytic policy gradient (APG): the actor ascends the reward through the differentiable physics.

No critic, no target networks: the actor's loss is -mean r(s, pi(s)) on the replay batch's states, with r
the configured computed design (raw: C; designed: C - R', whose action gradient is that of C) evaluated on
the channels each observation encodes. Same actor, optimizer, epochs, environments per epoch and batch as
DDPG, and as many actor steps per epoch (`cfg.actor_updates`): what any critic-based learner could reach
per update if its critic's action gradient were exact, which is why every figure draws it beside DDPG
(Brax's APG differentiates through an env rollout the same way; here the horizon is one step). A stochastic
actor's actions are drawn at `hp.actor_temperature`: 1, its own samples; 0, its noise-free chain (the action
its deterministic evaluation scores).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from d2rl_jax.agents import Actor
from d2rl_jax.agents.rewards import RewardState
from d2rl_jax.config import COMPUTED_REWARD_DESIGNS, ConfigError, HyperParams, TrainConfig
from d2rl_jax.core.gradient_metrics import forward_layers
from d2rl_jax.learners.base import (
    Learner,
    LearnerParts,
    Trainable,
    check_no_imitation,
    gradient_metrics,
    mean_over_steps,
)


@struct.dataclass
class APGState:
    actor: Trainable
    reward: RewardState | None = None  # always None: APG ascends a computed design (check_apg)


def check_apg(cfg: TrainConfig) -> None:
    check_no_imitation(cfg)
    if cfg.reward not in COMPUTED_REWARD_DESIGNS:
        raise ConfigError(f"TrainConfig.reward={cfg.reward!r} is invalid: must be one of {COMPUTED_REWARD_DESIGNS} "
                          "with learner='apg' (it differentiates the reward through the physics; a learned reward has "
                          "no critic to learn from)")


def make_apg(cfg: TrainConfig, actor: Actor, parts: LearnerParts) -> Learner:
    if parts.reward_fn is None:
        raise ConfigError("TrainConfig.learner='apg' is invalid for this environment: its reward is not "
                          "differentiable (differentiable_reward is False); use learner='ddpg'")
    reward_fn = parts.reward_fn

    def init(key: jax.Array, obs: jax.Array, hp: HyperParams) -> APGState:
        key_actor, _ = jax.random.split(key)  # the key DDPG's actor takes: same seed, same initial actor
        return APGState(actor=Trainable.create(actor.init(key_actor, obs), hp.actor_lr, hp.weight_decay))

    def actor_loss(params, key, obs, env_params, temperature):
        reward = reward_fn(obs, actor.act(params, key, obs, temperature), env_params)
        return -jnp.mean(reward), None

    def layers(obs: jax.Array) -> dict:
        return {"actor": forward_layers(actor.init, jax.random.key(0), obs)}

    def update(agent: APGState, batches, key: jax.Array, hp: HyperParams, env_params=None):
        actor_layers = layers(batches["obs"][0])["actor"]

        def step(agent: APGState, batch_and_key):
            batch, key = batch_and_key
            loss, _, actor_state, grads = agent.actor.step(actor_loss, key, batch["obs"], env_params,
                                                               hp.actor_temperature)
            return agent.replace(actor=actor_state), {"actor_loss": loss,
                                                      **gradient_metrics("actor", grads, actor_layers)}

        agent, metrics = jax.lax.scan(step, agent, (batches, jax.random.split(key, cfg.actor_updates)))
        return agent, {**mean_over_steps(metrics), "updated": jnp.ones(())}

    return Learner(name="apg", batches_per_update=cfg.actor_updates, init=init, update=update, value=None,
                   layers=layers)
