"""Diffusion core: schedule identities, eps-MSE training (Mode II), the -score objective (Mode I),
gradient flow through every reverse step, and vmap over stacked parameter sets."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from d2rl_jax.config import ConfigError, DiffusionConfig
from d2rl_jax.diffusion import (
    SCHEDULES,
    DiffusionModel,
    make_schedule,
    q_sample,
    reverse_process,
    reverse_step_distribution,
    x0_bound,
)

TINY = DiffusionConfig(hidden_dim=64, depth=3, clip_x0=4.0)


@pytest.mark.parametrize("kind", SCHEDULES)
def test_schedule_identities(kind):
    s = make_schedule(kind, 6)
    np.testing.assert_allclose(s.alphas_cumprod, np.cumprod(np.asarray(s.alphas, np.float64)), rtol=1e-6)
    np.testing.assert_allclose(s.betas, 1.0 - s.alphas, rtol=1e-6, atol=1e-7)
    abar, abar_prev, beta = (np.asarray(x, np.float64) for x in (s.alphas_cumprod, s.alphas_cumprod_prev, s.betas))
    np.testing.assert_allclose(abar_prev, np.concatenate([[1.0], abar[:-1]]), rtol=1e-6)
    # Tables are float32 roundings of float64 values; 1 - abar cancels digits near abar = 1.
    np.testing.assert_allclose(s.posterior_variance, beta * (1 - abar_prev) / (1 - abar), rtol=1e-3)
    assert float(s.posterior_variance[0]) == 0.0  # abar_0 = 1: the last reverse step is deterministic
    assert np.all(np.diff(np.asarray(abar)) < 0) and np.all((beta > 0) & (beta < 1))
    # Posterior mean coefficients reproduce x_0 exactly when x_p is the noiseless forward mean.
    np.testing.assert_allclose(s.posterior_mean_coef1 + s.posterior_mean_coef2 * np.sqrt(abar), np.sqrt(abar_prev),
                               rtol=1e-5)


def test_vp_schedule_matches_its_closed_form():
    s = make_schedule("vp", 6, b_min=0.1, b_max=10.0)
    p = np.arange(1, 7)
    alphas = np.exp(-0.1 / 6 - 0.5 * 9.9 * (2 * p - 1) / 36)
    np.testing.assert_allclose(s.alphas, alphas, rtol=1e-6)
    assert float(s.alphas_cumprod[-1]) == pytest.approx(np.exp(-(0.1 + 0.5 * 9.9)), rel=1e-5)


def test_forward_process_moments_match_eq3():
    s = make_schedule("vp", 6)
    x0 = jnp.array([0.7, -1.2, 0.0])
    noise = jax.random.normal(jax.random.key(0), (200_000, 3))
    for step in (1, 3, 6):
        xp = q_sample(s, jnp.broadcast_to(x0, noise.shape), step, noise)
        abar = float(s.alphas_cumprod[step - 1])
        np.testing.assert_allclose(xp.mean(0), np.sqrt(abar) * x0, atol=0.01)
        np.testing.assert_allclose(xp.var(0), np.full(3, 1 - abar), rtol=0.02)


def test_reverse_step_is_a_gaussian_with_the_posterior_moments():
    s = make_schedule("vp", 6)
    x, eps = jnp.full((1, 3), 0.3), jnp.full((1, 3), -0.2)
    dist = reverse_step_distribution(s, x, 4, eps, clip=None)
    x0_hat = (0.3 - np.sqrt(1 - float(s.alphas_cumprod[3])) * -0.2) / np.sqrt(float(s.alphas_cumprod[3]))
    mean = float(s.posterior_mean_coef1[3]) * x0_hat + float(s.posterior_mean_coef2[3]) * 0.3
    np.testing.assert_allclose(dist.mean(), np.full((1, 3), mean), rtol=1e-5)
    np.testing.assert_allclose(dist.variance(), np.full((1, 3), float(s.posterior_variance[3])), rtol=1e-5)
    assert np.isfinite(float(dist.log_prob(x).sum()))


def _mixture(key, n):
    key_mode, key_noise = jax.random.split(key)
    centers = jnp.array([[-1.5, 0.5], [1.5, -0.5]])
    return centers[jax.random.bernoulli(key_mode, 0.5, (n,)).astype(jnp.int32)] + 0.3 * jax.random.normal(
        key_noise, (n, 2))


@pytest.fixture(scope="module")
def trained_mixture_model():
    model = DiffusionModel(2, TINY)
    params = model.init(jax.random.key(0))
    optimizer = optax.adam(3e-3)

    @jax.jit
    def train(params, key):
        def body(carry, key):
            params, opt_state = carry
            key_data, key_loss = jax.random.split(key)
            loss, grads = jax.value_and_grad(model.loss)(params, key_loss, _mixture(key_data, 256))
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(body, (params, optimizer.init(params)), jax.random.split(key, 600))
        return params, losses

    params, losses = train(params, jax.random.key(1))
    return model, params, losses


def _assert_matches_mixture(samples, data):
    samples, data = np.asarray(samples), np.asarray(data)
    np.testing.assert_allclose(samples.mean(0), data.mean(0), atol=0.15)
    cov, cov_ref = np.cov(samples.T), np.cov(data.T)
    # 6 VP steps end on a posterior-mean (x0-prediction) step, which shrinks variance a little.
    assert np.linalg.norm(cov - cov_ref) / np.linalg.norm(cov_ref) < 0.25
    # Both modes are reproduced, not their average.
    near_left = np.mean(np.linalg.norm(samples - [-1.5, 0.5], axis=1) < 0.9)
    near_right = np.mean(np.linalg.norm(samples - [1.5, -0.5], axis=1) < 0.9)
    assert near_left > 0.3 and near_right > 0.3 and near_left + near_right > 0.85


def test_eps_mse_training_learns_a_gaussian_mixture(trained_mixture_model):
    model, params, losses = trained_mixture_model
    assert float(losses[-50:].mean()) < 0.6 * float(losses[:20].mean())
    data = _mixture(jax.random.key(5), 20_000)
    generated = jax.jit(lambda p, k: model.sample(p, k, batch_size=20_000))(params, jax.random.key(2))
    _assert_matches_mixture(generated, data)
    regenerated = jax.jit(model.regenerate)(params, jax.random.key(3), data)  # Mode II from real data
    _assert_matches_mixture(regenerated, data)


def test_mode2_with_shallow_noising_stays_close_to_the_data(trained_mixture_model):
    model, params, _ = trained_mixture_model
    data = _mixture(jax.random.key(6), 4000)
    deep = jax.jit(model.regenerate, static_argnums=3)(params, jax.random.key(7), data, 6)
    shallow = jax.jit(model.regenerate, static_argnums=3)(params, jax.random.key(7), data, 1)
    dist = lambda x: float(jnp.mean(jnp.linalg.norm(x - data, axis=1)))  # noqa: E731
    assert dist(shallow) < 0.5 * dist(deep)


def _targets(cond):
    return 0.5 * cond + jnp.array([0.2, -0.3])


def test_mode1_negative_score_moves_samples_to_the_optimum():
    model = DiffusionModel(2, DiffusionConfig(hidden_dim=64, depth=2))
    cond = jax.random.uniform(jax.random.key(0), (256, 2), minval=-1.0, maxval=1.0)
    params = model.init(jax.random.key(1), cond)
    optimizer = optax.adam(3e-3)

    def objective(params, key):
        return model.negative_expected_score(params, key, cond, lambda x: -jnp.sum((x - _targets(cond)) ** 2, -1))

    def distance(params, key):
        return jnp.mean(jnp.linalg.norm(model.sample(params, key, cond) - _targets(cond), axis=-1))

    @jax.jit
    def train(params, key):
        def body(carry, key):
            params, opt_state = carry
            grads = jax.grad(objective)(params, key)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), None

        return jax.lax.scan(body, (params, optimizer.init(params)), jax.random.split(key, 400))[0][0]

    before = float(jax.jit(distance)(params, jax.random.key(2)))
    trained = train(params, jax.random.key(3))
    after = float(jax.jit(distance)(trained, jax.random.key(2)))
    assert after < before / 10.0, (before, after)


def test_gradients_flow_through_every_reverse_step():
    model = DiffusionModel(3, DiffusionConfig(hidden_dim=32, depth=2))
    cond = jnp.ones((4, 5))
    params = model.init(jax.random.key(0), cond)
    s = model.schedule

    def final(x_start, params):
        return jnp.sum(reverse_process(model.eps_fn(params, cond), jax.random.key(1), s, x_start, 6, None) ** 2)

    x_start = jax.random.normal(jax.random.key(2), (4, 3))
    # d x_0 / d x_P passes through all P steps; zero would mean a step cut the chain.
    grad_x = jax.jit(jax.grad(final))(x_start, params)
    assert np.all(np.isfinite(grad_x)) and float(jnp.abs(grad_x).sum()) > 0
    grads = jax.jit(jax.grad(
        lambda p: model.negative_expected_score(p, jax.random.key(3), cond, lambda x: x.sum(-1))))(params)
    leaves = jax.tree.leaves(grads)
    assert all(np.all(np.isfinite(g)) for g in leaves)
    assert all(float(jnp.abs(g).sum()) > 0 for g in leaves)  # every layer, the step embedding included


def test_vmap_over_stacked_parameter_sets_equals_separate_calls():
    model = DiffusionModel(4, DiffusionConfig(hidden_dim=32, depth=2))
    cond = jax.random.normal(jax.random.key(0), (8, 3))
    keys = jax.random.split(jax.random.key(1), 4)
    stacked = jax.vmap(model.init, (0, None))(keys, cond)
    sample_keys = jax.random.split(jax.random.key(2), 4)
    batched = jax.jit(jax.vmap(model.sample, (0, 0, None)))(stacked, sample_keys, cond)
    losses = jax.jit(jax.vmap(model.loss, (0, 0, None, None)))(stacked, sample_keys, batched[0], cond)
    sample, loss = jax.jit(model.sample), jax.jit(model.loss)
    for i in range(4):
        params_i = jax.tree.map(lambda x, i=i: x[i], stacked)
        np.testing.assert_allclose(batched[i], sample(params_i, sample_keys[i], cond), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(losses[i], loss(params_i, sample_keys[i], batched[0], cond), rtol=1e-5)
    assert not np.allclose(batched[0], batched[1])


def test_mode1_samples_respect_the_clip_and_are_deterministic_per_key():
    model = DiffusionModel(5, DiffusionConfig(hidden_dim=16, depth=1))
    params = model.init(jax.random.key(0))
    sample = jax.jit(model.sample, static_argnames="batch_size")
    a = sample(params, jax.random.key(1), batch_size=64)
    b = sample(params, jax.random.key(1), batch_size=64)
    np.testing.assert_array_equal(a, b)
    assert float(jnp.max(jnp.abs(a))) <= 1.0


def test_temperature_scales_every_draw_and_zero_is_the_deterministic_chain():
    """1 is the model's own sampling (bit-identical to the default); 0 the noise-free chain from x_P = 0, the same
    for every key; the spread of the samples grows with the temperature."""
    model = DiffusionModel(5, DiffusionConfig(hidden_dim=16, depth=1, clip_x0=None))
    params = model.init(jax.random.key(0))
    sample = jax.jit(model.sample, static_argnames="batch_size")
    key = jax.random.key(1)
    np.testing.assert_array_equal(sample(params, key, batch_size=256, temperature=1.0),
                                  sample(params, key, batch_size=256))
    cold = [sample(params, jax.random.key(k), batch_size=4, temperature=0.0) for k in (1, 2)]
    np.testing.assert_array_equal(cold[0], cold[1])
    np.testing.assert_array_equal(cold[0], jnp.broadcast_to(cold[0][:1], cold[0].shape))  # one action for all rows
    spreads = [float(jnp.std(sample(params, key, batch_size=256, temperature=t), axis=0).mean())
               for t in (0.0, 0.5, 1.0, 2.0)]
    assert spreads[0] < 1e-5 and spreads[1] < spreads[2] < spreads[3], spreads


def test_x0_bounds_keep_the_range_and_pass_the_gradient_they_promise():
    """clip: zero gradient beyond the limit (where a sampler trained through the chain sticks); straight-through:
    the clip's value with the identity's gradient; tanh: strictly inside the range with a positive gradient."""
    x = jnp.linspace(-5.0, 5.0, 101)
    clip, straight, smooth = (x0_bound(kind, 2.0) for kind in ("clip", "straight_through", "tanh"))
    assert clip == 2.0 and x0_bound("tanh", None) is None  # the float is the sampler's hard clip
    np.testing.assert_array_equal(straight(x), jnp.clip(x, -2.0, 2.0))
    np.testing.assert_array_equal(jax.grad(lambda v: straight(v).sum())(x), 1.0)
    assert float(jnp.max(jnp.abs(smooth(x)))) < 2.0
    assert bool(jnp.all(jax.grad(lambda v: smooth(v).sum())(x) > 0))
    bounded = jax.grad(lambda v: reverse_step_distribution(make_schedule("vp", 6), v, 1, jnp.zeros_like(v),
                                                           2.0).loc.sum())(x)
    assert float(jnp.abs(bounded[jnp.abs(x) > 2.5]).max()) == 0.0  # the hard clip cuts the gradient
    model = DiffusionModel(5, DiffusionConfig(hidden_dim=16, depth=1, x0_bound="tanh"))
    samples = model.sample(model.init(jax.random.key(0)), jax.random.key(1), batch_size=64)
    assert float(jnp.max(jnp.abs(samples))) < 1.0


def test_config_validation_names_the_field():
    with pytest.raises(ConfigError, match="DiffusionConfig.x0_bound"):
        DiffusionConfig(x0_bound="sigmoid")
    with pytest.raises(ConfigError, match="DiffusionConfig.schedule"):
        DiffusionConfig(schedule="quadratic")
    with pytest.raises(ConfigError, match="DiffusionConfig.time_embed_dim"):
        DiffusionConfig(time_embed_dim=15)
    with pytest.raises(ValueError, match="start_step"):
        model = DiffusionModel(2, DiffusionConfig(hidden_dim=8, depth=1))
        model.regenerate(model.init(jax.random.key(0)), jax.random.key(1), jnp.zeros((3, 2)), start_step=7)

