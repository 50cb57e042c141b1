"""The paper's full-duplex base station (DESIGN §1-3): physics, observation and action maps, mobility, the
traced parameters, the held-out references (C*, R', heuristic) and the drift scenarios."""

from d2rl_jax.env.full_duplex.actions import DecodedAction, decode_action
from d2rl_jax.env.full_duplex.env import Channels, EnvState, FullDuplexEnv, LinkRates
from d2rl_jax.env.full_duplex.observation import decode_observation, encode_observation
from d2rl_jax.env.full_duplex.params import EnvParams, clutter_coefficients, make_env_params

__all__ = ["Channels", "DecodedAction", "EnvParams", "EnvState", "FullDuplexEnv", "LinkRates", "clutter_coefficients",
           "decode_action", "decode_observation", "encode_observation", "make_env_params"]
