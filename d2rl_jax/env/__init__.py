"""Gymnax-style full-duplex environment: params, state, observation, action decoding."""

from d2rl_jax.env.actions import DecodedAction, decode_action
from d2rl_jax.env.fd_env import Channels, EnvState, FullDuplexEnv, RewardInfo
from d2rl_jax.env.observation import decode_observation, encode_observation
from d2rl_jax.env.params import EnvParams, clutter_coefficients, make_env_params

__all__ = [
    "Channels", "DecodedAction", "EnvParams", "EnvState", "FullDuplexEnv", "RewardInfo",
    "clutter_coefficients", "decode_action", "decode_observation", "encode_observation", "make_env_params",
]
