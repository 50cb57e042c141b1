"""DPMD (diffusion policy mirror descent; Ma et al., ICML 2025, and flow-rl's `dpmd.py`): the diffusion actor
regressed toward its own samples, reweighted by the critic, with no gradient through the chain.

Per state, K = `cfg.policy_samples` actions a_k from the current policy (no gradient), their values
Q_k = min(Q1, Q2)(s, a_k) standardized over the batch, Qbar = (Q - mean) / std (the authors' code has the slip
Q - mean / std), and weights w_k = K softmax_k(Qbar_k / lambda). The loss is mean_k w_k ||eps_theta(a_k,t; p, s)
- eps||^2 at a random step p: the eps-MSE of eqs. (8)/(22) under the tilted distribution pi(a|s) exp(Q/lambda),
the mirror-descent step. It acts on the unclipped network output toward in-range targets, so it cannot stick at
the boundary the way backpropagation through a hard x0 clip does. lambda is adapted after each step:
log lambda += `hp.lambda_lr` (KL - `hp.kl_target`), KL = mean_s sum_k p_k log(K p_k) the weights' divergence from
uniform, so the update's size stays fixed while the critic's spread changes.

The MLP actor is deterministic (its K samples coincide, every weight is 1): `dpmd` refuses it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from d2rl_jax.agents import Actor
from d2rl_jax.config import ConfigError, HyperParams, TrainConfig
from d2rl_jax.learners.actor_critic import (
    ActorCriticState,
    ActorObjective,
    Critics,
    make_actor_critic,
    scored_candidates,
)
from d2rl_jax.learners.base import Learner, LearnerParts, check_no_imitation

LOG_LAMBDA_RANGE = (-6.0, 4.0)  # lambda in [2.5e-3, 55] standardized-Q units: beyond, the softmax is argmax or flat


def check_sampling_learner(cfg: TrainConfig) -> None:
    """dpmd and qvpo weight several samples of one state: they need a stochastic actor, and take no imitation
    term (DDPG's option)."""
    if cfg.actor != "diffusion":
        raise ConfigError(f"TrainConfig.actor={cfg.actor!r} is invalid with learner={cfg.learner!r}: it weights "
                          "several samples of the policy per state, so the actor must be 'diffusion' (the MLP actor "
                          "is deterministic)")
    check_no_imitation(cfg)

def dpmd_objective(cfg: TrainConfig, actor: Actor, critics: Critics) -> ActorObjective:
    k = cfg.policy_samples

    def loss(params, agent: ActorCriticState, key: jax.Array, batch, hp: HyperParams):
        obs = batch["obs"]
        key_samples, key_loss = jax.random.split(key)
        candidates, q = scored_candidates(actor, critics, agent, key_samples, obs, k)
        standardized = (q - q.mean()) / (q.std() + 1e-6)
        lam = jnp.exp(agent.objective)
        probabilities = jax.nn.softmax(standardized / lam, axis=1)
        weights = k * probabilities
        kl = jnp.mean(jnp.sum(probabilities * jnp.log(weights + 1e-12), axis=1))
        imitation = actor.imitation_loss(params, key_loss, jnp.repeat(obs, k, axis=0),
                                         candidates.reshape((-1, candidates.shape[-1])), weights.reshape(-1))
        return imitation, (q[:, 0], candidates[:, 0], {"weight_kl": kl, "weight_max": jnp.mean(weights.max(axis=1)),
                                                       "temperature": lam})

    def adapt(log_lambda: jax.Array, metrics, hp: HyperParams) -> jax.Array:
        return jnp.clip(log_lambda + hp.lambda_lr * (metrics["weight_kl"] - hp.kl_target), *LOG_LAMBDA_RANGE)

    return ActorObjective(loss=loss, init=lambda hp: jnp.zeros((), jnp.float32), adapt=adapt)


def make_dpmd(cfg: TrainConfig, actor: Actor, parts: LearnerParts) -> Learner:
    return make_actor_critic(cfg, actor, parts, "dpmd", lambda critics: dpmd_objective(cfg, actor, critics))
