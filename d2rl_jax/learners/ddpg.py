"""DDPG with a double critic (DESIGN §5, eqs. 21, 23, 24), with the settings a learning study needs.

One `update` (one epoch of Algorithm 2) runs `cfg.actor_updates` groups, scanned; each group takes
`cfg.policy_delay` critic steps (each on its own replay batch), then one actor step on the group's last
batch, the reward network's step (learned designs) and the soft target updates (TD3's delay; with
critic_updates = policy_delay = 1 it is the paper's one update of every network per epoch).

critic: mean over the batch of (Q1 - y)^2 + (Q2 - y)^2, y = r~ + gamma (1 - done) min(Q1', Q2')(s', a'),
        r~ the reward, standardized by running moments with `critic_reward_norm`; a' = pi'(s') plus TD3's
        clipped smoothing noise (`target_noise`); y = r~ when the horizon is 1 (no bootstrap).
actor:  -mean min(Q1, Q2)(s, pi(s)); for the diffusion actor pi(s) is a Mode I sample and the gradient
        flows through every reverse step.
The critic kind (`cfg.critic_kind`, agents/critic.py) is "mlp" or "local"; the local critic is linear in the
action around an anchor, the current policy's action without gradient: replayed actions are compared with
what the policy does now, and the actor's gradient is the critic's action head g(s).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from d2rl_jax.agents import Actor, make_critic
from d2rl_jax.config import TrainConfig
from d2rl_jax.learners.base import AgentState, HParams, Learner, LearnerParts, gradient_metrics, mean_over_steps
from d2rl_jax.metrics import forward_layers
from d2rl_jax.moments import init_moments, update_moments
from d2rl_jax.optim import gradient_step, init_optimizer

# The reward network's init key is a `fold_in` stream: a learned design leaves the actor's and critics' draws as
# they are with a computed one.
_STREAM_REWARD_NET = 7


def make_ddpg(cfg: TrainConfig, actor: Actor, parts: LearnerParts) -> Learner:
    critic = make_critic(cfg.critic_kind, cfg.critic_hidden, cfg.critic_depth, cfg.critic_norm == "layer")
    rewards, bootstrap = parts.rewards, parts.bootstrap
    anchored = cfg.critic_kind == "local"

    def min_q(params, obs, actions, anchor):
        return jnp.minimum(*critic.apply(params, obs, actions, anchor))

    def anchor_of(actor_params, key, obs):
        """The local critic's linearization point: the current policy's action, without gradient (None: the
        MLP critic needs none, and no actor pass is spent on it)."""
        return jax.lax.stop_gradient(actor.act(actor_params, key, obs)) if anchored else None

    def layers(obs: jax.Array) -> dict:
        key, actions = jax.random.key(0), jnp.zeros((obs.shape[0], parts.action_size))
        return {"actor": forward_layers(actor.init, key, obs),
                "critic": forward_layers(critic.init, key, obs, actions, actions)}

    def init(key: jax.Array, obs: jax.Array, hp: HParams) -> AgentState:
        key_actor, key_critic = jax.random.split(key)
        actions = jnp.zeros((obs.shape[0], parts.action_size))
        actor_params = actor.init(key_actor, obs)
        critic_params = critic.init(key_critic, obs, actions, actions)
        return AgentState(
            actor_params=actor_params,
            actor_opt=init_optimizer(actor_params, hp["actor_lr"], hp["weight_decay"]),
            critic_params=critic_params,
            critic_opt=init_optimizer(critic_params, hp["critic_lr"], hp["weight_decay"]),
            target_actor_params=actor_params if bootstrap else None,
            target_critic_params=critic_params if bootstrap else None,
            reward=rewards.init(jax.random.fold_in(key, _STREAM_REWARD_NET), obs, actions, hp),
            reward_moments=init_moments() if cfg.critic_reward_norm else None,
        )

    def targets(agent: AgentState, batch, key: jax.Array, hp: HParams):
        """(y, updated reward moments): the critics' regression targets, without gradient."""
        key_recompute, key_target, key_smooth = jax.random.split(key, 3)
        reward = batch["reward"]
        if rewards.learned and cfg.reward_at_sampling:
            reward, _ = rewards.shaped(agent.reward, key_recompute, batch["obs"], batch["action"], batch["designed"],
                                       hp)
        moments = agent.reward_moments
        if moments is not None:
            moments = update_moments(moments, reward)
            reward = (reward - moments.mean) / moments.std
        if bootstrap:
            next_actions = actor.act(agent.target_actor_params, key_target, batch["next_obs"])
            smoothing = jnp.clip(hp["target_noise"] * jax.random.normal(key_smooth, next_actions.shape),
                                 -hp["target_noise_clip"], hp["target_noise_clip"])
            smoothed = jnp.clip(next_actions + smoothing, -1, 1)
            next_q = min_q(agent.target_critic_params, batch["next_obs"], smoothed, next_actions)
            reward = reward + hp["gamma"] * (1.0 - batch["done"]) * next_q
        return jax.lax.stop_gradient(reward), moments

    def critic_loss(params, obs, actions, anchor, y):
        q1, q2 = critic.apply(params, obs, actions, anchor)
        return jnp.mean((q1 - y) ** 2 + (q2 - y) ** 2), jnp.mean(jnp.minimum(q1, q2))

    def actor_loss(params, critic_params, key, obs):
        """(loss, (min(Q1, Q2)(s, pi(s)) per row, pi(s))): the value is the baseline of the reward nets'
        advantage, the action the local critic's anchor."""
        actions = actor.act(params, key, obs)
        policy_q = min_q(critic_params, obs, actions, jax.lax.stop_gradient(actions))
        return -jnp.mean(policy_q), (policy_q, jax.lax.stop_gradient(actions))

    def update(agent: AgentState, batches, key: jax.Array, hp: HParams, env_params=None):
        network_layers = layers(batches["obs"][0])

        def critic_step(agent: AgentState, batch_and_key):
            batch, key = batch_and_key
            key_targets, key_anchor = jax.random.split(key)
            y, moments = targets(agent, batch, key_targets, hp)
            anchor = anchor_of(agent.actor_params, key_anchor, batch["obs"])
            loss, q_mean, params, opt, grads = gradient_step(critic_loss, agent.critic_params, agent.critic_opt,
                                                             batch["obs"], batch["action"], anchor, y)
            agent = agent.replace(critic_params=params, critic_opt=opt, reward_moments=moments)
            return agent, {"critic_loss": loss, "q_mean": q_mean,
                           **gradient_metrics("critic", grads, network_layers["critic"])}

        def group(agent: AgentState, batches_and_key):
            batches, key = batches_and_key
            key_critic, key_actor, key_reward = jax.random.split(key, 3)
            agent, critic_metrics = jax.lax.scan(critic_step, agent,
                                                 (batches, jax.random.split(key_critic, cfg.policy_delay)))
            batch = jax.tree.map(lambda x: x[-1], batches)
            loss, (policy_q, policy_actions), actor_params, actor_opt, grads = gradient_step(
                actor_loss, agent.actor_params, agent.actor_opt, agent.critic_params, key_actor, batch["obs"])
            agent = agent.replace(actor_params=actor_params, actor_opt=actor_opt)
            metrics = {**mean_over_steps(critic_metrics), "actor_loss": loss,
                       **gradient_metrics("actor", grads, network_layers["actor"])}
            if rewards.learned:  # A(s, a) = minQ(s, a) - minQ(s, pi(s)) under the updated critic
                replayed_q = min_q(agent.critic_params, batch["obs"], batch["action"], policy_actions)
                advantage = jax.lax.stop_gradient(replayed_q - policy_q)
                reward_state, reward_metrics = rewards.update(agent.reward, key_reward, batch["obs"],
                                                              batch["action"], batch["designed"], advantage, hp)
                agent = agent.replace(reward=reward_state)
                metrics.update(reward_metrics)
            if bootstrap:  # soft updates, eq. (24), after every actor step (TD3's delayed targets)
                agent = agent.replace(
                    target_actor_params=optax.incremental_update(agent.actor_params, agent.target_actor_params,
                                                                 hp["tau"]),
                    target_critic_params=optax.incremental_update(agent.critic_params, agent.target_critic_params,
                                                                  hp["tau"]))
            return agent, metrics

        grouped = jax.tree.map(lambda x: x.reshape((cfg.actor_updates, cfg.policy_delay) + x.shape[1:]), batches)
        agent, metrics = jax.lax.scan(group, agent, (grouped, jax.random.split(key, cfg.actor_updates)))
        return agent, {**mean_over_steps(metrics), "updated": jnp.ones(())}

    def value(agent: AgentState, obs: jax.Array, actions: jax.Array) -> jax.Array:
        """min(Q1, Q2)(s, a) in reward units at the policy's own actions (the local critic's anchor)."""
        q = min_q(agent.critic_params, obs, actions, jax.lax.stop_gradient(actions))
        if agent.reward_moments is not None:  # back to reward units (exact for horizon 1)
            q = q * agent.reward_moments.std + agent.reward_moments.mean
        return q

    return Learner(name="ddpg", batches_per_update=cfg.critic_updates, init=init, update=update, value=value,
                   layers=layers)
