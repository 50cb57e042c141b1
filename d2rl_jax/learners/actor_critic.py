"""The actor-critic learners' shared machine (DESIGN §5, §10): one double critic, several ways to improve the policy.

`make_actor_critic(cfg, actor, parts, name, objective)` is DDPG's critic side, shared by every learner with a
critic: `cfg.actor_updates` groups per epoch, scanned; each group takes `cfg.policy_delay` critic steps (each on
its own replay batch), then one actor step on the group's last batch by the learner's `ActorObjective`, the reward
network's step (learned designs) and the soft target updates (TD3's delay; with critic_updates = policy_delay = 1
it is the paper's one update of every network per epoch).

critic: mean over the batch of (Q1 - y)^2 + (Q2 - y)^2, y = r~ + gamma (1 - done) min(Q1', Q2')(s', a'),
        r~ the reward, standardized by running moments with `critic_reward_norm`; a' = pi'(s') plus TD3's
        clipped smoothing noise (`target_noise`); y = r~ when the horizon is 1 (no bootstrap).
The critic kind (`cfg.critic_kind`, agents/critic.py) is "mlp" or "local"; the local critic is linear in the
action around an anchor: replayed actions are compared with what the policy does now, and candidate actions of
one state (`rank`) with their mean, so the ranking reads the critic's action head g(s).

An objective (ddpg.py: backpropagation through the actor; dpmd.py, qvpo.py, dipo.py: regression toward actions
the critic prefers) sees the agent after the group's critic steps and returns its loss with the policy's value
and actions on the batch (the reward networks' advantage baseline); it may keep a state of its own (dpmd's
temperature) and relabel stored fields of the batch before its step (dipo's improved actions), which the loop
writes back to the buffer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax
from flax import struct

from d2rl_jax.agents import Actor, make_critic
from d2rl_jax.agents.rewards import RewardState
from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.core.gradient_metrics import forward_layers
from d2rl_jax.core.moments import RunningMoments, init_moments, update_moments
from d2rl_jax.learners.base import (
    Learner,
    LearnerParts,
    Trainable,
    gradient_metrics,
    mean_over_steps,
    sample_candidates,
)


@struct.dataclass
class ActorCriticState:
    actor: Trainable
    critic: Trainable  # the double critic (Q1, Q2)
    target_actor_params: Any  # None without TD bootstrap (horizon 1): no targets are read
    target_critic_params: Any
    reward: RewardState | None  # the reward network of a learned design (DESIGN §6)
    reward_moments: RunningMoments | None  # of the critics' targets, with critic_reward_norm
    objective: Any = None  # the actor objective's own state (dpmd: log lambda), None for most


class Critics(NamedTuple):
    """What an objective reads of the double critic."""

    min_q: Callable[..., jax.Array]  # (critic_params, obs (B, S), actions (B, A), anchor) -> (B,)
    rank: Callable[..., jax.Array]  # (critic_params, obs (B, S), candidates (B, K, A)) -> min(Q1, Q2) (B, K)


class ActorObjective(NamedTuple):
    # (actor_params, agent, key, batch, hp) -> (loss, (policy_q (B,), policy_actions (B, A), metrics)): the loss
    # is differentiated with respect to actor_params; agent.critic is the group's updated critic.
    loss: Callable[..., tuple[jax.Array, tuple[jax.Array, jax.Array, dict[str, jax.Array]]]]
    init: Callable[[HyperParams], Any] = lambda hp: None  # the objective's state
    # (objective state, metrics of the step, hp) -> objective state: after each actor step
    adapt: Callable[[Any, dict[str, jax.Array], HyperParams], Any] | None = None
    # (agent, batch, key, hp) -> ({field: (B, ...)}, metrics): new values of the batch's `relabeled_fields`
    # before the actor step, which the loop writes back to the replay buffer (Learner.relabels)
    relabel: Callable[..., tuple[dict[str, jax.Array], dict[str, jax.Array]]] | None = None
    # the stored fields it relabels, each a copy of the executed action when collected (the critic keeps those)
    relabeled_fields: tuple[str, ...] = ()


def scored_candidates(actor: Actor, critics: Critics, agent: ActorCriticState, key: jax.Array, obs: jax.Array,
                      k: int) -> tuple[jax.Array, jax.Array]:
    """k actions per state from the current policy and their min(Q1, Q2) under the current critic, both without
    gradient: ((B, k, A), (B, k))."""
    candidates = sample_candidates(actor, agent.actor.params, key, obs, k)
    return candidates, jax.lax.stop_gradient(critics.rank(agent.critic.params, obs, candidates))


def make_critics(cfg: TrainConfig) -> tuple[Any, Critics]:
    """(the double critic network, its Critics view)."""
    critic = make_critic(cfg.critic_kind, cfg.critic_hidden, cfg.critic_depth, cfg.critic_norm == "layer")

    def min_q(params, obs, actions, anchor):
        return jnp.minimum(*critic.apply(params, obs, actions, anchor))

    def rank(params, obs, candidates):
        k = candidates.shape[1]
        flat = candidates.reshape((-1, candidates.shape[-1]))
        anchor = jnp.repeat(jax.lax.stop_gradient(candidates.mean(axis=1)), k, axis=0)
        return min_q(params, jnp.repeat(obs, k, axis=0), flat, anchor).reshape(obs.shape[0], k)

    return critic, Critics(min_q=min_q, rank=rank)


def make_actor_critic(cfg: TrainConfig, actor: Actor, parts: LearnerParts, name: str,
                      make_objective: Callable[[Critics], ActorObjective]) -> Learner:
    """The learner `name` improving its policy by `make_objective(critics)`."""
    critic, critics = make_critics(cfg)
    objective = make_objective(critics)
    min_q = critics.min_q
    rewards, bootstrap = parts.rewards, parts.bootstrap
    anchored = cfg.critic_kind == "local"

    def anchor_of(actor_params, key, obs):
        """The local critic's linearization point: the current policy's action, without gradient (None: the
        MLP critic needs none, and no actor pass is spent on it)."""
        return jax.lax.stop_gradient(actor.act(actor_params, key, obs)) if anchored else None

    def layers(obs: jax.Array) -> dict:
        key, actions = jax.random.key(0), jnp.zeros((obs.shape[0], parts.action_size))
        return {"actor": forward_layers(actor.init, key, obs),
                "critic": forward_layers(critic.init, key, obs, actions, actions)}

    def init(key: jax.Array, obs: jax.Array, hp: HyperParams) -> ActorCriticState:
        key_actor, key_critic = jax.random.split(key)
        actions = jnp.zeros((obs.shape[0], parts.action_size))
        actor_params = actor.init(key_actor, obs)
        critic_params = critic.init(key_critic, obs, actions, actions)
        return ActorCriticState(
            actor=Trainable.create(actor_params, hp.actor_lr, hp.weight_decay),
            critic=Trainable.create(critic_params, hp.critic_lr, hp.weight_decay),
            target_actor_params=actor_params if bootstrap else None,
            target_critic_params=critic_params if bootstrap else None,
            reward=rewards.init_for_learner(key, obs, parts.action_size, hp),
            reward_moments=init_moments() if cfg.critic_reward_norm else None,
            objective=objective.init(hp),
        )

    def targets(agent: ActorCriticState, batch, key: jax.Array, hp: HyperParams):
        """(y, updated reward moments): the critics' regression targets, without gradient."""
        key_recompute, key_target, key_smooth = jax.random.split(key, 3)
        reward = rewards.replayed(agent.reward, key_recompute, batch, hp)
        moments = agent.reward_moments
        if moments is not None:
            moments = update_moments(moments, reward)
            reward = (reward - moments.mean) / moments.std
        if bootstrap:
            next_actions = actor.act(agent.target_actor_params, key_target, batch["next_obs"])
            smoothing = jnp.clip(hp.target_noise * jax.random.normal(key_smooth, next_actions.shape),
                                 -hp.target_noise_clip, hp.target_noise_clip)
            smoothed = jnp.clip(next_actions + smoothing, -1, 1)
            next_q = min_q(agent.target_critic_params, batch["next_obs"], smoothed, next_actions)
            reward = reward + hp.gamma * (1.0 - batch["done"]) * next_q
        return jax.lax.stop_gradient(reward), moments

    def critic_loss(params, obs, actions, anchor, y):
        q1, q2 = critic.apply(params, obs, actions, anchor)
        return jnp.mean((q1 - y) ** 2 + (q2 - y) ** 2), jnp.mean(jnp.minimum(q1, q2))

    def update(agent: ActorCriticState, batches, key: jax.Array, hp: HyperParams, env_params=None):
        network_layers = layers(batches["obs"][0])

        def critic_step(agent: ActorCriticState, batch_and_key):
            batch, key = batch_and_key
            key_targets, key_anchor = jax.random.split(key)
            y, moments = targets(agent, batch, key_targets, hp)
            anchor = anchor_of(agent.actor.params, key_anchor, batch["obs"])
            loss, q_mean, critic_state, grads = agent.critic.step(critic_loss, batch["obs"], batch["action"], anchor, y)
            agent = agent.replace(critic=critic_state, reward_moments=moments)
            return agent, {"critic_loss": loss, "q_mean": q_mean,
                           **gradient_metrics("critic", grads, network_layers["critic"])}

        def group(agent: ActorCriticState, batches_and_key):
            batches, key = batches_and_key
            key_critic, key_actor, key_reward = jax.random.split(key, 3)
            agent, critic_metrics = jax.lax.scan(critic_step, agent,
                                                 (batches, jax.random.split(key_critic, cfg.policy_delay)))
            batch = jax.tree.map(lambda x: x[-1], batches)
            relabeled, relabel_metrics = {}, {}
            if objective.relabel is not None:
                relabeled, relabel_metrics = objective.relabel(agent, batch, jax.random.fold_in(key, 1), hp)
                batch = {**batch, **relabeled}
            loss, (policy_q, policy_actions, objective_metrics), actor_state, grads = agent.actor.step(
                objective.loss, agent, key_actor, batch, hp)
            agent = agent.replace(actor=actor_state)
            if objective.adapt is not None:
                agent = agent.replace(objective=objective.adapt(agent.objective, objective_metrics, hp))

            def advantage():  # A(s, a) = minQ(s, a) - minQ(s, pi(s)) under the updated critic
                replayed_q = min_q(agent.critic.params, batch["obs"], batch["action"], policy_actions)
                return jax.lax.stop_gradient(replayed_q - policy_q)

            reward_state, reward_metrics = rewards.learn(agent.reward, key_reward, batch, advantage, hp)
            agent = agent.replace(reward=reward_state)
            if bootstrap:  # soft updates, eq. (24), after every actor step (TD3's delayed targets)
                agent = agent.replace(
                    target_actor_params=optax.incremental_update(agent.actor.params, agent.target_actor_params,
                                                                 hp.tau),
                    target_critic_params=optax.incremental_update(agent.critic.params, agent.target_critic_params,
                                                                  hp.tau))
            metrics = {**mean_over_steps(critic_metrics), "actor_loss": loss, **objective_metrics,
                       **relabel_metrics, **gradient_metrics("actor", grads, network_layers["actor"]),
                       **reward_metrics}
            return agent, (metrics, relabeled)

        grouped = jax.tree.map(lambda x: x.reshape((cfg.actor_updates, cfg.policy_delay) + x.shape[1:]), batches)
        agent, (metrics, relabeled) = jax.lax.scan(group, agent, (grouped, jax.random.split(key, cfg.actor_updates)))
        metrics = {**mean_over_steps(metrics), "updated": jnp.ones(())}
        if objective.relabel is None:
            return agent, metrics
        # the relabelled rows: each group's last batch (the loop writes them back at these replay indices)
        return agent, metrics, {"index": grouped["index"][:, -1], **relabeled}

    def value(agent: ActorCriticState, obs: jax.Array, actions: jax.Array) -> jax.Array:
        """min(Q1, Q2)(s, a) in reward units at the policy's own actions (the local critic's anchor)."""
        return _in_reward_units(agent, min_q(agent.critic.params, obs, actions, jax.lax.stop_gradient(actions)))

    def rank(agent: ActorCriticState, obs: jax.Array, candidates: jax.Array) -> jax.Array:
        return _in_reward_units(agent, critics.rank(agent.critic.params, obs, candidates))

    return Learner(name=name, batches_per_update=cfg.critic_updates, init=init, update=update, value=value,
                   layers=layers, rank=rank, relabeled_fields=objective.relabeled_fields)


def _in_reward_units(agent: ActorCriticState, q: jax.Array) -> jax.Array:
    if agent.reward_moments is not None:  # back to reward units (exact for horizon 1)
        q = q * agent.reward_moments.std + agent.reward_moments.mean
    return q
