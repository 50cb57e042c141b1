"""DDPG with a double critic (DESIGN §5, eqs. 21, 23, 24): the actor ascends min(Q1, Q2) through itself.

actor: -mean min(Q1, Q2)(s, pi(s)); for the diffusion actor pi(s) is a Mode I sample at `hp.actor_temperature`
       (1: its own; 0: its noise-free chain) and the gradient flows through every reverse step. The critic side
       (TD3's delay and target smoothing as settings, the local critic, reward networks) is the shared machine
       of actor_critic.py.
With `cfg.imitation_target` (CPQL's consistency-style regulariser) the loss is
       -mean min Q(s, pi(s)) / sg(mean |min Q|) + c * imitation(pi; s, a~),
c = `hp.imitation_weight`, a~ the replayed actions ("buffer") or the best of `cfg.policy_samples` samples of the
current policy by min(Q1, Q2) ("best_of_k"), and imitation the actor's own regression loss (the diffusion
actor's eps-MSE, the MLP's squared error). Dividing the Q term by its mean magnitude, as Diffusion-QL and CPQL
do, makes c a ratio that does not depend on the reward's scale. A deterministic actor's best of K is its own
action (zero loss, zero gradient), so with "best_of_k" it trains plain DDPG: the presets' term costs it nothing.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from d2rl_jax.agents import Actor
from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.learners.actor_critic import (
    ActorCriticState,
    ActorObjective,
    Critics,
    make_actor_critic,
    scored_candidates,
)
from d2rl_jax.learners.base import Learner, LearnerParts, best_candidate

DDPGState = ActorCriticState  # every actor-critic learner's state; the name the tests and notebooks use


def ddpg_objective(cfg: TrainConfig, actor: Actor, critics: Critics) -> ActorObjective:
    def imitation_target(agent: ActorCriticState, key: jax.Array, batch) -> jax.Array:
        if cfg.imitation_target == "buffer":
            return batch["action"]
        return best_candidate(*scored_candidates(actor, critics, agent, key, batch["obs"], cfg.policy_samples))

    imitating = cfg.imitation_target == "buffer" or (cfg.imitation_target == "best_of_k" and actor.stochastic)

    def loss(params, agent: ActorCriticState, key: jax.Array, batch, hp: HyperParams):
        obs = batch["obs"]
        actions = actor.act(params, key, obs, hp.actor_temperature)
        policy_q = critics.min_q(agent.critic.params, obs, actions, jax.lax.stop_gradient(actions))
        policy = (policy_q, jax.lax.stop_gradient(actions))
        if not imitating:
            return -jnp.mean(policy_q), (*policy, {})
        key_target, key_imitation = jax.random.split(jax.random.fold_in(key, 1))
        target = imitation_target(agent, key_target, batch)
        imitation = actor.imitation_loss(params, key_imitation, obs, target)
        q_scale = jax.lax.stop_gradient(jnp.mean(jnp.abs(policy_q))) + 1e-8
        return -jnp.mean(policy_q) / q_scale + hp.imitation_weight * imitation, (*policy,
                                                                                 {"imitation_loss": imitation})

    return ActorObjective(loss=loss)


def make_ddpg(cfg: TrainConfig, actor: Actor, parts: LearnerParts) -> Learner:
    return make_actor_critic(cfg, actor, parts, "ddpg", lambda critics: ddpg_objective(cfg, actor, critics))
