"""Exploration on executed actions (d2rl_jax/agents/exploration.py): the epsilon-greedy rate, the Gaussian
noise's scale and clip, the std schedule, and the Gaussian path inside the training loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from d2rl_jax.agents import explore, make_actor, noise_std_at
from d2rl_jax.config import HyperParams, train_preset
from d2rl_jax.env import FullDuplexEnv
from d2rl_jax.training import hparams_to_arrays, make_train

ROWS, ACTION_SIZE = 20_000, 6


def _actions(key=0):
    return jax.random.uniform(jax.random.key(key), (ROWS, ACTION_SIZE), minval=-0.9, maxval=0.9)


@pytest.mark.parametrize("epsilon", [0.0, 0.05, 0.3, 1.0])
def test_epsilon_greedy_replaces_whole_rows_at_rate_epsilon(epsilon):
    actions = _actions()
    executed = np.asarray(jax.jit(explore, static_argnums=0)("epsilon_greedy", jax.random.key(1), actions,
                                                             jnp.float32(epsilon), jnp.float32(0.5)))
    same = executed == np.asarray(actions)
    kept = same.all(axis=1)
    # a row is kept whole or replaced whole (a uniform draw equals the old entry with probability 0)
    assert np.all(kept | ~same.any(axis=1))
    rate = 1.0 - kept.mean()
    assert abs(rate - epsilon) <= 5.0 * np.sqrt(epsilon * (1.0 - epsilon) / ROWS) + 1e-12, rate  # binomial, 5 sd
    drawn = executed[~kept]
    if epsilon > 0:  # the replacements are uniform on [-1, 1]^A, independent of the policy's action
        assert np.all(np.abs(drawn) <= 1.0)
        n = drawn.size
        assert abs(drawn.mean()) < 5.0 * np.sqrt(1.0 / 3.0 / n)
        assert abs(drawn.var() - 1.0 / 3.0) < 5.0 * np.sqrt(4.0 / 45.0 / n)  # Var[U^2] = 1/5 - 1/9
        assert np.abs(drawn).max() > 0.99  # reaches beyond the policy's [-0.9, 0.9]


@pytest.mark.parametrize("std", [0.0, 0.02, 0.3, 1.0, 1e3, 1e30])
def test_gaussian_noise_has_the_configured_std_and_stays_in_the_action_box(std):
    actions = _actions()
    executed = np.asarray(jax.jit(explore, static_argnums=0)("gaussian", jax.random.key(2), actions,
                                                             jnp.float32(0.1), jnp.float32(std)))
    assert np.all(np.isfinite(executed)) and np.all(np.abs(executed) <= 1.0)
    a = np.asarray(actions, np.float64)
    n = a.size
    if std == 0.0:
        np.testing.assert_array_equal(executed, actions)
    elif std < 0.05:  # |a| <= 0.9 and 5 sigma = 0.1: never clipped, so executed - a is the noise itself
        assert np.all(np.abs(executed) < 1.0)
        noise = executed - a
        assert abs(noise.std() / std - 1.0) < 5.0 / np.sqrt(2.0 * n)
        assert abs(noise.mean()) < 5.0 * std / np.sqrt(n)
    else:  # a + N(0, std^2) goes above 1 with probability Phi((a - 1) / std): those entries (and only those) sit
        # exactly at the bound, so each side's clipped share measures the noise's scale
        for sign in (1.0, -1.0):
            at_bound = executed == sign
            expected = scipy.stats.norm.cdf((sign * a - 1.0) / std)
            p = expected.mean()
            assert abs(at_bound.mean() - p) <= 5.0 * np.sqrt(p * (1.0 - p) / n) + 1e-6, (sign, at_bound.mean(), p)
        if std >= 1e3:  # almost every entry at a bound, half on each side
            assert np.mean(np.abs(executed) == 1.0) > 0.99


def test_explore_rejects_an_unknown_kind():
    with pytest.raises(ValueError, match="exploration='boltzmann'"):
        explore("boltzmann", jax.random.key(0), jnp.zeros((2, 3)), jnp.float32(0.1), jnp.float32(0.1))


def test_noise_std_schedule_at_its_endpoints():
    falling = hparams_to_arrays(HyperParams(noise_std=0.6, noise_std_final=0.1, noise_decay_epochs=200))
    at = jax.jit(noise_std_at)
    values = [float(at(jnp.float32(e), falling)) for e in (0, 1, 100, 199, 200, 201, 10_000)]
    np.testing.assert_allclose(values, [0.6, 0.6 - 0.5 / 200, 0.35, 0.1 + 0.5 / 200, 0.1, 0.1, 0.1], rtol=1e-5)
    rising = hparams_to_arrays(HyperParams(noise_std=0.1, noise_std_final=0.5, noise_decay_epochs=10))
    np.testing.assert_allclose([float(at(jnp.float32(e), rising)) for e in (0, 5, 10, 50)], [0.1, 0.3, 0.5, 0.5],
                               rtol=1e-5)
    constant = hparams_to_arrays(HyperParams(noise_std=0.4, noise_std_final=0.0, noise_decay_epochs=0))
    assert all(float(at(jnp.float32(e), constant)) == pytest.approx(0.4) for e in (0, 1, 1e6))
    # traced: runs with different schedules share one program
    stacked = jax.tree.map(lambda *x: jnp.stack(x), falling, rising, constant)
    np.testing.assert_allclose(jax.vmap(noise_std_at, (None, 0))(jnp.float32(100), stacked), [0.35, 0.5, 0.4],
                               rtol=1e-5)


def test_training_executes_the_policy_action_plus_scheduled_gaussian_noise():
    """The Gaussian path in the loop: each epoch's stored (executed) actions are the actor's actions on that
    epoch's states plus N(0, sigma_e^2) noise, sigma_e = noise_std_at(e), clipped to [-1, 1]. Nothing exposes the
    pre-noise actions, so they are recomputed with the (deterministic) MLP actor from the state before each step."""
    cfg = train_preset("small").replace(actor="mlp", exploration="gaussian", num_epochs=4, chunk_epochs=4,
                                        eval_every=4)
    hp = hparams_to_arrays(HyperParams(actor_lr=1e-3, critic_lr=1e-3, noise_std=0.3, noise_std_final=0.1,
                                       noise_decay_epochs=2))
    fns = make_train(cfg)
    actor = make_actor(cfg, FullDuplexEnv(cfg.env).action_size)
    step = jax.jit(fns.epoch_step)
    state = fns.init(jax.random.key(0), hp)
    T = cfg.num_envs
    for epoch, sigma in enumerate([0.3, 0.2, 0.1, 0.1]):
        policy = np.asarray(actor.act(state.agent.actor.params, None, state.obs))
        before_obs = np.asarray(state.obs)
        state, metrics = step(state, hp)
        assert float(metrics["noise_std"]) == pytest.approx(sigma, rel=1e-5)
        rows = slice(epoch * T, (epoch + 1) * T)
        np.testing.assert_array_equal(state.buffer.items["obs"][rows], before_obs)  # this epoch's transitions
        executed = np.asarray(state.buffer.items["action"][rows])
        assert np.all(np.abs(executed) <= 1.0)
        inside = np.abs(executed) < 1.0
        assert inside.mean() > 0.97  # the policy acts well inside the box: the clip barely binds
        noise = (executed - policy)[inside]
        n = noise.size
        assert abs(noise.std() / sigma - 1.0) < 0.05, (epoch, noise.std(), sigma)  # 5% ~ 4 standard errors
        assert abs(noise.mean()) < 5.0 * sigma / np.sqrt(n)
    assert int(state.epoch) == 4
