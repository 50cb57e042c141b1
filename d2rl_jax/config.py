"""Frozen, validated configuration for the full-duplex (FD) environment.

`EnvConfig` holds every setting of the system model (paper Table I) and of the MDP
(DESIGN §1-2). Fields that change array shapes or code paths (user and antenna counts,
receiver mode, mobility model, horizon) are *static*: changing them means recompiling.
Everything numeric that the physics consumes is also copied into the traced
`d2rl_jax.env.EnvParams` pytree, so it can be vmapped or changed mid-run (drift).

Every field is checked when the dataclass is created; a bad value raises
`ConfigError` naming the field, the value, and what is allowed.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

RECEIVERS = ("learned", "mmse")
MOBILITY_MODELS = ("random_walk", "iid")


class ConfigError(ValueError):
    """A configuration field holds a value outside what is allowed."""


def _require(ok: bool, field: str, value: Any, allowed: str) -> None:
    if not ok:
        raise ConfigError(f"{field}={value!r} is invalid: {allowed}")


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _positive_int(cls_name: str, name: str, value: Any) -> None:
    _require(
        isinstance(value, int) and not isinstance(value, bool) and value >= 1,
        f"{cls_name}.{name}",
        value,
        "must be an integer >= 1",
    )


def _positive_float(cls_name: str, name: str, value: Any) -> None:
    _require(_finite(value) and value > 0, f"{cls_name}.{name}", value, "must be a finite number > 0")


def dbm_to_watt(dbm: float) -> float:
    return 10.0 ** ((dbm - 30.0) / 10.0)


@dataclasses.dataclass(frozen=True)
class EnvConfig:
    """The FD base-station scenario. Defaults are the paper's Table I (DESIGN §1)."""

    # Users and arrays (static: they fix every array shape).
    num_dl_users: int = 6  # K
    num_ul_users: int = 4  # L
    num_tx_antennas: int = 6  # N_t
    num_rx_antennas: int = 6  # N_r
    # Geometry and propagation.
    cell_radius_m: float = 300.0
    bs_height_m: float = 100.0
    pathloss_exponent: float = 3.6
    channel_gain_rho0: float = 4.16e-6  # power gain at 1 m
    user_array_gain: bool = True  # DESIGN §1: user channels carry sqrt(N) array gain
    # Noise: total in-band noise power (DESIGN §1 reads Table I's "/Hz" as a typo).
    noise_ul_dbm: float = -97.0  # sigma_r^2
    noise_dl_dbm: float = -97.0  # sigma_k^2
    # Power budgets.
    bs_power_max_w: float = 3.0  # P_max, eq. (13b)
    ul_power_max_w: float = 1.0  # P_l for every uplink user, eq. (13c)
    # Clutter: F signal-dependent interferers, |beta_f|^2 = 10^(INR/10) * sigma_r^2.
    clutter_angles_deg: tuple[float, ...] = (-50.0, 20.0)
    clutter_inr_db: float = 20.0
    clutter_phase_seed: int = 0  # phases are uniform, fixed per scenario by this seed
    # MDP (DESIGN §2).
    mobility: str = "random_walk"
    user_speed_mps: float = 1.5
    step_time_s: float = 1.0
    horizon: int = 1
    receiver: str = "learned"

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in ("num_dl_users", "num_ul_users", "num_tx_antennas", "num_rx_antennas", "horizon"):
            _positive_int(name, f, getattr(self, f))
        for f in ("cell_radius_m", "pathloss_exponent", "channel_gain_rho0", "bs_power_max_w",
                  "ul_power_max_w", "step_time_s"):
            _positive_float(name, f, getattr(self, f))
        _require(_finite(self.bs_height_m) and self.bs_height_m >= 0, f"{name}.bs_height_m",
                 self.bs_height_m, "must be a finite number >= 0")
        _require(_finite(self.user_speed_mps) and self.user_speed_mps >= 0, f"{name}.user_speed_mps",
                 self.user_speed_mps, "must be a finite number >= 0")
        for f in ("noise_ul_dbm", "noise_dl_dbm", "clutter_inr_db"):
            _require(_finite(getattr(self, f)), f"{name}.{f}", getattr(self, f), "must be a finite number")
        _require(isinstance(self.user_array_gain, bool), f"{name}.user_array_gain",
                 self.user_array_gain, "must be True or False")
        _require(
            isinstance(self.clutter_angles_deg, tuple)
            and all(_finite(a) and -90.0 <= a <= 90.0 for a in self.clutter_angles_deg),
            f"{name}.clutter_angles_deg", self.clutter_angles_deg,
            "must be a tuple (possibly empty) of angles in degrees within [-90, 90]",
        )
        _require(isinstance(self.clutter_phase_seed, int), f"{name}.clutter_phase_seed",
                 self.clutter_phase_seed, "must be an integer")
        _require(self.mobility in MOBILITY_MODELS, f"{name}.mobility", self.mobility,
                 f"must be one of {MOBILITY_MODELS}")
        _require(self.receiver in RECEIVERS, f"{name}.receiver", self.receiver,
                 f"must be one of {RECEIVERS}")

    # Derived sizes -------------------------------------------------------------------------
    @property
    def num_users(self) -> int:
        return self.num_dl_users + self.num_ul_users

    @property
    def num_clutter(self) -> int:
        return len(self.clutter_angles_deg)

    @property
    def observation_size(self) -> int:
        """2(K+L) positions + re/im of g (K x N_t) and h (L x N_r): 140 in the paper preset."""
        return 2 * self.num_users + 2 * self.num_tx_antennas * self.num_dl_users \
            + 2 * self.num_rx_antennas * self.num_ul_users

    @property
    def action_size(self) -> int:
        """124 reals (w, v, p) for the learned receiver, 76 (v, p) for the MMSE one (paper preset)."""
        size = 2 * self.num_tx_antennas * self.num_dl_users + self.num_ul_users
        if self.receiver == "learned":
            size += 2 * self.num_rx_antennas * self.num_ul_users
        return size

    @property
    def noise_ul_w(self) -> float:
        return dbm_to_watt(self.noise_ul_dbm)

    @property
    def noise_dl_w(self) -> float:
        return dbm_to_watt(self.noise_dl_dbm)

    def replace(self, **changes: Any) -> EnvConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


ENV_PRESETS: dict[str, EnvConfig] = {
    # Table I of the paper with DESIGN §1's readings.
    "paper": EnvConfig(),
    # The paper's system, the preset `make run` uses (training settings shrink in later steps).
    "quick": EnvConfig(),
    # A small system for fast tests: 2 + 2 users, 4 x 4 antennas.
    "small": EnvConfig(num_dl_users=2, num_ul_users=2, num_tx_antennas=4, num_rx_antennas=4),
}


def env_preset(name: str) -> EnvConfig:
    if name not in ENV_PRESETS:
        raise ConfigError(f"preset={name!r} is invalid: must be one of {tuple(ENV_PRESETS)}")
    return ENV_PRESETS[name]


SCHEDULE_KINDS = ("vp", "linear", "cosine")


@dataclasses.dataclass(frozen=True)
class DiffusionConfig:
    """A diffusion network and its sampler (DESIGN §4, Table II). All fields are static."""

    num_steps: int = 6  # P, Table II
    schedule: str = "vp"
    b_min: float = 0.1  # VP schedule
    b_max: float = 10.0
    beta_start: float = 1e-4  # linear schedule
    beta_end: float = 2e-2
    hidden_dim: int = 256  # Table II
    depth: int = 4  # hidden layers: AENPNN / SENPNN 4, RENPNN 5
    time_embed_dim: int = 16
    cond_embed_dim: int = 0  # 0: the condition enters the trunk unencoded
    clip_x0: float | None = 1.0  # clip of the x0-prediction; None disables it

    def __post_init__(self) -> None:
        name = type(self).__name__
        for f in ("num_steps", "hidden_dim", "depth"):
            _positive_int(name, f, getattr(self, f))
        _require(self.schedule in SCHEDULE_KINDS, f"{name}.schedule", self.schedule,
                 f"must be one of {SCHEDULE_KINDS}")
        _require(isinstance(self.time_embed_dim, int) and self.time_embed_dim >= 2 and self.time_embed_dim % 2 == 0,
                 f"{name}.time_embed_dim", self.time_embed_dim, "must be an even integer >= 2")
        _require(isinstance(self.cond_embed_dim, int) and self.cond_embed_dim >= 0, f"{name}.cond_embed_dim",
                 self.cond_embed_dim, "must be an integer >= 0")
        _require(_finite(self.b_min) and _finite(self.b_max) and 0 < self.b_min < self.b_max, f"{name}.b_min/b_max",
                 (self.b_min, self.b_max), "must satisfy 0 < b_min < b_max")
        _require(_finite(self.beta_start) and _finite(self.beta_end) and 0 < self.beta_start <= self.beta_end < 1,
                 f"{name}.beta_start/beta_end", (self.beta_start, self.beta_end),
                 "must satisfy 0 < beta_start <= beta_end < 1")
        _require(self.clip_x0 is None or (_finite(self.clip_x0) and self.clip_x0 > 0), f"{name}.clip_x0",
                 self.clip_x0, "must be None or a finite number > 0")

    def replace(self, **changes: Any) -> DiffusionConfig:
        return dataclasses.replace(self, **changes)
