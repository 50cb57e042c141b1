"""Gymnax-style environments through one contract (d2rl_jax/env/base.py) and their registry.

    env = make_env(cfg.env)          # the environment a TrainConfig's env config names

Adding an environment: a module with its config (registered with `d2rl_jax.config.env_config`) and its
environment class, and one line in ENVIRONMENTS (docs/architecture.md).
"""

from __future__ import annotations

from d2rl_jax.config import ConfigError
from d2rl_jax.env.base import References, RewardInfo, no_references, random_action_rates, sample_states
from d2rl_jax.env.full_duplex import (
    Channels,
    DecodedAction,
    EnvParams,
    EnvState,
    FullDuplexEnv,
    clutter_coefficients,
    decode_action,
    decode_observation,
    encode_observation,
    make_env_params,
)
from d2rl_jax.env.gdmopt_power import GdmoptPowerConfig, GdmoptPowerEnv

# name (the config's env_name) -> environment class, constructed from its config
ENVIRONMENTS = {
    "full_duplex": FullDuplexEnv,
    "gdmopt_power": GdmoptPowerEnv,
}


def make_env(env_cfg):
    """The environment of a registered config."""
    name = getattr(env_cfg, "env_name", None)
    if name not in ENVIRONMENTS:
        raise ConfigError(f"TrainConfig.env={type(env_cfg).__name__} is invalid: its environment {name!r} is not "
                          f"registered; registered: {tuple(ENVIRONMENTS)}")
    return ENVIRONMENTS[name](env_cfg)


__all__ = ["ENVIRONMENTS", "Channels", "DecodedAction", "EnvParams", "EnvState", "FullDuplexEnv", "GdmoptPowerConfig",
           "GdmoptPowerEnv", "References", "RewardInfo", "clutter_coefficients", "decode_action",
           "decode_observation", "encode_observation", "make_env", "make_env_params", "no_references",
           "random_action_rates", "sample_states"]
