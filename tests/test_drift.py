"""Drift: the environment changes exactly at the drift epoch; recovery metrics on known curves."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.config import ConfigError, HyperParams, env_preset, train_preset
from d2rl_jax.env.full_duplex.drift import DriftScenario, drifted_params, relocates
from d2rl_jax.env.full_duplex.mobility import uniform_in_sector
from d2rl_jax.env.full_duplex.params import make_env_params
from d2rl_jax.run.statistics import recovery_epoch, recovery_loss
from d2rl_jax.training import make_eval_batch, make_train, stack_hparams
from d2rl_jax.training.drift import params_at


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


def test_training_plays_the_drifted_environment_from_the_drift_epoch(small_env):
    env, before = small_env
    cfg = train_preset("small").replace(actor="mlp", num_epochs=40, chunk_epochs=40, eval_every=10)
    after = drifted_params(env.cfg, DriftScenario("noise", noise_rise_db=10.0))
    hp = stack_hparams([HyperParams(drift_epoch=20.0), HyperParams()])  # run 1 never drifts
    keys = jnp.stack([jax.random.key(0)] * 2)
    plain, drifting = make_train(cfg, env, before), make_train(cfg, env, before, drift_params=after)
    _, (ref_epoch, ref_eval) = jax.jit(jax.vmap(plain.train))(keys, hp)
    _, (epoch, evals) = jax.jit(jax.vmap(drifting.train))(keys, hp)
    np.testing.assert_array_equal(epoch["drifted"][0], np.arange(40) >= 20)
    assert not epoch["drifted"][1].any()
    for name in ("sum_rate", "upper_bound", "critic_loss"):  # the same until the drift (another program:
        # round-off only), then not
        np.testing.assert_allclose(epoch[name][:, :20], ref_epoch[name][:, :20], rtol=1e-4, err_msg=name)
        np.testing.assert_allclose(epoch[name][1], ref_epoch[name][1], rtol=1e-4, err_msg=name)
    # 10 dB more noise: every later epoch's interference-free bound R' is lower than without the drift
    assert (epoch["upper_bound"][0, 20:] < ref_epoch["upper_bound"][0, 20:]).all()
    # evaluations at epochs 10, 20, 30, 40: from 20 on in the drifted env, against its own C*
    np.testing.assert_allclose(evals["eval_sum_rate"][0, :1], ref_eval["eval_sum_rate"][0, :1], rtol=1e-4)
    assert (evals["eval_sum_rate"][0, 1:] < ref_eval["eval_sum_rate"][0, 1:]).all()
    # the ratio's C* is the drifted held-out batch's (the same draws, C* recomputed for the new physics) from
    # the drift on, the original batch's before it; the run that never drifts keeps the original C* throughout
    old_optimum = float(drifting.eval_batch.optimum.mean())
    new_optimum = float(make_eval_batch(env, after, cfg).optimum.mean())
    assert new_optimum < 0.95 * old_optimum  # 10 dB more noise: the two C* are far apart (measured ~0.16x)
    np.testing.assert_allclose(evals["eval_ratio_to_optimizer"][0, 1:], evals["eval_sum_rate"][0, 1:] / new_optimum,
                               rtol=1e-5)
    np.testing.assert_allclose(evals["eval_ratio_to_optimizer"][0, :1], evals["eval_sum_rate"][0, :1] / old_optimum,
                               rtol=1e-5)
    np.testing.assert_allclose(evals["eval_ratio_to_optimizer"][1], evals["eval_sum_rate"][1] / old_optimum, rtol=1e-5)


def test_sector_placement_keeps_the_uniform_disc_and_confines_a_hotspot():
    key, radius = jax.random.key(3), jnp.float32(300.0)
    whole = uniform_in_sector(key, 500, radius)
    # the whole-disc default draws exactly what the disc sampler drew before sectors existed
    key_r, key_phi = jax.random.split(key)
    r = radius * jnp.sqrt(jax.random.uniform(key_r, (500,)))
    phi = jax.random.uniform(key_phi, (500,), maxval=2.0 * jnp.pi)
    np.testing.assert_array_equal(whole, jnp.stack([r * jnp.cos(phi), r * jnp.sin(phi)], axis=-1))
    center, half = np.deg2rad(30.0), np.deg2rad(30.0)
    crowd = np.asarray(uniform_in_sector(key, 500, radius, center, half))
    angles = np.arctan2(crowd[:, 1], crowd[:, 0])
    assert np.all(np.abs(angles - center) <= half + 1e-5)
    assert np.all(np.linalg.norm(crowd, axis=1) <= 300.0 + 1e-3)
    assert np.ptp(angles) > 0.9 * 2 * half  # spread over the sector, not a point


def test_hotspot_drift_places_every_user_in_the_sector_at_the_drift_epoch(small_env):
    env, before = small_env
    scenario = DriftScenario("hotspot", hotspot_center_deg=-90.0, hotspot_width_deg=40.0)
    after = drifted_params(env.cfg, scenario)
    assert relocates(before, after) and not relocates(before, drifted_params(env.cfg, DriftScenario("noise")))
    cfg = train_preset("small").replace(actor="mlp", num_epochs=10, chunk_epochs=10, eval_every=5)
    fns = make_train(cfg, env, before, drift_params=after)
    hp = jax.tree.map(lambda x: x[0], stack_hparams([HyperParams(drift_epoch=3.0)]))
    state = fns.init(jax.random.key(0), hp)
    step = jax.jit(fns.epoch_step)

    def in_sector(positions):
        angles = np.degrees(np.arctan2(positions[..., 1], positions[..., 0]))
        return np.abs(angles + 90.0) <= 20.0 + 1e-3

    for epoch in range(5):
        state, _ = step(state, hp)
        inside = in_sector(np.asarray(state.env_state.positions))
        if epoch < 2:  # uniform placement: most users are elsewhere
            assert inside.mean() < 0.5
        if epoch == 3:  # placed in the sector at epoch 3, then one random-walk step (1.5 m)
            assert inside.mean() > 0.9
    # held-out evaluation: the old batch before the drift, the crowd's batch (its own C*) after it
    params = state.agent
    early, late = fns.evaluate(params, jax.random.key(1), jnp.int32(2), hp), fns.evaluate(params, jax.random.key(1),
                                                                                            jnp.int32(3), hp)
    plain = make_train(cfg, env, before).evaluate(params, jax.random.key(1))
    np.testing.assert_allclose(early["eval_sum_rate"], plain["eval_sum_rate"], rtol=1e-5)
    assert not np.isclose(late["eval_sum_rate"], plain["eval_sum_rate"], rtol=1e-3)
    with pytest.raises(ConfigError, match="hotspot_width_deg"):
        DriftScenario("hotspot", hotspot_width_deg=0.0)
