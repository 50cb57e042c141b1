"""Physics against hand-derived cases, a numpy reference, and the bounds' inequalities."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.env.full_duplex import physics

NOISE = 1e-3


def _crandn(rng, *shape):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / np.sqrt(2)


def _random_system(rng, K=3, L=2, Nt=4, Nr=5, F=2):
    h = _crandn(rng, L, Nr) * 0.1
    g = _crandn(rng, K, Nt) * 0.1
    w = _crandn(rng, L, Nr)
    v = _crandn(rng, K, Nt) * 0.3
    p = rng.uniform(0.1, 1.0, L)
    angles = rng.uniform(-1.5, 1.5, F)
    G = np.asarray(physics.clutter_matrix(angles, _crandn(rng, F) * 0.05, Nr, Nt), np.complex128)
    return h, g, w, v, p, G


def numpy_sum_rate(h, g, w, v, p, G, noise_ul, noise_dl):
    """Eqs. (11)-(13a) written literally, one user at a time, in float64."""
    L, Nr = h.shape
    Q = sum(np.outer(vk, np.conj(vk)) for vk in v)
    ul = []
    for l in range(L):
        R = G @ Q @ G.conj().T + noise_ul * np.eye(Nr)
        for m in range(L):
            if m != l:
                R = R + p[m] * np.outer(h[m], np.conj(h[m]))
        wl = w[l][:, None]
        num = p[l] * (wl.conj().T @ np.outer(h[l], np.conj(h[l])) @ wl).real.item()
        den = (wl.conj().T @ R @ wl).real.item()
        ul.append(np.log2(1 + num / den))
    dl = [np.log2(1 + abs(np.vdot(gk, vk)) ** 2 / noise_dl) for gk, vk in zip(g, v, strict=True)]
    return sum(ul) + sum(dl), np.array(ul), np.array(dl)


def test_steering_vector_is_unit_norm_with_linear_phase():
    a = np.asarray(physics.steering_vector(0.3, 6))
    assert np.linalg.norm(a) == pytest.approx(1.0, rel=1e-6)
    np.testing.assert_allclose(np.angle(a[1] / a[0]), np.pi * np.sin(0.3), rtol=1e-5)


def test_sum_rate_matches_numpy_loop_in_float64():
    rng = np.random.default_rng(0)
    with jax.enable_x64(True):
        for _ in range(5):
            args = _random_system(rng)
            C, ul, dl = physics.sum_rate(*[jnp.asarray(x) for x in args], NOISE, 2 * NOISE)
            assert C.dtype == jnp.float64
            C_ref, ul_ref, dl_ref = numpy_sum_rate(*args, NOISE, 2 * NOISE)
            assert abs(float(C) - C_ref) / C_ref < 1e-5
            np.testing.assert_allclose(ul, ul_ref, rtol=1e-5)
            np.testing.assert_allclose(dl, dl_ref, rtol=1e-5)


def test_float32_path_agrees_with_float64():
    rng = np.random.default_rng(1)
    args = _random_system(rng)
    C32 = physics.sum_rate(*[jnp.asarray(x, jnp.complex64 if np.iscomplexobj(x) else jnp.float32) for x in args],
                           NOISE, 2 * NOISE)[0]
    assert C32.dtype == jnp.float32
    C_ref = numpy_sum_rate(*args, NOISE, 2 * NOISE)[0]
    assert abs(float(C32) - C_ref) / C_ref < 1e-5


def test_single_uplink_user_without_clutter_mmse_reaches_matched_filter_snr():
    rng = np.random.default_rng(2)
    h = jnp.asarray(_crandn(rng, 1, 4), jnp.complex64)
    v = jnp.zeros((1, 3), jnp.complex64)
    p = jnp.array([0.7])
    G = jnp.zeros((4, 3), jnp.complex64)
    w = physics.mmse_receivers(h, p, G, physics.transmit_covariance(v), NOISE)
    sinr = physics.uplink_sinr(h, w, p, G, v, NOISE)
    expected = 0.7 * float(jnp.sum(jnp.abs(h) ** 2)) / NOISE
    assert float(sinr[0]) == pytest.approx(expected, rel=1e-5)


def test_orthogonal_channels_decouple_users():
    """Orthogonal h_l and g_k: no multi-user interference; each rate is its single-user SNR."""
    Nr, Nt = 4, 4
    h = jnp.asarray(np.eye(Nr)[:2] * np.array([[0.2], [0.05]]), jnp.complex64)
    g = jnp.asarray(np.eye(Nt)[1:4] * np.array([[0.1], [0.3], [0.02]]), jnp.complex64)
    v = jnp.asarray(np.eye(Nt)[1:4] * np.sqrt([[0.5], [1.0], [1.5]]), jnp.complex64)
    p = jnp.array([1.0, 0.4])
    G = jnp.zeros((Nr, Nt), jnp.complex64)
    C, ul, dl = physics.sum_rate(h, g, h, v, p, G, NOISE, NOISE)
    ul_expected = np.log2(1 + np.array([1.0 * 0.2**2, 0.4 * 0.05**2]) / NOISE)
    dl_expected = np.log2(1 + np.array([0.5 * 0.1**2, 1.0 * 0.3**2, 1.5 * 0.02**2]) / NOISE)
    np.testing.assert_allclose(ul, ul_expected, rtol=1e-5)
    np.testing.assert_allclose(dl, dl_expected, rtol=1e-5)
    assert float(C) == pytest.approx(ul_expected.sum() + dl_expected.sum(), rel=1e-5)


def test_zero_power_gives_zero_rate():
    rng = np.random.default_rng(3)
    h, g, w, _, _, G = _random_system(rng)
    C, ul, dl = physics.sum_rate(h, g, w, np.zeros_like(g), np.zeros(h.shape[0]), G, NOISE, NOISE)
    assert float(C) == 0.0 and np.all(np.asarray(ul) == 0) and np.all(np.asarray(dl) == 0)


def test_zero_receiver_gives_zero_rate_not_nan():
    rng = np.random.default_rng(4)
    h, g, w, v, p, G = _random_system(rng)
    C, ul, _ = physics.sum_rate(h, g, np.zeros_like(w), v, p, G, NOISE, NOISE)
    assert np.all(np.asarray(ul) == 0) and np.isfinite(float(C))


def test_mmse_receiver_beats_every_random_receiver():
    rng = np.random.default_rng(5)
    h, g, _, v, p, G = [jnp.asarray(x) for x in _random_system(rng, K=3, L=3, Nt=4, Nr=4)]
    h, g, v, G = (x.astype(jnp.complex64) for x in (h, g, v, G))
    p = p.astype(jnp.float32)
    w_mmse = physics.mmse_receivers(h, p, G, physics.transmit_covariance(v), NOISE)
    best = physics.uplink_sinr(h, w_mmse, p, G, v, NOISE)
    w_random = jnp.asarray(_crandn(rng, 2000, 3, 4), jnp.complex64)
    random_sinr = jax.vmap(lambda w: physics.uplink_sinr(h, w, p, G, v, NOISE))(w_random)
    assert np.all(np.asarray(random_sinr) <= np.asarray(best)[None] * (1 + 1e-5))
    # MMSE SINR also has the closed form p_l h_l^H R_l^-1 h_l.
    Q = physics.transmit_covariance(v)
    for l in range(3):
        R = G @ Q @ G.conj().T + NOISE * jnp.eye(4) + sum(
            p[m] * jnp.outer(h[m], h[m].conj()) for m in range(3) if m != l)
        closed = p[l] * jnp.real(h[l].conj() @ jnp.linalg.solve(R, h[l]))
        assert float(best[l]) == pytest.approx(float(closed), rel=1e-4)


def _brute_force_water_filling(gains, budget):
    lo, hi = 0.0, budget + (1 / gains).max()
    for _ in range(200):  # bisection on the water level, float64
        mu = (lo + hi) / 2
        lo, hi = (mu, hi) if np.maximum(mu - 1 / gains, 0).sum() < budget else (lo, mu)
    return np.maximum(mu - 1 / gains, 0)


@pytest.mark.parametrize("seed", range(5))
def test_water_filling_is_exact(seed):
    rng = np.random.default_rng(seed)
    gains = rng.uniform(0.05, 30.0, 6)
    budget = rng.uniform(0.1, 5.0)
    with jax.enable_x64(True):
        q = np.asarray(physics.water_filling(jnp.asarray(gains), budget))
    np.testing.assert_allclose(q, _brute_force_water_filling(gains, budget), atol=1e-9)
    assert q.sum() == pytest.approx(budget, rel=1e-12)


def test_water_filling_handles_dead_channels():
    q = physics.water_filling(jnp.array([0.0, 2.0, 0.0]), 1.5)
    np.testing.assert_allclose(q, [0.0, 1.5, 0.0], rtol=1e-6)
    assert np.all(np.isfinite(physics.water_filling(jnp.zeros(3), 1.0)))


def test_upper_bound_for_one_downlink_user_is_sum_of_single_user_bounds():
    rng = np.random.default_rng(6)
    h = jnp.asarray(_crandn(rng, 3, 4) * 0.1, jnp.complex64)
    g = jnp.asarray(_crandn(rng, 1, 5) * 0.1, jnp.complex64)
    p_ul = jnp.array([1.0, 0.5, 0.2])
    bound = physics.upper_bound(h, g, p_ul, 3.0, NOISE, 2 * NOISE)
    ul_single = sum(np.log2(1 + float(p_ul[l]) * float(jnp.sum(jnp.abs(h[l]) ** 2)) / NOISE) for l in range(3))
    dl_single = np.log2(1 + 3.0 * float(jnp.sum(jnp.abs(g) ** 2)) / (2 * NOISE))
    assert float(bound) == pytest.approx(ul_single + dl_single, rel=1e-5)


def test_clutter_matrix_is_sum_of_rank_one_terms():
    angles = jnp.array([-0.8, 0.4])
    betas = jnp.array([0.3 + 0.1j, -0.2j], jnp.complex64)
    G = physics.clutter_matrix(angles, betas, 4, 3)
    expected = sum(b * jnp.outer(physics.steering_vector(t, 4), physics.steering_vector(t, 3).conj())
                   for t, b in zip(angles, betas, strict=True))
    np.testing.assert_allclose(G, expected, atol=1e-7)
    assert np.linalg.matrix_rank(np.asarray(G), tol=1e-6) == 2


def test_channel_power_follows_pathloss_and_array_gain():
    positions = jnp.array([[300.0, 0.0], [0.0, -100.0]])
    h = physics.user_channels(positions, 6, 4.16e-6, 3.6, 100.0, array_gain=True)
    d2 = np.array([300.0**2 + 100.0**2, 2 * 100.0**2])
    np.testing.assert_allclose(jnp.sum(jnp.abs(h) ** 2, -1), 6 * 4.16e-6 * d2 ** (-1.8), rtol=1e-5)
    h1 = physics.user_channels(positions, 6, 4.16e-6, 3.6, 100.0, array_gain=False)
    np.testing.assert_allclose(jnp.sum(jnp.abs(h1) ** 2, -1), 4.16e-6 * d2 ** (-1.8), rtol=1e-5)
    # User on the +x axis is at broadside; one on -y is at -90 degrees (sin = -1).
    np.testing.assert_allclose(physics.user_sin_angle(positions), [0.0, -1.0], atol=1e-7)
