"""Environment drift (the retraining scenario of Sec. I): named changes of the traced `EnvParams`.

A scenario maps the scenario's parameters before the drift to those after it; `params_at` picks
one set or the other from a traced epoch and drift epoch, so a run switches mid-way without
recompiling and drift epochs vmap like any hyperparameter. Shapes never change: a drift that would
change K or L (`load`) is out of scope (it is a different static config, i.e. a new network).

    clutter_move   the clutter interferers move and change strength (default -50/20 deg -> -10/45 deg,
                   INR unchanged unless given); their phases keep the scenario's seed
    noise          the noise floor of both links rises by `noise_rise_db`

Observation scales stay those of the original scenario (`EnvParams` fixes them at creation): after
a noise drift the agent sees the same features for the same channels, and only the physics moves.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from d2rl_jax.config import ConfigError, EnvConfig
from d2rl_jax.env.params import EnvParams, make_env_params

DRIFT_SCENARIOS = ("clutter_move", "noise")


@dataclasses.dataclass(frozen=True)
class DriftScenario:
    name: str
    clutter_angles_deg: tuple[float, ...] = (-10.0, 45.0)  # clutter_move: the angles after the drift
    clutter_inr_db: float | None = None  # clutter_move: the INR after the drift (None: unchanged)
    noise_rise_db: float = 6.0  # noise: the rise of both noise floors

    def __post_init__(self) -> None:
        if self.name not in DRIFT_SCENARIOS:
            raise ConfigError(f"DriftScenario.name={self.name!r} is invalid: must be one of {DRIFT_SCENARIOS}")
        if not (isinstance(self.noise_rise_db, int | float) and -60.0 <= self.noise_rise_db <= 60.0):
            raise ConfigError(f"DriftScenario.noise_rise_db={self.noise_rise_db!r} is invalid: must be a number of "
                              "dB in [-60, 60]")


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
    rise = jnp.float32(10.0 ** (scenario.noise_rise_db / 10.0))
    return before.replace(noise_ul=before.noise_ul * rise, noise_dl=before.noise_dl * rise)


def params_at(epoch: jax.Array, drift_epoch: jax.Array, before: EnvParams, after: EnvParams) -> EnvParams:
    """`after` from `drift_epoch` on (epochs counted from 0), `before` until then; all traced."""
    drifted = jnp.asarray(epoch) >= jnp.asarray(drift_epoch)
    return jax.tree.map(lambda b, a: jnp.where(drifted, a, b), before, after)
