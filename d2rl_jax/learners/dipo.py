"""DIPO (diffusion policy for online RL; Yang et al. 2023, BellmanTimeHut/DIPO): action relabelling, then
behaviour cloning.

Each transition stores a second copy of its executed action, "improved_action" (DIPO's diffusion memory; the
critic keeps learning from the executed action and its reward). Before each actor step the batch's improved
actions take `cfg.relabel_steps` Adam steps (step size `hp.relabel_lr`, a fresh Adam state each time, as DIPO's)
ascending min(Q1, Q2)(s, a), each clamped to [-1, 1], and are written back to the replay buffer at their slots
(Learner.relabeled_fields), so they keep improving. The actor then regresses onto them with its imitation loss
(the diffusion actor's eps-MSE at a random step: no gradient through the chain; the MLP's squared error, which
DIPO's scheme allows as well: both actors are supported).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from d2rl_jax.agents import Actor
from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.learners.actor_critic import ActorCriticState, ActorObjective, Critics, make_actor_critic
from d2rl_jax.learners.base import Learner, LearnerParts


def dipo_objective(cfg: TrainConfig, actor: Actor, critics: Critics) -> ActorObjective:
    def relabel(agent: ActorCriticState, batch, key: jax.Array, hp: HyperParams):
        obs, replayed = batch["obs"], batch["improved_action"]
        anchor = jax.lax.stop_gradient(replayed)  # the local critic's gradient does not depend on it
        adam = optax.adam(hp.relabel_lr)

        def total_q(actions):
            return jnp.sum(critics.min_q(agent.critic.params, obs, actions, anchor))

        def step(carry, _):
            actions, opt_state = carry
            updates, opt_state = adam.update(-jax.grad(total_q)(actions), opt_state)
            return (jnp.clip(optax.apply_updates(actions, updates), -1.0, 1.0), opt_state), None

        (improved, _), _ = jax.lax.scan(step, (replayed, adam.init(replayed)), None, length=cfg.relabel_steps)
        gain = (total_q(improved) - total_q(replayed)) / obs.shape[0]
        return {"improved_action": jax.lax.stop_gradient(improved)}, {
            "relabel_q_gain": gain, "relabel_distance": jnp.mean(jnp.abs(improved - replayed))}

    def loss(params, agent: ActorCriticState, key: jax.Array, batch, hp: HyperParams):
        obs = batch["obs"]
        key_policy, key_loss = jax.random.split(key)
        # the policy's own action and value: only the reward networks' advantage baseline reads them
        policy_actions = jax.lax.stop_gradient(actor.act(agent.actor.params, key_policy, obs))
        policy_q = critics.min_q(agent.critic.params, obs, policy_actions, policy_actions)
        return actor.imitation_loss(params, key_loss, obs, batch["improved_action"]), (policy_q, policy_actions, {})

    return ActorObjective(loss=loss, relabel=relabel, relabeled_fields=("improved_action",))


def make_dipo(cfg: TrainConfig, actor: Actor, parts: LearnerParts) -> Learner:
    return make_actor_critic(cfg, actor, parts, "dipo", lambda critics: dipo_objective(cfg, actor, critics))
