"""Learners (DESIGN §10): `ddpg` (double critic; TD3's delay and target smoothing as settings) and `apg`
(the analytic policy gradient through the physics, the per-update ceiling). Each is a factory
`(cfg, actor, parts) -> Learner`; the training loop only calls `init` and `update`."""

from __future__ import annotations

from collections.abc import Callable

from d2rl_jax.agents import Actor
from d2rl_jax.config import TrainConfig
from d2rl_jax.learners.apg import make_apg
from d2rl_jax.learners.base import AgentState, Learner, LearnerParts, RewardFn
from d2rl_jax.learners.ddpg import make_ddpg

FACTORIES: dict[str, Callable[[TrainConfig, Actor, LearnerParts], Learner]] = {"ddpg": make_ddpg, "apg": make_apg}


def make_learner(cfg: TrainConfig, actor: Actor, parts: LearnerParts) -> Learner:
    return FACTORIES[cfg.learner](cfg, actor, parts)


__all__ = ["FACTORIES", "AgentState", "Learner", "LearnerParts", "RewardFn", "make_learner"]
