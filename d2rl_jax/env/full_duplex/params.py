"""Traced environment parameters (gymnax's `EnvParams`): every number the physics consumes.

`EnvParams` is a pytree of arrays, so a batch of parameter sets can be vmapped and a run can
switch to another set mid-way (environment drift) without recompiling. Shapes and code paths
live in the static `EnvConfig`.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from d2rl_jax.config import EnvConfig
from d2rl_jax.env.full_duplex import physics


@struct.dataclass
class EnvParams:
    channel_gain_rho0: jax.Array
    pathloss_exponent: jax.Array
    bs_height_m: jax.Array
    cell_radius_m: jax.Array
    noise_ul: jax.Array  # sigma_r^2 in W
    noise_dl: jax.Array  # sigma_k^2 in W
    bs_power_max: jax.Array  # P_max in W
    ul_power_max: jax.Array  # (L,) P_l in W
    clutter: jax.Array  # G, (N_r, N_t) complex
    user_speed_mps: jax.Array
    step_time_s: jax.Array
    # Where users are placed (reset, iid mobility): the sector |phi - center| <= half_width of the cell,
    # the whole disc by default; a hotspot drift narrows it.
    sector_center_rad: jax.Array
    sector_half_width_rad: jax.Array
    # Observation scales are fixed at creation (1/sigma of the configured noise) so that a
    # noise drift changes the physics, not the meaning of the observation features.
    obs_scale_ul: jax.Array
    obs_scale_dl: jax.Array


def clutter_coefficients(cfg: EnvConfig) -> np.ndarray:
    """beta_f with |beta_f|^2 = 10^(INR/10) sigma_r^2 and uniform phases fixed by the seed."""
    rng = np.random.default_rng(cfg.clutter_phase_seed)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=cfg.num_clutter)
    magnitude = np.sqrt(10.0 ** (cfg.clutter_inr_db / 10.0) * cfg.noise_ul_w)
    return magnitude * np.exp(1j * phases)


def make_env_params(cfg: EnvConfig) -> EnvParams:
    """The default parameters of a configured scenario (float32 / complex64)."""
    f32 = lambda x: jnp.asarray(x, jnp.float32)  # noqa: E731
    angles = jnp.deg2rad(f32(np.asarray(cfg.clutter_angles_deg, np.float32)))
    clutter = physics.clutter_matrix(
        angles, jnp.asarray(clutter_coefficients(cfg), jnp.complex64),
        cfg.num_rx_antennas, cfg.num_tx_antennas,
    )
    return EnvParams(
        channel_gain_rho0=f32(cfg.channel_gain_rho0),
        pathloss_exponent=f32(cfg.pathloss_exponent),
        bs_height_m=f32(cfg.bs_height_m),
        cell_radius_m=f32(cfg.cell_radius_m),
        noise_ul=f32(cfg.noise_ul_w),
        noise_dl=f32(cfg.noise_dl_w),
        bs_power_max=f32(cfg.bs_power_max_w),
        ul_power_max=jnp.full((cfg.num_ul_users,), cfg.ul_power_max_w, jnp.float32),
        clutter=clutter.astype(jnp.complex64),
        user_speed_mps=f32(cfg.user_speed_mps),
        step_time_s=f32(cfg.step_time_s),
        sector_center_rad=f32(0.0),
        sector_half_width_rad=f32(np.pi),
        obs_scale_ul=f32(1.0 / np.sqrt(cfg.noise_ul_w)),
        obs_scale_dl=f32(1.0 / np.sqrt(cfg.noise_dl_w)),
    )
