"""Observation features (DESIGN §2) and their inverse.

obs = [positions / R (2(K+L)) | Re, Im of g * (1/sigma_dl) (2 K N_t) | Re, Im of h * (1/sigma_ul) (2 L N_r)]
so every entry is O(1); 140 features in the paper preset. `decode_observation` inverts it,
which is how the channels of a generated state are recovered (state exploration).
"""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp

from d2rl_jax.config import EnvConfig
from d2rl_jax.env.full_duplex.params import EnvParams


def _to_reals(z: jax.Array) -> jax.Array:
    return jnp.stack([jnp.real(z), jnp.imag(z)], axis=-1).reshape(-1)


def _to_complex(x: jax.Array, rows: int, cols: int) -> jax.Array:
    x = x.reshape(rows, cols, 2)
    return jax.lax.complex(x[..., 0], x[..., 1])


def encode_observation(
    positions: jax.Array, g: jax.Array, h: jax.Array, params: EnvParams
) -> jax.Array:
    obs = jnp.concatenate([
        (positions / params.cell_radius_m).reshape(-1),
        _to_reals(g) * params.obs_scale_dl,
        _to_reals(h) * params.obs_scale_ul,
    ])
    return obs.astype(jnp.float32)


def decode_observation(
    obs: jax.Array, cfg: EnvConfig, params: EnvParams
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """obs (observation_size,) -> (positions (K+L, 2) in m, g (K, N_t), h (L, N_r))."""
    chex.assert_shape(obs, (cfg.observation_size,))
    n_pos = 2 * cfg.num_users
    n_g = 2 * cfg.num_dl_users * cfg.num_tx_antennas
    positions = obs[:n_pos].reshape(cfg.num_users, 2) * params.cell_radius_m
    g = _to_complex(obs[n_pos:n_pos + n_g] / params.obs_scale_dl, cfg.num_dl_users, cfg.num_tx_antennas)
    h = _to_complex(obs[n_pos + n_g:] / params.obs_scale_ul, cfg.num_ul_users, cfg.num_rx_antennas)
    return positions, g, h
