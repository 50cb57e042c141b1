"""Drift: the environment changes exactly at the drift epoch; recovery metrics on known curves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.config import ConfigError, env_preset
from d2rl_jax.drift import DriftScenario, drifted_params, params_at
from d2rl_jax.env.params import make_env_params
from d2rl_jax.metrics import recovery_epoch, recovery_loss


@pytest.mark.parametrize("scenario", [DriftScenario("clutter_move"), DriftScenario("noise", noise_rise_db=10.0)])
def test_drift_changes_the_sum_rate_exactly_from_the_drift_epoch(small_env, scenario):
    env, before = small_env
    after = drifted_params(env.cfg, scenario)
    obs, state = env.reset(jax.random.key(0), before)
    channels = env.channels(state.positions, before)
    action = jax.random.uniform(jax.random.key(1), (env.action_size,), minval=-1.0, maxval=1.0)

    @jax.jit
    def rate_at(epoch, drift_epoch):
        return env.evaluate(channels, action, params_at(epoch, drift_epoch, before, after))[0].sum_rate

    old, new = env.evaluate(channels, action, before)[0].sum_rate, env.evaluate(channels, action, after)[0].sum_rate
    assert not np.isclose(old, new, rtol=1e-3)  # the drift matters for this allocation
    rates = [rate_at(e, 5) for e in (0, 4, 5, 6, 100)]
    np.testing.assert_allclose(rates, [old, old, new, new, new], rtol=1e-5)  # jit vs eager: round-off only
    # a vector of drift epochs (one per run) vmaps like any traced hyperparameter
    per_run = jax.vmap(rate_at, (None, 0))(5, jnp.array([4, 5, 6]))
    np.testing.assert_allclose(per_run, [new, new, old], rtol=1e-5)


def test_drifted_parameters_match_the_changed_scenario():
    cfg = env_preset("paper")
    moved = drifted_params(cfg, DriftScenario("clutter_move", clutter_angles_deg=(-10.0, 45.0), clutter_inr_db=25.0))
    direct = make_env_params(cfg.replace(clutter_angles_deg=(-10.0, 45.0), clutter_inr_db=25.0))
    np.testing.assert_array_equal(moved.clutter, direct.clutter)
    noisy = drifted_params(cfg, DriftScenario("noise", noise_rise_db=10.0))
    base = make_env_params(cfg)
    np.testing.assert_allclose(noisy.noise_ul, 10.0 * base.noise_ul, rtol=1e-6)
    assert noisy.obs_scale_ul == base.obs_scale_ul  # the agent's features keep their meaning
    with pytest.raises(ConfigError, match="clutter interferers"):
        drifted_params(cfg, DriftScenario("clutter_move", clutter_angles_deg=(0.0,)))
    with pytest.raises(ConfigError, match="DriftScenario.name"):
        DriftScenario("load")


def test_recovery_metrics_on_a_known_curve():
    ramp = 0.5 + 0.05 * np.arange(10)  # 0.50 ... 0.95 after the drift at epoch 10
    series = np.concatenate([np.ones(10), ramp, np.ones(10)])
    assert recovery_epoch(series, target=1.0, start=10) == 10  # back within 2% at epoch 20
    assert recovery_epoch(series, target=1.0, start=10, tolerance=0.06) == 9  # 0.95 is within 6%
    assert recovery_loss(series, 1.0, start=10) == pytest.approx(5.0 - 0.05 * 45)
    assert recovery_epoch(np.ones(30), target=1.0, start=10) == 0
    relapse = series.copy()
    relapse[25] = 0.9  # recovered, fell back: recovery counts from the last dip
    assert recovery_epoch(relapse, target=1.0, start=10) == 16
    assert recovery_epoch(np.concatenate([np.ones(10), ramp]), target=1.0, start=10) is None
    curve_reference = np.full(30, 2.0)
    assert recovery_loss(series, curve_reference, start=10, stop=20) == pytest.approx(10.0 + 2.75)
