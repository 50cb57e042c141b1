"""Decoding a raw action vector into a feasible allocation (w, v, p) (DESIGN §2).

Layout of the raw vector: [w (2 L N_r) | v (2 K N_t) | p (L)] for the `learned` receiver and
[v | p] for the `mmse` receiver; complex blocks are (rows, cols, re/im) row-major.

Feasibility holds for ANY input, +-inf and NaN included:
- non-finite entries are replaced by 0 (and the action is flagged, never propagated as NaN);
- v = sqrt(P_max) u / max(1, ||u||): an output with ||u|| >= 1 spends the whole budget (13b);
- p_l = P_l (clip(a_l, -1, 1) + 1) / 2 lies in [0, P_l] (13c);
- w_l = raw row (SINR (12) ignores its scale); an all-zero row becomes the uniform vector.
Finite entries are first clipped to +-1e30 (XLA's CPU division may flush 1/x to zero for
|x| near float32's max) and norms are taken after dividing by the largest |entry|, so huge or
tiny finite inputs neither overflow nor underflow.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp

from d2rl_jax.config import EnvConfig
from d2rl_jax.env.full_duplex import physics
from d2rl_jax.env.full_duplex.params import EnvParams

_RAW_LIMIT = 1e30


class DecodedAction(NamedTuple):
    w: jax.Array  # (L, N_r) complex
    v: jax.Array  # (K, N_t) complex
    p: jax.Array  # (L,)
    nonfinite: jax.Array  # () bool: the raw action held NaN or +-inf


def _max_abs_scaled(x: jax.Array, axis) -> tuple[jax.Array, jax.Array]:
    """x / max|x| along axis (0 stays 0) and that max."""
    m = jnp.max(jnp.abs(x), axis=axis, keepdims=True)
    return x / jnp.where(m > 0, m, 1.0), m


def _complex_block(x: jax.Array, rows: int, cols: int) -> jax.Array:
    x = x.reshape(rows, cols, 2)
    return jax.lax.complex(x[..., 0], x[..., 1])


def decode_action(
    raw: jax.Array, cfg: EnvConfig, params: EnvParams, h: jax.Array, G: jax.Array
) -> DecodedAction:
    """raw (action_size,) -> feasible (w, v, p). `h` and `G` are used by the MMSE receiver only."""
    chex.assert_shape(raw, (cfg.action_size,))
    raw = raw.astype(jnp.float32)
    finite = jnp.isfinite(raw)
    raw = jnp.clip(jnp.where(finite, raw, 0.0), -_RAW_LIMIT, _RAW_LIMIT)
    K, L, Nt, Nr = cfg.num_dl_users, cfg.num_ul_users, cfg.num_tx_antennas, cfg.num_rx_antennas
    n_w = 2 * L * Nr if cfg.receiver == "learned" else 0
    n_v = 2 * K * Nt
    u, u_max = _max_abs_scaled(raw[n_w:n_w + n_v], axis=None)
    # u / max(1, ||u||) written with ||u|| = u_max ||u / u_max||, so nothing overflows.
    denominator = jnp.maximum(1.0 / jnp.where(u_max > 0, u_max, 1.0), jnp.linalg.norm(u))
    v = _complex_block(jnp.sqrt(params.bs_power_max) * u / denominator, K, Nt)
    p = params.ul_power_max * (jnp.clip(raw[n_w + n_v:], -1.0, 1.0) + 1.0) / 2.0
    if cfg.receiver == "learned":
        w, w_max = _max_abs_scaled(_complex_block(raw[:n_w], L, Nr), axis=-1)
        uniform = jnp.full_like(w, 1.0 / jnp.sqrt(Nr))
        w = jnp.where(w_max > 0, w, uniform)
    else:
        w = physics.mmse_receivers(h, p, G, physics.transmit_covariance(v), params.noise_ul)
    return DecodedAction(w=w, v=v, p=p, nonfinite=~jnp.all(finite))
