"""Environment drift (the retraining scenario of Sec. I): named changes of the traced `EnvParams`.

A scenario maps the scenario's parameters before the drift to those after it; the training loop's drift
component (d2rl_jax/training/drift.py) picks one set or the other from a traced epoch and drift epoch, so a
run switches mid-way without recompiling and drift epochs vmap like any hyperparameter. Shapes never change:
a drift that would change K or L (`load`) is out of scope (it is a different static config, i.e. a new network).

    clutter_move   the clutter interferers move and change strength (default -50/20 deg -> -10/45 deg,
                   INR unchanged unless given); their phases keep the scenario's seed
    noise          the noise floor of both links rises by `noise_rise_db`
    hotspot        users crowd into a sector of the cell (default 60 deg wide around 30 deg) instead of the
                   whole disc: placement (reset, iid mobility) draws from the sector, and at the drift epoch
                   every user is placed anew there (`relocates`). Random-walk users then stray slowly
                   (1.5 m per step in a 300 m cell by default: ~35 m over 500 epochs), so the crowd persists.

Observation scales stay those of the original scenario (`EnvParams` fixes them at creation): after
a noise drift the agent sees the same features for the same channels, and only the physics moves.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from d2rl_jax.config import ConfigError, EnvConfig
from d2rl_jax.env.full_duplex.params import EnvParams, make_env_params

DRIFT_SCENARIOS = ("clutter_move", "noise", "hotspot")


@dataclasses.dataclass(frozen=True)
class DriftScenario:
    name: str
    clutter_angles_deg: tuple[float, ...] = (-10.0, 45.0)  # clutter_move: the angles after the drift
    clutter_inr_db: float | None = None  # clutter_move: the INR after the drift (None: unchanged)
    noise_rise_db: float = 6.0  # noise: the rise of both noise floors
    hotspot_center_deg: float = 30.0  # hotspot: the sector's centre
    hotspot_width_deg: float = 60.0  # hotspot: the sector's full width

    def __post_init__(self) -> None:
        if self.name not in DRIFT_SCENARIOS:
            raise ConfigError(f"DriftScenario.name={self.name!r} is invalid: must be one of {DRIFT_SCENARIOS}")
        if not (isinstance(self.noise_rise_db, int | float) and -60.0 <= self.noise_rise_db <= 60.0):
            raise ConfigError(f"DriftScenario.noise_rise_db={self.noise_rise_db!r} is invalid: must be a number of "
                              "dB in [-60, 60]")
        if not (isinstance(self.hotspot_width_deg, int | float) and 0.0 < self.hotspot_width_deg <= 360.0):
            raise ConfigError(f"DriftScenario.hotspot_width_deg={self.hotspot_width_deg!r} is invalid: must be a "
                              "number of degrees in (0, 360]")
        if not (isinstance(self.hotspot_center_deg, int | float) and abs(self.hotspot_center_deg) <= 360.0):
            raise ConfigError(f"DriftScenario.hotspot_center_deg={self.hotspot_center_deg!r} is invalid: must be "
                              "a number of degrees in [-360, 360]")


def drifted_params(cfg: EnvConfig, scenario: DriftScenario) -> EnvParams:
    """The parameters of `cfg`'s scenario after the drift."""
    before = make_env_params(cfg)
    if scenario.name == "clutter_move":
        if len(scenario.clutter_angles_deg) != cfg.num_clutter:
            raise ConfigError(f"DriftScenario.clutter_angles_deg={scenario.clutter_angles_deg!r} is invalid: the "
                              f"scenario has {cfg.num_clutter} clutter interferers (shapes cannot drift)")
        moved = cfg.replace(clutter_angles_deg=tuple(float(a) for a in scenario.clutter_angles_deg),
                            clutter_inr_db=cfg.clutter_inr_db if scenario.clutter_inr_db is None
                            else float(scenario.clutter_inr_db))
        return before.replace(clutter=make_env_params(moved).clutter)
    if scenario.name == "hotspot":
        return before.replace(sector_center_rad=jnp.float32(np.deg2rad(scenario.hotspot_center_deg)),
                              sector_half_width_rad=jnp.float32(np.deg2rad(scenario.hotspot_width_deg / 2.0)))
    rise = jnp.float32(10.0 ** (scenario.noise_rise_db / 10.0))
    return before.replace(noise_ul=before.noise_ul * rise, noise_dl=before.noise_dl * rise)


def relocates(before: EnvParams, after: EnvParams) -> bool:
    """Whether a drift from `before` to `after` changes where users are placed, so that the training loop
    places every user anew at the drift epoch (`hotspot`); `FullDuplexEnv.relocates`."""
    return any(not np.array_equal(getattr(before, f), getattr(after, f))
               for f in ("sector_center_rad", "sector_half_width_rad"))

