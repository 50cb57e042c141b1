"""Forward noising (eq. 3) and the reverse (denoising) process (eq. 7): Mode I and Mode II.

All functions take `eps_fn(x, step) -> predicted noise`, a closure over network parameters and
any condition, so the samplers know nothing about the network or what x means.

Reverse step p (eq. 7, DDPM ancestral sampling with x0-prediction):
    x0_hat  = sqrt(1/abar_p) x_p - sqrt(1/abar_p - 1) eps_fn(x_p, p)     (bounded to [-c, c], see `x0_bound`)
    x_{p-1} ~ N(c1_p x0_hat + c2_p x_p, btilde_p I)                      (no noise at p = 1)
Mode I:  x_P ~ N(0, I), then P reverse steps (actions, rewards).
Mode II: x_{p0} ~ q(x_{p0} | x_0) by eq. (3), then p0 reverse steps (states).
The loop is a `lax.scan` with a fresh key per step; gradients flow through every step.
A temperature (traced) scales every draw of Mode I, the start and each step's noise: 1 is the model's own
sampling, 0 the noise-free reverse chain from the fixed start x_P = 0 (the deterministic evaluation).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from d2rl_jax.config import X0_BOUNDS
from d2rl_jax.diffusion.schedules import Schedule

if TYPE_CHECKING:
    import distrax

EpsFn = Callable[[jax.Array, jax.Array], jax.Array]
# How the x0-prediction is kept in range: None (unbounded), a float c (the hard clip to [-c, c], the paper's and
# GDMOPT's), or any function of the prediction (`x0_bound`).
Bound = float | Callable[[jax.Array], jax.Array] | None


def x0_bound(kind: str, limit: float | None) -> Bound:
    """The bound of kind `kind` at `limit` (None: unbounded). `clip` passes zero gradient to an entry beyond the
    limit (a sampler trained through the chain can stick there, DESIGN §4); `straight_through` clips the value
    and passes the gradient as if it had not; `tanh` is the smooth limit * tanh(x0 / limit)."""
    if limit is None:
        return None
    if kind == "clip":
        return limit
    if kind == "straight_through":
        return lambda x: x + jax.lax.stop_gradient(jnp.clip(x, -limit, limit) - x)
    if kind == "tanh":
        return lambda x: limit * jnp.tanh(x / limit)
    raise ValueError(f"x0_bound={kind!r} is invalid: must be one of {X0_BOUNDS}")


def _bounded(x: jax.Array, bound: Bound) -> jax.Array:
    if bound is None:
        return x
    return bound(x) if callable(bound) else jnp.clip(x, -bound, bound)


def _at(table: jax.Array, step: jax.Array, x: jax.Array) -> jax.Array:
    """table[step - 1] broadcast against x's trailing feature axis."""
    return jnp.asarray(table[jnp.asarray(step) - 1])[..., None] if jnp.ndim(step) else table[step - 1]


def q_sample(schedule: Schedule, x0: jax.Array, step: jax.Array, noise: jax.Array) -> jax.Array:
    """Eq. (3): x_p = sqrt(abar_p) x_0 + sqrt(1 - abar_p) noise; `step` is scalar or per row."""
    return _at(schedule.sqrt_alphas_cumprod, step, x0) * x0 + _at(
        schedule.sqrt_one_minus_alphas_cumprod, step, x0) * noise


def predict_x0(schedule: Schedule, x: jax.Array, step: jax.Array, eps: jax.Array) -> jax.Array:
    return _at(schedule.sqrt_recip_alphas_cumprod, step, x) * x - _at(
        schedule.sqrt_recipm1_alphas_cumprod, step, x) * eps


def reverse_step_distribution(
    schedule: Schedule, x: jax.Array, step: jax.Array, eps: jax.Array, clip: Bound
) -> distrax.Normal:
    """p(x_{p-1} | x_p) as a distrax Normal (per coordinate); its scale is 0 at the last step."""
    import distrax  # here: its import (TensorFlow Probability's JAX substrate) costs every command half a second

    x0_hat = _bounded(predict_x0(schedule, x, step, eps), clip)
    mean = _at(schedule.posterior_mean_coef1, step, x) * x0_hat + _at(schedule.posterior_mean_coef2, step, x) * x
    std = jnp.where(step > 1, jnp.exp(0.5 * schedule.posterior_log_variance_clipped[step - 1]), 0.0)
    return distrax.Normal(mean, jnp.broadcast_to(std, mean.shape))


def reverse_process(
    eps_fn: EpsFn, key: jax.Array, schedule: Schedule, x_start: jax.Array, start_step: int, clip: Bound,
    temperature: jax.Array | float = 1.0,
) -> jax.Array:
    """Denoise x_start (at step `start_step`, static) down to x_0 with `start_step` reverse steps, each step's
    noise scaled by `temperature`."""
    if not 1 <= start_step <= schedule.num_steps:
        raise ValueError(f"start_step={start_step} is invalid: must be in [1, {schedule.num_steps}]")
    batch_shape = x_start.shape[:-1]

    def body(x, step_and_key):
        step, step_key = step_and_key
        eps = eps_fn(x, jnp.full(batch_shape, step, jnp.int32))
        step_distribution = reverse_step_distribution(schedule, x, step, eps, clip)
        noise = jax.random.normal(step_key, x.shape, x.dtype)
        return step_distribution.loc + temperature * step_distribution.scale * noise, None

    steps = jnp.arange(start_step, 0, -1, dtype=jnp.int32)
    x0, _ = jax.lax.scan(body, x_start, (steps, jax.random.split(key, start_step)))
    return x0


def sample_mode1(
    eps_fn: EpsFn, key: jax.Array, schedule: Schedule, shape: tuple[int, ...], clip: Bound,
    temperature: jax.Array | float = 1.0,
) -> jax.Array:
    """Mode I (reverse only): x_P ~ N(0, temperature^2 I) of `shape`, then P reverse steps at `temperature`."""
    key_start, key_loop = jax.random.split(key)
    x_start = temperature * jax.random.normal(key_start, shape, jnp.float32)
    return reverse_process(eps_fn, key_loop, schedule, x_start, schedule.num_steps, clip, temperature)


def sample_mode2(
    eps_fn: EpsFn, key: jax.Array, schedule: Schedule, x0: jax.Array, start_step: int, clip: Bound
) -> jax.Array:
    """Mode II (forward then reverse): noise real x0 to `start_step` by eq. (3), then denoise."""
    key_noise, key_loop = jax.random.split(key)
    x_start = q_sample(schedule, x0, start_step, jax.random.normal(key_noise, x0.shape, x0.dtype))
    return reverse_process(eps_fn, key_loop, schedule, x_start, start_step, clip)
