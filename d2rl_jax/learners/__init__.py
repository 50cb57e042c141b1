"""Learners (DESIGN §10) and their registry: `ddpg` (double critic; TD3's delay and target smoothing as settings;
CPQL's imitation term as an option), `apg` (the analytic policy gradient through the environment's differentiable
reward, the per-update ceiling), and the diffusion-policy learners that share DDPG's critic but regress the actor
toward actions the critic prefers instead of backpropagating through it: `dpmd`, `qvpo` (diffusion actor only) and
`dipo` (both actors). actor_critic.py is the machine the critic-based ones share.

A learner is a factory `(cfg, actor, parts) -> Learner` (d2rl_jax/learners/base.py) and, optionally, a check of
the config it needs; `TrainConfig.learner` names one. Adding a learner: its module and one line in LEARNERS (or
`register_learner` from outside the package, as tests/test_learners.py does); the loop, config.py and the
experiment CLIs take it by name.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from d2rl_jax.agents import Actor
from d2rl_jax.config import ConfigError, TrainConfig
from d2rl_jax.learners.actor_critic import ActorCriticState
from d2rl_jax.learners.apg import APGState, check_apg, make_apg
from d2rl_jax.learners.base import Learner, LearnerParts, RewardFn, Trainable, check_no_imitation
from d2rl_jax.learners.ddpg import DDPGState, make_ddpg
from d2rl_jax.learners.dipo import make_dipo
from d2rl_jax.learners.dpmd import check_sampling_learner, make_dpmd
from d2rl_jax.learners.qvpo import make_qvpo


class LearnerDef(NamedTuple):
    make: Callable[[TrainConfig, Actor, LearnerParts], Learner]
    check: Callable[[TrainConfig], None] | None = None  # raises ConfigError naming a field the learner cannot take


LEARNERS: dict[str, LearnerDef] = {
    "ddpg": LearnerDef(make_ddpg),
    "apg": LearnerDef(make_apg, check_apg),
    "dpmd": LearnerDef(make_dpmd, check_sampling_learner),
    "qvpo": LearnerDef(make_qvpo, check_sampling_learner),
    "dipo": LearnerDef(make_dipo, check_no_imitation),
}


def register_learner(name: str, make: Callable[[TrainConfig, Actor, LearnerParts], Learner],
                     check: Callable[[TrainConfig], None] | None = None) -> None:
    """Make `name` a value of `TrainConfig.learner` (and of the CLIs' --learner)."""
    if not name.isidentifier():
        raise ValueError(f"learner name {name!r} must be an identifier")
    LEARNERS[name] = LearnerDef(make, check)


def check_learner(cfg: TrainConfig) -> None:
    """Raise ConfigError when `cfg.learner` is not registered or the learner cannot take `cfg`."""
    if cfg.learner not in LEARNERS:
        raise ConfigError(f"TrainConfig.learner={cfg.learner!r} is invalid: must be one of {tuple(LEARNERS)}")
    entry = LEARNERS[cfg.learner]
    if entry.check is not None:
        entry.check(cfg)


def make_learner(cfg: TrainConfig, actor: Actor, parts: LearnerParts) -> Learner:
    check_learner(cfg)
    return LEARNERS[cfg.learner].make(cfg, actor, parts)


__all__ = ["LEARNERS", "APGState", "ActorCriticState", "DDPGState", "Learner", "LearnerDef", "LearnerParts",
           "RewardFn", "Trainable", "check_learner", "check_no_imitation", "make_learner", "register_learner"]
