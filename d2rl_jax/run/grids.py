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
    learn_exp    the learning study (docs/learning.md): both actors, designed reward, each learner setting
                 of LEARN_EXP_SETTINGS changed alone from Step 7's learner, the APG ceiling and Table II's
                 literal settings; the default setting also sweeps the exploration std and actor lr.
                 Always at Table II network sizes (the sweep preset sets the epochs only).
    diffusion_exp the fair diffusion actor (Step 10, docs/learning.md): designed reward, each setting of
                 DIFFUSION_EXP_SETTINGS changed alone from Step 7's learner (x0 bound, its own exploration, the
                 diffusion-policy learners, CPQL's imitation term, the APG ceilings), the best combination, and
                 the MLP actor at its own best settings (MLP_BEST), so the actors meet best against best. Every
                 evaluation reports the diffusion actor's three evaluation modes.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Sequence
from typing import Any

from d2rl_jax.config import (
    ACTOR_KINDS,
    ENV_CONFIGS,
    LEARNED_REWARD_DESIGNS,
    REWARD_DESIGNS,
    ConfigError,
    HyperParams,
    TrainConfig,
    preset_hparams,
    train_preset,
)
from d2rl_jax.env import ENVIRONMENTS

STATE_EXP_M = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
STATE_EXP_ETA = (0.001, 0.01, 0.1)
STATE_EXP_DESIGNS = ("designed", "designed_mlp", "designed_gdm", "gdm")  # the designs of Fig. 7
# Raw R. stays near one level "regardless of state exploration" (Fig. 8): one state-exploration point
# measures that without a 30-point grid of a design the paper does not tune.
RAW_STATE_EXP_POINT = (0.4, 0.01)
RETRAIN_STATE_DESIGNS = ("designed", "designed_gdm")  # retrain_exp's variants with state exploration
GRIDS = ("action_exp", "reward_exp", "state_exp", "retrain_exp", "learn_exp", "diffusion_exp")

# learn_exp's static settings: each a change of the preset's learner, named; "default" changes nothing.
# "paper_literal" is Table II as printed (its traced values come from LEARN_EXP_LITERAL_POINT); "mmse" is our
# receiver option (76 reals), reported apart.
LEARN_EXP_SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "apg": {"learner": "apg"},
    "paper_literal": {"exploration": "epsilon_greedy", "num_envs": 16, "batch_size": 256, "critic_updates": 1,
                      "policy_delay": 1},
    "updates_1": {"critic_updates": 1, "policy_delay": 1},
    "updates_16": {"critic_updates": 16, "policy_delay": 16},
    "envs_256": {"num_envs": 256},
    "envs_64": {"num_envs": 64},
    "batch_256": {"batch_size": 256},
    "local_critic": {"critic_kind": "local"},
    "layer_norm": {"critic_norm": "layer"},
    "reward_norm": {"critic_reward_norm": True},
    "td3_delay_2": {"policy_delay": 2},
    "mmse": {"receiver": "mmse"},
}
# Traced points per setting (every other setting runs the preset's point; "paper_literal" Table II's): the
# exploration std x actor learning rate around the preset's values.
LEARN_EXP_ACTOR_LR = (3e-4, 1e-3)
LEARN_EXP_NOISE_STD = {"default": (0.2, 0.5), "envs_256": (0.2, 0.5), "local_critic": (0.1, 0.3)}
LEARN_EXP_LITERAL_POINT = HyperParams()  # Table II: epsilon 0.1, lr 5e-5 / 1e-4


# diffusion_exp's settings of the diffusion actor, each changed alone from the study's base (STUDY_BASE): (static
# changes, traced changes of each point). "own_noise" explores with the sampler's noise only (Gaussian std 0) at
# two temperatures.
_NOISE_FREE = {"action_temperature": 0.0, "actor_temperature": 0.0}  # the chain trained and executed without noise
# The best combination of the settings that helped DDPG alone (the tanh bound, CPQL's best-of-K imitation), the
# critic steps that helped the MLP most on this preset (learn_exp's updates_16: 0.634 against 0.512), and the
# noise-free evaluation (never below one sample).
_BEST = {"x0_bound": "tanh", "imitation_target": "best_of_k", "critic_updates": 16, "policy_delay": 16,
         "eval_mode": "deterministic"}
DIFFUSION_EXP_SETTINGS: dict[str, tuple[dict[str, Any], tuple[dict[str, float], ...]]] = {
    "default": ({}, ({},)),
    "tanh": ({"x0_bound": "tanh"}, ({},)),
    "straight_through": ({"x0_bound": "straight_through"}, ({},)),
    "own_noise": ({}, ({"noise_std": 0.0, "action_temperature": 1.0}, {"noise_std": 0.0, "action_temperature": 2.0})),
    "dpmd": ({"learner": "dpmd"}, ({},)),
    "qvpo": ({"learner": "qvpo"}, ({},)),
    "dipo": ({"learner": "dipo"}, ({},)),
    "cpql": ({"imitation_target": "best_of_k"}, ({},)),
    "apg": ({"learner": "apg"}, ({},)),
    "apg_tanh": ({"learner": "apg", "x0_bound": "tanh"}, ({},)),
    # APG on the noise-free chain: the ceiling of the action the deterministic evaluation scores
    "apg_noise_free": ({"learner": "apg", "x0_bound": "tanh", "eval_mode": "deterministic"}, (_NOISE_FREE,)),
    # DDPG on the noise-free chain, explored like the MLP (the Gaussian noise on it), with the tanh bound
    "noise_free": ({"x0_bound": "tanh", "eval_mode": "deterministic"}, (_NOISE_FREE,)),
    "best": (_BEST, ({},)),
    # the best of the study (docs/learning.md, "The study: diffusion_exp"): the presets' defaults since Step 10
    "best_noise_free": (_BEST, (_NOISE_FREE,)),
}
# The MLP actor at its best settings of the learning study (docs/learning.md): sigma 0.2, 16 critic steps.
MLP_BEST: tuple[dict[str, Any], dict[str, float]] = ({"critic_updates": 16, "policy_delay": 16}, {"noise_std": 0.2})
# The learning studies' base (learn_exp, diffusion_exp): the presets' learner before diffusion_exp changed their
# defaults (Step 7's), static and traced, so that the grids rerun the committed studies whatever the defaults are.
STUDY_BASE: dict[str, Any] = {"critic_updates": 8, "policy_delay": 8, "x0_bound": "clip",
                              "imitation_target": "none", "eval_mode": "sample"}
STUDY_BASE_POINT: dict[str, float] = {"action_temperature": 1.0, "actor_temperature": 1.0}


def _diffusion_variants(base: HyperParams, actors: Sequence[str], settings: Sequence[str]) -> tuple[Variant, ...]:
    variants = []
    base = base.replace(**STUDY_BASE_POINT)
    if "mlp" in actors:
        changes, point = MLP_BEST
        variants.append(_variant("mlp", "designed", False, [base.replace(**point)], "best",
                                 {**STUDY_BASE, **changes}))
    if "diffusion" in actors:
        for name in settings:
            changes, points = DIFFUSION_EXP_SETTINGS[name]
            points = [base.replace(**p) for p in points]
            variants.append(_variant("diffusion", "designed", False, points, name, {**STUDY_BASE, **changes}))
    return tuple(variants)


def _learn_points(setting: str, base: HyperParams, swept: bool) -> list[HyperParams]:
    if setting == "paper_literal":
        return [LEARN_EXP_LITERAL_POINT]
    if not swept:
        return [base]
    if setting == "td3_delay_2":
        return [base.replace(actor_lr=lr) for lr in LEARN_EXP_ACTOR_LR]
    if setting not in LEARN_EXP_NOISE_STD:
        return [base]
    return [base.replace(noise_std=std, actor_lr=lr) for std in LEARN_EXP_NOISE_STD[setting]
            for lr in LEARN_EXP_ACTOR_LR]


@dataclasses.dataclass(frozen=True)
class Variant:
    """One static configuration of a sweep and the traced points it runs. `changes` are further static
    TrainConfig fields (learn_exp's settings; "receiver" changes the environment's)."""

    name: str
    actor: str
    reward: str
    state_exploration: bool
    points: tuple[HyperParams, ...]
    changes: tuple[tuple[str, Any], ...] = ()

    def config(self, base: TrainConfig) -> TrainConfig:
        return base.with_changes(actor=self.actor, reward=self.reward, state_exploration=self.state_exploration,
                                 **dict(self.changes))

    def point_label(self, index: int) -> str:
        hp = self.points[index]
        labels = []
        if self.state_exploration:
            labels.append(f"M={hp.max_replace_prob:g},eta={hp.replace_rate:g}")
        elif len({(p.noise_std, p.actor_lr) for p in self.points}) > 1:  # learn_exp's swept settings
            labels.append(f"noise_std={hp.noise_std:g},actor_lr={hp.actor_lr:g}")
        if len({p.reward_lr for p in self.points}) > 1:  # --reward_lr with several values
            labels.append(f"reward_lr={hp.reward_lr:g}")
        if len({p.action_temperature for p in self.points}) > 1:  # diffusion_exp's own_noise
            labels.append(f"action_temperature={hp.action_temperature:g}")
        return ",".join(labels) or "-"


def variant_name(actor: str, reward: str, state_exploration: bool, setting: str | None = None) -> str:
    return f"{actor}.{reward}" + (".state" if state_exploration else "") + (f".{setting}" if setting else "")


def _variant(actor: str, reward: str, state_exploration: bool, points: Sequence[HyperParams],
             setting: str | None = None, changes: dict[str, Any] | None = None) -> Variant:
    return Variant(variant_name(actor, reward, state_exploration, setting), actor, reward, state_exploration,
                   tuple(points), tuple((changes or {}).items()))


def _learn_variants(base: HyperParams, actors: Sequence[str], settings: Sequence[str],
                    swept: bool) -> tuple[Variant, ...]:
    """Setting-major (both actors of a setting side by side), each with its traced points (the preset's only
    unless `swept`)."""
    base = base.replace(**STUDY_BASE_POINT)
    return tuple(_variant(a, "designed", False, _learn_points(name, base, swept), name,
                          {**STUDY_BASE, **LEARN_EXP_SETTINGS[name]}) for name in settings for a in actors)


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
              baselines: bool = True, settings: Sequence[str] | None = None,
              references: bool = False, swept_points: bool = True,
              reward_lr: Sequence[float] | None = None) -> tuple[Variant, ...]:
    """The variants of grid `name`; `actors`, `designs`, `M`, `eta`, `settings` (learn_exp) narrow or replace
    its defaults (flags). `base` holds every traced setting the grid does not sweep; `baselines=False` leaves
    out state_exp's variants without state exploration; `references=True` appends, for every actor of the
    grid, the APG ceiling with the designed reward (`<actor>.designed.apg`, what the figures draw dashed);
    `swept_points=False` runs learn_exp's settings at the preset's traced point only; `reward_lr` runs every
    point of a variant with a learned reward design at each of these reward-network learning rates."""
    variants = _grid_variants(name, base, actors, designs, M, eta, baselines, settings, swept_points)
    if reward_lr is not None:
        lrs = _check_values("--reward_lr", reward_lr, 1e-12, 1.0)
        variants = tuple(dataclasses.replace(v, points=tuple(p.replace(reward_lr=lr) for p in v.points for lr in lrs))
                         if v.reward in LEARNED_REWARD_DESIGNS else v for v in variants)
    if references and name not in ("learn_exp", "retrain_exp", "diffusion_exp"):  # own ceilings; retraining none
        variants += tuple(apg_variant(actor, base) for actor in dict.fromkeys(v.actor for v in variants))
    return variants


def apg_reference(actor: str) -> str:
    """The name of an actor's APG ceiling variant in any grid and run."""
    return variant_name(actor, "designed", False, "apg")


def apg_variant(actor: str, hp: HyperParams) -> Variant:
    """An actor's APG ceiling: the analytic policy gradient on the designed reward (whose action gradient is that of
    C, so it is every computed design's ceiling), without state exploration."""
    return _variant(actor, "designed", False, [hp], "apg", {"learner": "apg"})


_DEFAULT_LEARNER = TrainConfig.__dataclass_fields__["learner"].default


def run_variants(cfg: TrainConfig, actors: Sequence[str], hp: HyperParams,
                 references: Sequence[str] = ()) -> tuple[Variant, ...]:
    """experiments.run's variants, built and named as the grids': each actor with `cfg`'s reward, state exploration
    and learner (named in the variant unless it is the default, ddpg), then the APG ceiling of each actor in
    `references` (none when the learner is apg itself)."""
    learner = None if cfg.learner == _DEFAULT_LEARNER else cfg.learner
    changes = {} if learner is None else {"learner": learner}
    variants = tuple(_variant(a, cfg.reward, cfg.state_exploration, [hp], learner, changes) for a in actors)
    if cfg.learner != "apg":
        variants += tuple(apg_variant(actor, hp) for actor in references)
    return variants


def _grid_variants(name, base, actors, designs, M, eta, baselines, settings, swept) -> tuple[Variant, ...]:
    if name not in GRIDS:
        raise ConfigError(f"grid={name!r} is invalid: must be one of {GRIDS}")
    setting_names = tuple(DIFFUSION_EXP_SETTINGS if name == "diffusion_exp" else LEARN_EXP_SETTINGS)
    for flag, given, allowed in (("--actor", actors, ACTOR_KINDS), ("--designs", designs, REWARD_DESIGNS),
                                 ("--settings", settings, setting_names)):
        bad = [g for g in (given or ()) if g not in allowed]
        if bad or (given is not None and not given):
            raise ConfigError(f"{flag}={','.join(given or ())!r} is invalid: each must be one of {allowed}")
    if name == "learn_exp":
        return _learn_variants(base, actors or ACTOR_KINDS, settings or tuple(LEARN_EXP_SETTINGS), swept)
    if name == "diffusion_exp":
        return _diffusion_variants(base, actors or ACTOR_KINDS, settings or tuple(DIFFUSION_EXP_SETTINGS))
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


SWEEP_PRESETS = ("quick", "paper", "small", "quick_step7", "paper_step7")


def preset_config(preset: str, env: str | None = None) -> tuple[TrainConfig, HyperParams]:
    """A training preset (d2rl_jax/config.py) on environment `env` (default: the preset's own): the environment's
    default config, unless the preset's is of that environment already, sized by the environment's
    `preset_changes` for this preset; and the preset's traced settings."""
    cfg = train_preset(preset)
    if env is not None and env != cfg.env.env_name:
        if env not in ENVIRONMENTS:
            raise ConfigError(f"env={env!r} is invalid: must be one of {tuple(ENVIRONMENTS)}")
        cfg = cfg.replace(env=ENV_CONFIGS[env](), **getattr(ENVIRONMENTS[env], "preset_changes", {}).get(preset, {}))
    return cfg, preset_hparams(preset)


def sweep_config(preset: str, epochs: int | None = None, chunk: int | None = None,
                 env: str | None = None) -> tuple[TrainConfig, HyperParams]:
    """The static config and the traced settings a grid does not sweep: the training preset of the same name
    (quick: the paper's system and Table II networks, 1000 epochs; paper: 10k epochs; small: tests) on `env`.
    Before Step 7 the quick sweep preset had 64 x 2 networks and batch 64; with the learning settings every grid
    runs the networks of the paper (docs/learning.md)."""
    if preset not in SWEEP_PRESETS:
        raise ConfigError(f"preset={preset!r} is invalid: must be one of {SWEEP_PRESETS}")
    cfg, hp = preset_config(preset, env)
    return cfg.with_schedule(epochs=epochs, chunk=chunk), hp
