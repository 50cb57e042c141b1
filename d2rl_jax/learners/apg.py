"""The analytic policy gradient (APG): the actor ascends the reward through the differentiable physics.

No critic, no target networks: the actor's loss is -mean r(s, pi(s)) on the replay batch's states, with r
the configured computed design (raw: C; designed: C - R', whose action gradient is that of C) evaluated on
the channels each observation encodes. Same actor, optimizer, epochs, environments per epoch and batch as
DDPG, and as many actor steps per epoch (`cfg.actor_updates`): what any critic-based learner could reach
per update if its critic's action gradient were exact, which is why every figure draws it beside DDPG
(Brax's APG differentiates through an env rollout the same way; here the horizon is one step).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from d2rl_jax.agents import Actor
from d2rl_jax.config import ConfigError, TrainConfig
from d2rl_jax.learners.base import AgentState, HParams, Learner, LearnerParts, gradient_metrics, mean_over_steps
from d2rl_jax.metrics import forward_layers
from d2rl_jax.optim import gradient_step, init_optimizer


def make_apg(cfg: TrainConfig, actor: Actor, parts: LearnerParts) -> Learner:
    if parts.reward_fn is None:
        raise ConfigError("learner='apg' is invalid for this environment: its reward is not differentiable "
                          "(it has no channels_from_observation/evaluate pair); use learner='ddpg'")
    reward_fn = parts.reward_fn

    def init(key: jax.Array, obs: jax.Array, hp: HParams) -> AgentState:
        key_actor, _ = jax.random.split(key)  # the key DDPG's actor takes: same seed, same initial actor
        params = actor.init(key_actor, obs)
        return AgentState(actor_params=params, actor_opt=init_optimizer(params, hp["actor_lr"], hp["weight_decay"]))

    def actor_loss(params, key, obs, env_params):
        reward = reward_fn(obs, actor.act(params, key, obs), env_params)
        return -jnp.mean(reward), None

    def layers(obs: jax.Array) -> dict:
        return {"actor": forward_layers(actor.init, jax.random.key(0), obs)}

    def update(agent: AgentState, batches, key: jax.Array, hp: HParams, env_params=None):
        actor_layers = layers(batches["obs"][0])["actor"]

        def step(agent: AgentState, batch_and_key):
            batch, key = batch_and_key
            loss, _, params, opt, grads = gradient_step(actor_loss, agent.actor_params, agent.actor_opt, key,
                                                        batch["obs"], env_params)
            return agent.replace(actor_params=params, actor_opt=opt), {"actor_loss": loss,
                                                                       **gradient_metrics("actor", grads, actor_layers)}

        agent, metrics = jax.lax.scan(step, agent, (batches, jax.random.split(key, cfg.actor_updates)))
        return agent, {**mean_over_steps(metrics), "updated": jnp.ones(())}

    return Learner(name="apg", batches_per_update=cfg.actor_updates, init=init, update=update, value=None,
                   layers=layers)
