"""Environment contract, action feasibility for any input, determinism, and transforms."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from d2rl_jax.config import env_preset
from d2rl_jax.env import FullDuplexEnv, decode_action, decode_observation

ANY_FLOAT32 = st.floats(width=32, allow_nan=True, allow_infinity=True)


def _rollout(env, params, key, num_steps, batch):
    def one(key):
        key_reset, key_loop = jax.random.split(key)
        obs, state = env.reset(key_reset, params)

        def body(state, key):
            key_act, key_step = jax.random.split(key)
            action = jax.random.uniform(key_act, (env.action_size,), minval=-1.0, maxval=1.0)
            obs, state, info, done, _ = env.step(key_step, state, action, params)
            return state, (obs, info.sum_rate, done)

        return jax.lax.scan(body, state, jax.random.split(key_loop, num_steps))[1]

    return jax.jit(jax.vmap(one))(jax.random.split(key, batch))


def test_reset_and_step_shapes(paper_env, key):
    env, params = paper_env
    obs, state = jax.jit(env.reset)(key, params)
    assert obs.shape == (140,) and obs.dtype == jnp.float32
    assert np.all(np.abs(obs) < 10.0)  # O(1) features
    action = jnp.zeros(env.action_size)
    obs2, state2, info, done, extra = _jit_step(env)(key, state, action, params)
    assert obs2.shape == (140,) and info.link_rates.ul.shape == (4,) and info.link_rates.dl.shape == (6,)
    assert info.sum_rate.shape == () and done.dtype == jnp.bool_
    assert float(info.upper_bound) >= float(info.sum_rate)


def test_observation_round_trip(paper_env, key):
    env, params = paper_env
    obs, state = env.reset(key, params)
    positions, g, h = decode_observation(obs, env.cfg, params)
    ref = env.channels(state.positions, params)
    np.testing.assert_allclose(positions, state.positions, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(g, ref.g, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(h, ref.h, rtol=1e-5, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(raw=hnp.arrays(np.float32, 124, elements=ANY_FLOAT32))
def test_decoded_action_is_feasible_for_any_input(paper_env, raw):
    env, params = paper_env
    g, h = env.channels(jnp.zeros((10, 2)) + 50.0, params)
    decoded = _decode_learned(jnp.asarray(raw), params, h)
    v_power = float(jnp.sum(jnp.abs(decoded.v) ** 2))
    assert np.isfinite(v_power) and v_power <= float(params.bs_power_max) * (1 + 1e-5)
    assert np.all(np.isfinite(decoded.p)) and np.all(decoded.p >= 0) and np.all(decoded.p <= params.ul_power_max)
    assert np.all(np.isfinite(decoded.w)) and np.all(jnp.linalg.norm(decoded.w, axis=-1) > 0)
    assert bool(decoded.nonfinite) == (not np.all(np.isfinite(raw)))


@settings(max_examples=40, deadline=None)
@given(raw=hnp.arrays(np.float32, 76, elements=ANY_FLOAT32))
def test_env_step_never_returns_nan(mmse_env, raw):
    env, params, state = mmse_env
    obs, _, info, _, extra = _jit_step(env)(jax.random.key(1), state, jnp.asarray(raw), params)
    assert np.all(np.isfinite(obs))
    assert all(np.all(np.isfinite(x)) for x in jax.tree.leaves(info))
    assert float(info.sum_rate) <= float(info.upper_bound) * (1 + 1e-5)
    assert bool(extra["nonfinite_action"]) == (not np.all(np.isfinite(raw)))


@pytest.fixture(scope="module")
def mmse_env():
    env = FullDuplexEnv(env_preset("paper").replace(receiver="mmse"))
    params = env.default_params
    return env, params, env.reset(jax.random.key(0), params)[1]


_STEPS = {}


def _jit_step(env):
    return _STEPS.setdefault(env.cfg, jax.jit(env.step))


@jax.jit
def _decode_learned(raw, params, h):
    return decode_action(raw, env_preset("paper"), params, h, params.clutter)


def test_full_budget_spent_when_raw_norm_exceeds_one(paper_env):
    env, params = paper_env
    g, h = env.channels(jnp.ones((10, 2)), params)
    raw = jnp.ones(124)
    v_power = float(jnp.sum(jnp.abs(_decode_learned(raw, params, h).v) ** 2))
    assert v_power == pytest.approx(3.0, rel=1e-5)
    small = _decode_learned(raw * 0.01, params, h)
    assert float(jnp.sum(jnp.abs(small.v) ** 2)) == pytest.approx(3.0 * 0.01**2 * 72, rel=1e-4)


def test_mmse_receiver_beats_learned_receiver_for_same_beams_and_powers(paper_env, key):
    env, params = paper_env
    mmse = FullDuplexEnv(env.cfg.replace(receiver="mmse"))
    keys = jax.random.split(key, 64)
    _, states = jax.vmap(env.reset, (0, None))(keys, params)
    channels = jax.vmap(env.channels, (0, None))(states.positions, params)
    actions = jax.random.uniform(jax.random.key(5), (64, 124), minval=-1.0, maxval=1.0)
    learned_info, _ = jax.jit(jax.vmap(env.evaluate, (0, 0, None)))(channels, actions, params)
    mmse_info, _ = jax.jit(jax.vmap(mmse.evaluate, (0, 0, None)))(channels, actions[:, 48:], params)
    assert np.all(np.asarray(mmse_info.sum_rate) >= np.asarray(learned_info.sum_rate) - 1e-4)


def test_same_key_same_trajectory_and_different_keys_differ(small_env):
    env, params = small_env
    a = _rollout(env, params, jax.random.key(3), 5, 4)
    b = _rollout(env, params, jax.random.key(3), 5, 4)
    c = _rollout(env, params, jax.random.key(4), 5, 4)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(a[0], c[0])
    assert not np.allclose(a[0][0], a[0][1])  # parallel environments are independent


def test_jit_and_vmap_match_the_plain_call(small_env, key):
    env, params = small_env
    keys = jax.random.split(key, 2)
    actions = jax.random.normal(jax.random.key(9), (2, env.action_size))
    _, states = jax.vmap(env.reset, (0, None))(keys, params)
    batched = jax.jit(jax.vmap(env.step, (0, 0, 0, None)))(keys, states, actions, params)
    for i in range(2):
        state_i = jax.tree.map(lambda x, i=i: x[i], states)
        plain = env.step(keys[i], state_i, actions[i], params)
        jitted = jax.jit(env.step)(keys[i], state_i, actions[i], params)
        for x, y, z in zip(jax.tree.leaves(plain), jax.tree.leaves(jitted),
                           jax.tree.leaves(jax.tree.map(lambda x, i=i: x[i], batched)), strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(x, z, rtol=1e-5, atol=1e-6)


def test_random_walk_moves_users_a_bounded_step_and_stays_in_the_cell(small_env, key):
    env, params = small_env
    _, state = env.reset(key, params)
    step = jax.jit(env.step)
    for i in range(20):
        _, new, *_ = step(jax.random.fold_in(key, i), state, jnp.zeros(env.action_size), params)
        moved = jnp.linalg.norm(new.positions - state.positions, axis=-1)
        assert np.all(moved <= 1.5 + 1e-4)
        assert np.all(jnp.linalg.norm(new.positions, axis=-1) <= 300.0 + 1e-3)
        state = new
    edge = state.replace(positions=jnp.full_like(state.positions, 299.9 / np.sqrt(2)))
    for i in range(20):
        _, edge, *_ = step(jax.random.fold_in(key, 100 + i), edge, jnp.zeros(env.action_size), params)
        assert np.all(jnp.linalg.norm(edge.positions, axis=-1) <= 300.0 + 1e-3)


def test_iid_mobility_redraws_users(key):
    env = FullDuplexEnv(env_preset("small").replace(mobility="iid"))
    params = env.default_params
    _, state = env.reset(key, params)
    _, new, *_ = jax.jit(env.step)(jax.random.key(1), state, jnp.zeros(env.action_size), params)
    assert float(jnp.min(jnp.linalg.norm(new.positions - state.positions, axis=-1))) > 1.5


def test_horizon_marks_episode_ends_without_redropping_users(key):
    env = FullDuplexEnv(env_preset("small").replace(horizon=3))
    params = env.default_params
    _, state = env.reset(key, params)
    step = jax.jit(env.step)
    dones = []
    for i in range(7):
        previous = state.positions
        _, state, _, done, extra = step(jax.random.fold_in(key, i), state, jnp.zeros(env.action_size), params)
        dones.append(bool(done))
        assert float(jnp.max(jnp.linalg.norm(state.positions - previous, axis=-1))) <= 1.5 + 1e-4
    assert dones == [False, False, True, False, False, True, False]


def test_uniform_drop_covers_the_disc(small_env, key):
    env, params = small_env
    _, states = jax.jit(jax.vmap(env.reset, (0, None)))(jax.random.split(key, 4000), params)
    radius = np.linalg.norm(np.asarray(states.positions).reshape(-1, 2), axis=-1)
    assert radius.max() <= 300.0
    # Uniform over the area: P(r < R/2) = 1/4.
    assert np.mean(radius < 150.0) == pytest.approx(0.25, abs=0.02)
