"""The named sweep grids of the paper's experiments (Sec. V) and the sweep presets, defined in one place.

A grid is a tuple of `Variant`s. A variant fixes everything static (actor kind, reward design,
state exploration on/off: each compiles once) and lists the traced points it sweeps (`HyperParams`,
e.g. every (M, eta) pair). Every point runs with every seed; `experiments.sweep` flattens
points x seeds into one run axis per variant.

    action_exp   actor in {mlp, diffusion}                                        (Figs. 2-3)
    reward_exp   the five reward designs, diffusion actor                          (Figs. 4-6)
    state_exp    M x eta for designed, designed_mlp, designed_gdm, gdm with state
                 exploration, raw with it, and every design without it (baselines) (Figs. 7-9)
    retrain_exp  retraining after drift (experiments.retrain): every actor with the designed reward,
                 the diffusion actor with every design, and designed / designed_gdm with state
                 exploration at one (M, eta) point (RAW_STATE_EXP_POINT unless --M/--eta say)
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence

from d2rl_jax.config import ACTOR_KINDS, REWARD_DESIGNS, ConfigError, HyperParams, TrainConfig, train_preset

STATE_EXP_M = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
STATE_EXP_ETA = (0.001, 0.01, 0.1)
STATE_EXP_DESIGNS = ("designed", "designed_mlp", "designed_gdm", "gdm")  # the designs of Fig. 7
# Raw R. stays near one level "regardless of state exploration" (Fig. 8): one state-exploration point
# measures that without a 30-point grid of a design the paper does not tune.
RAW_STATE_EXP_POINT = (0.4, 0.01)
RETRAIN_STATE_DESIGNS = ("designed", "designed_gdm")  # retrain_exp's variants with state exploration
GRIDS = ("action_exp", "reward_exp", "state_exp", "retrain_exp")


@dataclasses.dataclass(frozen=True)
class Variant:
    """One static configuration of a sweep and the traced points it runs."""

    name: str
    actor: str
    reward: str
    state_exploration: bool
    points: tuple[HyperParams, ...]

    def config(self, base: TrainConfig) -> TrainConfig:
        return base.replace(actor=self.actor, reward=self.reward, state_exploration=self.state_exploration)

    def point_label(self, index: int) -> str:
        hp = self.points[index]
        return f"M={hp.max_replace_prob:g},eta={hp.replace_rate:g}" if self.state_exploration else "-"


def variant_name(actor: str, reward: str, state_exploration: bool) -> str:
    return f"{actor}.{reward}" + (".state" if state_exploration else "")


def _variant(actor: str, reward: str, state_exploration: bool, points: Sequence[HyperParams]) -> Variant:
    return Variant(variant_name(actor, reward, state_exploration), actor, reward, state_exploration, tuple(points))


def _check_values(flag: str, values: Sequence[float], lo: float, hi: float) -> tuple[float, ...]:
    if not values:
        raise ConfigError(f"{flag}=() is invalid: give at least one value")
    bad = [v for v in values if not lo <= v <= hi]
    if bad:
        raise ConfigError(f"{flag}={tuple(values)} is invalid: every value must be in [{lo}, {hi}] ({bad} is not)")
    return tuple(dict.fromkeys(values))  # duplicates would only repeat runs


def _state_points(base: HyperParams, M: Sequence[float] | None, eta: Sequence[float] | None,
                  default_M: Sequence[float], default_eta: Sequence[float]) -> list[HyperParams]:
    """Every (M, eta) pair of the given values (the defaults where None), checked, M-major."""
    ms = _check_values("--M", M if M is not None else default_M, 0.0, 1.0)
    etas = _check_values("--eta", eta if eta is not None else default_eta, 0.0, 1.0)
    return [base.replace(max_replace_prob=m, replace_rate=e) for m, e in itertools.product(ms, etas)]


def make_grid(name: str, base: HyperParams = HyperParams(),  # noqa: B008 (frozen, immutable)
              *, actors: Sequence[str] | None = None, designs: Sequence[str] | None = None,
              M: Sequence[float] | None = None, eta: Sequence[float] | None = None,
              baselines: bool = True) -> tuple[Variant, ...]:
    """The variants of grid `name`; `actors`, `designs`, `M`, `eta` narrow or replace its defaults (flags).
    `base` holds every traced setting the grid does not sweep; `baselines=False` leaves out state_exp's
    variants without state exploration."""
    if name not in GRIDS:
        raise ConfigError(f"grid={name!r} is invalid: must be one of {GRIDS}")
    for flag, given, allowed in (("--actor", actors, ACTOR_KINDS), ("--designs", designs, REWARD_DESIGNS)):
        bad = [g for g in (given or ()) if g not in allowed]
        if bad or (given is not None and not given):
            raise ConfigError(f"{flag}={','.join(given or ())!r} is invalid: each must be one of {allowed}")
    if name == "action_exp":
        return tuple(_variant(a, "designed", False, [base]) for a in (actors or ACTOR_KINDS))
    if name == "retrain_exp":
        chosen = designs or REWARD_DESIGNS
        points = _state_points(base, M, eta, RAW_STATE_EXP_POINT[:1], RAW_STATE_EXP_POINT[1:])
        variants = [_variant(a, "designed", False, [base]) for a in (actors or ACTOR_KINDS)
                    if a != "diffusion" and "designed" in chosen]
        if "diffusion" in (actors or ACTOR_KINDS):
            variants += [_variant("diffusion", d, False, [base]) for d in chosen]
            variants += [_variant("diffusion", d, True, points) for d in RETRAIN_STATE_DESIGNS if d in chosen]
        if not variants:
            raise ConfigError(f"--actor={','.join(actors or ())!r} with --designs={','.join(chosen)!r} leaves "
                              "retrain_exp no variant (the MLP actor runs the designed reward only)")
        return tuple(variants)
    actors = actors or ("diffusion",)  # the paper's reward and state experiments use A. w/ GDM
    if name == "reward_exp":
        return tuple(_variant(a, d, False, [base]) for a in actors for d in (designs or REWARD_DESIGNS))
    grid_points = _state_points(base, M, eta, STATE_EXP_M, STATE_EXP_ETA)
    raw_point = _state_points(base, None, None, RAW_STATE_EXP_POINT[:1], RAW_STATE_EXP_POINT[1:])
    chosen = designs or (*STATE_EXP_DESIGNS, "raw")
    variants = []
    for a in actors:
        variants += [_variant(a, d, True, raw_point if d == "raw" else grid_points) for d in chosen]
        if baselines:  # the same designs without state exploration
            variants += [_variant(a, d, False, [base]) for d in chosen]
    return tuple(variants)


def _sweep_presets() -> dict[str, tuple[TrainConfig, HyperParams]]:
    quick = train_preset("quick")
    return {
        # The paper's system (K=6, L=4, 6x6 antennas) with 64-wide, 2-deep networks, batch 64 and 500
        # epochs: the full state_exp grid (252 runs at 2 seeds) fits a 2-core CPU (README has the time).
        "quick": (quick.replace(num_epochs=500, chunk_epochs=250, eval_every=50, batch_size=64, buffer_size=5000,
                                actor_hidden=64, actor_depth=2, critic_hidden=64, critic_depth=2, reward_hidden=64,
                                reward_mlp_depth=2, reward_gdm_depth=2, senpnn_hidden=64, senpnn_depth=2,
                                state_norm_samples=1024), HyperParams(gate_threshold=QUICK_GATE_THRESHOLD)),
        # Table II sizes, 10k epochs (the GPU goal).
        "paper": (train_preset("paper").replace(num_epochs=10_000, chunk_epochs=1000, eval_every=100),
                  HyperParams()),
        # A 2+2-user, 4x4 system with tiny networks: tests and smoke checks.
        "small": (train_preset("small"), HyperParams()),
    }


# The quick preset's 64 x 2 SENPNN learns slower than Table II's 256 x 4, so its reconstruction gate
# starts higher and falls slower: 17.7 at epoch 20, 17.2 at epoch 100, 15.7 at epoch 500 (2 seeds,
# the `epoch/gate` metric of `--grid state_exp --preset quick --designs designed --M 0.5 --eta 0.01`).
# As for the default T (config.GATE_THRESHOLD), T is the level after 20% of the run: chi rises near epoch 100.
QUICK_GATE_THRESHOLD = 17.2
SWEEP_PRESETS = ("quick", "paper", "small")


def sweep_config(preset: str, epochs: int | None = None, chunk: int | None = None) -> tuple[TrainConfig, HyperParams]:
    """The static config and the traced settings a grid does not sweep, for a sweep preset."""
    if preset not in SWEEP_PRESETS:
        raise ConfigError(f"preset={preset!r} is invalid: must be one of {SWEEP_PRESETS}")
    cfg, hp = _sweep_presets()[preset]
    return cfg.with_schedule(epochs=epochs, chunk=chunk), hp
