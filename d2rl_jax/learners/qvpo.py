"""QVPO (Q-weighted variational policy optimization; Ding et al., NeurIPS 2024, wadx2019/qvpo): the diffusion
actor regressed toward the best of its own samples, weighted by that sample's advantage, plus an entropy term.

Per state, K = `cfg.policy_samples` actions from the current policy (no gradient), Q_k = min(Q1, Q2)(s, a_k),
V = mean_k Q_k, a* the best sample and its weight w = max(Q(a*) - V, 0). The loss is the eps-MSE of eqs. (8)/(22)
on (s, a*) weighted by w, plus QVPO's entropy term: a uniform action in [-1, 1]^A per state with weight
`hp.entropy_weight` x w, which keeps the policy's spread. The weights are normalized by their sum (a weighted
mean; QVPO's plain mean differs by a per-batch factor that Adam's step size absorbs). No gradient through the chain.

The MLP actor is deterministic (its K samples coincide, every weight is 0): `qvpo` refuses it.
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


def qvpo_objective(cfg: TrainConfig, actor: Actor, critics: Critics) -> ActorObjective:
    k = cfg.policy_samples

    def loss(params, agent: ActorCriticState, key: jax.Array, batch, hp: HyperParams):
        obs = batch["obs"]
        key_samples, key_uniform, key_loss = jax.random.split(key, 3)
        candidates, q = scored_candidates(actor, critics, agent, key_samples, obs, k)
        best_action = best_candidate(candidates, q)
        weight = jnp.maximum(q.max(axis=1) - q.mean(axis=1), 0.0)
        uniform = jax.random.uniform(key_uniform, best_action.shape, minval=-1.0, maxval=1.0)
        imitation = actor.imitation_loss(params, key_loss, jnp.concatenate([obs, obs]),
                                         jnp.concatenate([best_action, uniform]),
                                         jnp.concatenate([weight, hp.entropy_weight * weight]))
        return imitation, (q[:, 0], candidates[:, 0], {"advantage_weight": jnp.mean(weight)})

    return ActorObjective(loss=loss)


def make_qvpo(cfg: TrainConfig, actor: Actor, parts: LearnerParts) -> Learner:
    return make_actor_critic(cfg, actor, parts, "qvpo", lambda critics: qvpo_objective(cfg, actor, critics))
