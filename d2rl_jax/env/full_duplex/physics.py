"""Physics of the full-duplex base station (paper Sec. III-A, DESIGN §1 and §3), in pure `jnp`.

Every function works on ONE state (one drop of users); batch with `jax.vmap`. Complex
arrays are complex64 by default and complex128 when `jax_enable_x64` is on and the inputs
are float64, so the float64 path (used by the tests) is the same code.

Shapes (K downlink users, L uplink users, N_t / N_r antennas):
    h (L, N_r) uplink channels h_l        g (K, N_t) downlink channels g_k
    w (L, N_r) receive beamformers w_l    v (K, N_t) downlink beamformers v_k
    p (L,)     uplink powers p_l          G (N_r, N_t) clutter channel  Q (N_t, N_t)

Implemented equations:
    DL SNR (11)      gamma_k = |g_k^H v_k|^2 / sigma_k^2
    UL SINR (12)     gamma_l = p_l |w_l^H h_l|^2 /
                               w_l^H (sum_{l' != l} p_l' h_l' h_l'^H + G Q G^H + sigma_r^2 I) w_l
    sum rate (13a)   C = sum_l log2(1 + gamma_l) + sum_k log2(1 + gamma_k)
    bound R' (DESIGN §3): interference-free uplink at full power + downlink water-filling.
"""

from __future__ import annotations

from typing import NamedTuple

import chex
import jax
import jax.numpy as jnp
import numpy as np
import optax

_LN2 = float(np.log(2.0))


def _float_dtype(x: jax.Array) -> jnp.dtype:
    """float32 unless the input is already a wider float (x64 path)."""
    dtype = jnp.asarray(x).dtype
    if jnp.issubdtype(dtype, jnp.complexfloating):
        return jnp.finfo(dtype).dtype
    return jnp.promote_types(dtype, jnp.float32)


def _abs2(z: jax.Array) -> jax.Array:
    return jnp.real(z) ** 2 + jnp.imag(z) ** 2


def _log2_1p(x: jax.Array) -> jax.Array:
    return jnp.log1p(x) / _LN2


def _mm(a: jax.Array, b: jax.Array) -> jax.Array:
    """a @ b at full float32 precision on every backend: GPUs otherwise round float32 products to TF32,
    which leaves a clutter null or an interference sum at ~1e-3 relative error (DESIGN §1 asks 1e-5)."""
    return jnp.matmul(a, b, precision=jax.lax.Precision.HIGHEST)


def _row_normalize(x: jax.Array) -> jax.Array:
    """Rows scaled to unit norm; an all-zero row stays zero (no NaN, finite gradients)."""
    tiny = jnp.finfo(_float_dtype(x)).tiny
    sq = jnp.sum(_abs2(x), axis=-1, keepdims=True)
    return x * jnp.where(sq > tiny, jax.lax.rsqrt(jnp.maximum(sq, tiny)), 0.0)


# --------------------------------------------------------------------------------------------
# Geometry and channels
# --------------------------------------------------------------------------------------------
def steering_vector_from_sin(sin_theta: jax.Array, n: int) -> jax.Array:
    """a(theta) = n^-1/2 [1, e^{j pi sin(theta)}, ..., e^{j pi (n-1) sin(theta)}]^T; shape (..., n)."""
    sin_theta = jnp.asarray(sin_theta)
    sin_theta = sin_theta.astype(_float_dtype(sin_theta))
    k = jnp.arange(n, dtype=sin_theta.dtype)
    phase = jnp.pi * sin_theta[..., None] * k
    return jax.lax.complex(jnp.cos(phase), jnp.sin(phase)) / jnp.sqrt(jnp.asarray(n, sin_theta.dtype))


def steering_vector(theta: jax.Array, n: int) -> jax.Array:
    """Half-wavelength ULA steering vector towards angle theta (radians), unit norm; shape (..., n)."""
    return steering_vector_from_sin(jnp.sin(jnp.asarray(theta)), n)


def user_sin_angle(positions: jax.Array) -> jax.Array:
    """sin(theta) of users at planar positions (..., 2) in metres, BS at the origin.

    Convention: theta is the azimuth from the +x axis, the array's broadside. A ULA sees only
    sin(theta), so theta is folded to [-pi/2, pi/2] (front/back ambiguity); a user exactly at
    the origin has sin(theta) = 0.
    """
    x, y = positions[..., 0], positions[..., 1]
    rho2 = x * x + y * y
    tiny = jnp.finfo(_float_dtype(positions)).tiny
    return jnp.where(rho2 > tiny, y * jax.lax.rsqrt(jnp.maximum(rho2, tiny)), 0.0)


def user_channels(
    positions: jax.Array,
    num_antennas: int,
    rho0: jax.Array,
    pathloss_exponent: jax.Array,
    bs_height: jax.Array,
    array_gain: bool = True,
) -> jax.Array:
    """Line-of-sight channels of users at positions (N, 2) -> (N, num_antennas) complex.

    rho0 * d^-alpha is a POWER gain at 3-D distance d = sqrt(x^2 + y^2 + height^2); with
    `array_gain` the channel is sqrt(rho0 d^-alpha) * sqrt(N) * a(theta) (DESIGN §1).
    """
    chex.assert_rank(positions, 2)
    chex.assert_axis_dimension(positions, 1, 2)
    dtype = _float_dtype(positions)
    dist2 = jnp.sum(positions**2, axis=-1) + jnp.asarray(bs_height, dtype) ** 2
    power_gain = jnp.asarray(rho0, dtype) * dist2 ** (-0.5 * jnp.asarray(pathloss_exponent, dtype))
    amplitude = jnp.sqrt(power_gain)
    if array_gain:
        amplitude = amplitude * np.sqrt(num_antennas)
    return amplitude[:, None] * steering_vector_from_sin(user_sin_angle(positions), num_antennas)


def clutter_matrix(angles: jax.Array, betas: jax.Array, num_rx: int, num_tx: int) -> jax.Array:
    """G = sum_f beta_f a_r(theta_f) a_t(theta_f)^H, shape (N_r, N_t); F = 0 gives G = 0."""
    a_r = steering_vector(angles, num_rx)  # (F, N_r)
    a_t = steering_vector(angles, num_tx)  # (F, N_t)
    return jnp.einsum("f,fr,ft->rt", betas, a_r, jnp.conj(a_t), precision="highest")


def transmit_covariance(v: jax.Array) -> jax.Array:
    """Q = sum_k v_k v_k^H, shape (N_t, N_t)."""
    return _mm(v.T, jnp.conj(v))


# --------------------------------------------------------------------------------------------
# Rates
# --------------------------------------------------------------------------------------------
def downlink_snr(g: jax.Array, v: jax.Array, noise_dl: jax.Array) -> jax.Array:
    """Eq. (11): |g_k^H v_k|^2 / sigma_k^2, shape (K,)."""
    return _abs2(jnp.sum(jnp.conj(g) * v, axis=-1)) / noise_dl


def uplink_sinr(
    h: jax.Array, w: jax.Array, p: jax.Array, G: jax.Array, v: jax.Array, noise_ul: jax.Array
) -> jax.Array:
    """Eq. (12), shape (L,). SINR does not depend on the scale of w_l; a zero w_l gives 0."""
    w = _row_normalize(w)
    num_ul = h.shape[0]
    received = _abs2(_mm(jnp.conj(w), h.T)) * p[None, :]  # [l, l'] = p_l' |w_l^H h_l'|^2
    signal = jnp.diagonal(received)
    # Masked sum instead of (total - signal): no cancellation when the signal dominates.
    multiuser = jnp.sum(jnp.where(jnp.eye(num_ul, dtype=bool), 0.0, received), axis=-1)
    clutter = jnp.sum(_abs2(_mm(_mm(jnp.conj(w), G), v.T)), axis=-1)  # w^H G Q G^H w = sum_k |w^H G v_k|^2
    noise = noise_ul * jnp.sum(_abs2(w), axis=-1)
    denominator = multiuser + clutter + noise
    tiny = jnp.finfo(denominator.dtype).tiny
    return signal / jnp.maximum(denominator, tiny)


def sum_rate(
    h: jax.Array,
    g: jax.Array,
    w: jax.Array,
    v: jax.Array,
    p: jax.Array,
    G: jax.Array,
    noise_ul: jax.Array,
    noise_dl: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Eq. (13a): returns (C, ul_rates (L,), dl_rates (K,)) in bit/s/Hz. Stable public API."""
    num_ul, num_rx = h.shape
    num_dl, num_tx = g.shape
    chex.assert_shape(w, (num_ul, num_rx))
    chex.assert_shape(v, (num_dl, num_tx))
    chex.assert_shape(p, (num_ul,))
    chex.assert_shape(G, (num_rx, num_tx))
    ul_rates = _log2_1p(uplink_sinr(h, w, p, G, v, noise_ul))
    dl_rates = _log2_1p(downlink_snr(g, v, noise_dl))
    return jnp.sum(ul_rates) + jnp.sum(dl_rates), ul_rates, dl_rates


def mmse_receivers(
    h: jax.Array, p: jax.Array, G: jax.Array, Q: jax.Array, noise_ul: jax.Array
) -> jax.Array:
    """Unit-norm w_l proportional to R_l^-1 h_l, shape (L, N_r): the SINR-optimal receivers.

    R_l = sum_{l' != l} p_l' h_l' h_l'^H + G Q G^H + sigma_r^2 I. By Sherman-Morrison,
    R^-1 h_l is parallel to R_l^-1 h_l for R = R_l + p_l h_l h_l^H, so one solve serves all l.
    The covariance is divided by sigma_r^2 first so that float32 sees O(1) entries.
    """
    num_rx = h.shape[1]
    hn = h / jnp.sqrt(noise_ul).astype(h.dtype)
    Gn = G / jnp.sqrt(noise_ul).astype(G.dtype)
    covariance = (
        _mm(hn.T, p[:, None].astype(h.dtype) * jnp.conj(hn))
        + _mm(_mm(Gn, Q), jnp.conj(Gn.T))
        + jnp.eye(num_rx, dtype=h.dtype)
    )
    w = jnp.linalg.solve(covariance, hn.T).T
    return _row_normalize(w)


# --------------------------------------------------------------------------------------------
# Upper bound R' (DESIGN §3)
# --------------------------------------------------------------------------------------------
def water_filling(gains: jax.Array, budget: jax.Array) -> jax.Array:
    """Exact water-filling: argmax_q sum_k log2(1 + gains_k q_k) s.t. q >= 0, sum q <= budget.

    Sorting the inverse gains ascending, the water level with m active channels is
    mu_m = (budget + sum_{i<=m} 1/gain_(i)) / m; the active set is the largest prefix with
    mu_m > 1/gain_(m) (the condition holds on a prefix). No iteration, no bisection error.
    """
    dtype = _float_dtype(gains)
    gains = jnp.asarray(gains, dtype)
    big = jnp.asarray(jnp.finfo(dtype).max / (4 * gains.shape[-1] + 4), dtype)
    inverse = jnp.where(gains > 0, 1.0 / jnp.maximum(gains, jnp.finfo(dtype).tiny), big)
    inverse = jnp.minimum(inverse, big)
    sorted_inverse = jnp.sort(inverse)
    counts = jnp.arange(1, gains.shape[-1] + 1, dtype=dtype)
    levels = (budget + jnp.cumsum(sorted_inverse)) / counts
    num_active = jnp.maximum(jnp.sum(levels > sorted_inverse), 1)
    level = levels[num_active - 1]
    return jnp.where(gains > 0, jnp.maximum(level - inverse, 0.0), 0.0)


def upper_bound(
    h: jax.Array,
    g: jax.Array,
    p_ul_max: jax.Array,
    p_dl_max: jax.Array,
    noise_ul: jax.Array,
    noise_dl: jax.Array,
) -> jax.Array:
    """R'(s) >= C for every feasible action (DESIGN §3).

    Uplink: every interference term in (12) is PSD, so gamma_l <= P_l ||h_l||^2 / sigma_r^2.
    Downlink: |g_k^H v_k|^2 <= ||g_k||^2 ||v_k||^2, then the best split of P_max is water-filling.
    """
    ul_snr = jnp.broadcast_to(p_ul_max, h.shape[:1]) * jnp.sum(_abs2(h), axis=-1) / noise_ul
    dl_gains = jnp.sum(_abs2(g), axis=-1) / noise_dl
    dl_power = water_filling(dl_gains, p_dl_max)
    return jnp.sum(_log2_1p(ul_snr)) + jnp.sum(_log2_1p(dl_gains * dl_power))


# --------------------------------------------------------------------------------------------
# Classical baselines
# --------------------------------------------------------------------------------------------
class Allocation(NamedTuple):
    """A feasible allocation and its sum rate."""

    w: jax.Array  # (L, N_r)
    v: jax.Array  # (K, N_t)
    p: jax.Array  # (L,)
    sum_rate: jax.Array  # ()


def heuristic_allocation(
    h: jax.Array,
    g: jax.Array,
    G: jax.Array,
    p_ul_max: jax.Array,
    p_dl_max: jax.Array,
    noise_ul: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """MRT downlink with an equal power split, full uplink power, MMSE receivers -> (w, v, p)."""
    num_dl = g.shape[0]
    scale = jnp.sqrt(jnp.asarray(p_dl_max, _float_dtype(g)) / num_dl)
    v = _row_normalize(g) * scale.astype(g.dtype)
    p = jnp.broadcast_to(jnp.asarray(p_ul_max, _float_dtype(h)), h.shape[:1])
    w = mmse_receivers(h, p, G, transmit_covariance(v), noise_ul)
    return w, v, p


def optimize_allocation(
    key: jax.Array,
    h: jax.Array,
    g: jax.Array,
    G: jax.Array,
    p_ul_max: jax.Array,
    p_dl_max: jax.Array,
    noise_ul: jax.Array,
    noise_dl: jax.Array,
    *,
    num_restarts: int = 8,
    num_steps: int = 300,
    learning_rate: float = 0.2,
) -> Allocation:
    """Optimizer baseline C*(s): projected gradient ascent (Adam) over v and p with MMSE receivers.

    Restart 0 starts from `heuristic_allocation`, the others from random full-power beams and
    uniform powers. The best iterate of every restart is kept, so C* >= heuristic C. The
    variables are normalized (v = sqrt(P_max) u with ||u||_F <= 1, p = P_l q with q in [0, 1]),
    so one learning rate fits any power scale. Jittable and vmappable over states.
    """
    num_dl, num_tx = g.shape
    num_ul = h.shape[0]
    dtype = _float_dtype(h)
    v_scale = jnp.sqrt(jnp.asarray(p_dl_max, dtype))
    p_scale = jnp.broadcast_to(jnp.asarray(p_ul_max, dtype), (num_ul,))

    def unpack(params):
        u, q = params
        v = jax.lax.complex(u[..., 0], u[..., 1]) * v_scale.astype(h.dtype)
        p = q * p_scale
        return v, p

    def evaluate(params):
        v, p = unpack(params)
        w = mmse_receivers(h, p, G, transmit_covariance(v), noise_ul)
        return sum_rate(h, g, w, v, p, G, noise_ul, noise_dl)[0]

    def project(params):
        u, q = params
        return optax.projections.projection_l2_ball(u), optax.projections.projection_box(q, 0.0, 1.0)

    heuristic_u = _row_normalize(g) / np.sqrt(num_dl)
    heuristic = (jnp.stack([jnp.real(heuristic_u), jnp.imag(heuristic_u)], -1), jnp.ones((num_ul,), dtype))
    key_u, key_q = jax.random.split(key)
    random_u = jax.random.normal(key_u, (num_restarts, num_dl, num_tx, 2), dtype)
    random_u = random_u / jnp.linalg.norm(random_u.reshape(num_restarts, -1), axis=-1)[:, None, None, None]
    random_q = jax.random.uniform(key_q, (num_restarts, num_ul), dtype)
    starts = (random_u.at[0].set(heuristic[0]), random_q.at[0].set(heuristic[1]))

    optimizer = optax.adam(optax.cosine_decay_schedule(learning_rate, num_steps, alpha=0.05))
    value_and_grad = jax.value_and_grad(lambda prm: -evaluate(prm))

    def ascend(params):
        def body(carry, _):
            params, opt_state, best_params, best_rate = carry
            neg_rate, grads = value_and_grad(params)
            better = -neg_rate > best_rate
            best_params = jax.tree.map(lambda b, x: jnp.where(better, x, b), best_params, params)
            best_rate = jnp.where(better, -neg_rate, best_rate)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = project(optax.apply_updates(params, updates))
            return (params, opt_state, best_params, best_rate), None

        init = (params, optimizer.init(params), params, jnp.asarray(-jnp.inf, dtype))
        (last, _, best_params, best_rate), _ = jax.lax.scan(body, init, None, length=num_steps)
        last_rate = evaluate(last)
        take_last = last_rate > best_rate
        best_params = jax.tree.map(lambda b, x: jnp.where(take_last, x, b), best_params, last)
        return best_params, jnp.maximum(best_rate, last_rate)

    params, rates = jax.vmap(ascend)(starts)
    best = jnp.argmax(rates)
    v, p = unpack(jax.tree.map(lambda x: x[best], params))
    w = mmse_receivers(h, p, G, transmit_covariance(v), noise_ul)
    return Allocation(w=w, v=v, p=p, sum_rate=rates[best])
