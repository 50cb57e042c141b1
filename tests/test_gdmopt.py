"""GDMOPT's power allocation (d2rl_jax/env/gdmopt_power.py): water-filling against an independent bisection, the
action map's constraints for any input, the reference levels GDMOPT's task is known by, and a learning test."""

import hypothesis.extra.numpy as hnp
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from d2rl_jax.config import ConfigError
from d2rl_jax.env import GdmoptPowerConfig, GdmoptPowerEnv, make_env
from d2rl_jax.env.gdmopt_power import allocate, water_filling
from d2rl_jax.run.grids import preset_config
from d2rl_jax.training import make_train

ENV = GdmoptPowerEnv(GdmoptPowerConfig())
EVALUATE, ALLOCATE = jax.jit(ENV.evaluate), jax.jit(allocate)  # compiled once for every hypothesis example


def _bisection_water_filling(gains: np.ndarray, total: float, noise: float) -> np.ndarray:
    """The water level by bisection on sum max(mu - noise / g, 0) = P_T (float64), as GDMOPT's utility.py finds it."""
    low, high = 0.0, total + np.sum(noise / gains)
    for _ in range(200):
        mu = (low + high) / 2
        low, high = (mu, high) if np.sum(np.maximum(mu - noise / gains, 0.0)) < total else (low, mu)
    return np.maximum((low + high) / 2 - noise / gains, 0.0)


@pytest.mark.parametrize("total, noise", [(3.0, 1.0), (0.5, 1.0), (10.0, 0.3)])
def test_water_filling_matches_an_independent_bisection(total, noise):
    rng = np.random.default_rng(0)
    gains = np.concatenate([rng.uniform(1, 2, (300, 5)), rng.uniform(0, 1, (300, 5))], axis=1)
    powers = np.asarray(jax.vmap(water_filling, (0, None, None))(jnp.asarray(gains, jnp.float32), total, noise))
    expected = np.stack([_bisection_water_filling(g, total, noise) for g in gains])
    np.testing.assert_allclose(powers.sum(-1), total, rtol=1e-5)
    np.testing.assert_allclose(powers, expected, atol=2e-5 * total)
    rate = lambda p: np.sum(np.log2(1 + gains * p / noise), -1)  # noqa: E731
    np.testing.assert_allclose(rate(powers), rate(expected), rtol=1e-5)
    assert (powers >= 0).all() and (powers[expected == 0] == 0).all()  # the weak channels it leaves dry


ANY_FLOAT32 = st.floats(width=32, allow_nan=True, allow_infinity=True)


@settings(max_examples=80, deadline=None)
@given(raw=hnp.arrays(np.float32, 10, elements=ANY_FLOAT32))
def test_action_map_allocates_the_budget_for_any_input(raw):
    gains = ENV.draw_gains(jax.random.key(0))
    powers, nonfinite = ALLOCATE(jnp.asarray(raw), 3.0)
    info, flag = EVALUATE(gains, jnp.asarray(raw), ENV.default_params)
    assert np.all(np.isfinite(powers)) and np.all(powers >= 0)
    assert float(powers.sum()) == pytest.approx(3.0, rel=1e-5)
    assert bool(nonfinite) == bool(flag) == (not np.all(np.isfinite(raw)))
    assert np.isfinite(float(info.sum_rate)) and float(info.sum_rate) <= float(info.upper_bound) * (1 + 1e-6)
    if not np.any(np.isfinite(raw) & (raw != 0)):  # all zero (or nothing finite): the uniform allocation
        np.testing.assert_allclose(powers, 0.3, rtol=1e-6)


def test_action_map_is_gdmopt_s_and_differentiable():
    action = jnp.asarray([0.5, -0.5, 1.0, 0, 0, 0, 0, 0, 0, -2.0])
    np.testing.assert_allclose(allocate(action, 3.0)[0], 3.0 * jnp.abs(action) / 4.0, rtol=1e-6)
    grads = jax.grad(lambda a: ENV.evaluate(ENV.draw_gains(jax.random.key(1)), a, ENV.default_params)[0].sum_rate)(
        action)
    assert np.all(np.isfinite(grads)) and np.any(grads != 0)


def test_reference_levels_are_gdmopt_s_task():
    """On 4000 fresh draws: E[C_WF] about 4.65; uniform allocation about -0.99 and the best fixed allocation (0.6 to
    each strong channel) about -0.048 in GDMOPT's reward C - C_WF."""
    gains = jax.vmap(ENV.draw_gains)(jax.random.split(jax.random.key(7), 4000))
    refs = ENV.reference_rates(gains, ENV.default_params, jax.random.key(8), None)
    optimum = float(refs.optimum.mean())
    assert optimum == pytest.approx(4.65, abs=0.03) and np.array_equal(refs.optimum, refs.bound)
    assert float(refs.levels["uniform allocation"].mean()) - optimum == pytest.approx(-0.99, abs=0.03)
    assert float(refs.levels["best fixed allocation"].mean()) - optimum == pytest.approx(-0.048, abs=0.005)
    assert float(refs.levels["random actions"].mean()) < float(refs.levels["uniform allocation"].mean())


def test_config_names_a_bad_field_and_the_registry_builds_the_env():
    with pytest.raises(ConfigError, match="total_power"):
        GdmoptPowerConfig(total_power=0.0)
    with pytest.raises(ConfigError, match="num_strong"):
        GdmoptPowerConfig(num_strong=0, num_weak=0)
    assert isinstance(make_env(GdmoptPowerConfig()), GdmoptPowerEnv)
    cfg, _ = preset_config("quick", "gdmopt_power")
    assert cfg.env == GdmoptPowerConfig() and cfg.eval_states == 1000  # the preset sized for it


# The learning test on GDMOPT's task (docs/design-notes.md): the small preset's DDPG, MLP actor, seed 0, 150 epochs,
# held-out mean reward C - C_WF. Measured over seeds 0-2: -0.105, -0.135, -0.167 at epoch 150 (-0.084 to -0.101 at
# 200; -0.71 to -0.85 at epoch 25); the uniform allocation scores -1.05 and random actions -1.24 on the same draws.
def test_ddpg_learns_gdmopt_power_allocation():
    cfg, hp = preset_config("small", "gdmopt_power")
    cfg = cfg.replace(actor="mlp", num_epochs=150, chunk_epochs=150, eval_every=150)
    _, (_, evals) = jax.jit(make_train(cfg).train)(jax.random.key(0), hp.arrays())
    assert float(evals["eval_reward"][-1]) >= -0.3, evals["eval_reward"]
