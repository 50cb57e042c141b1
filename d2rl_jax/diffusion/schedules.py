"""Noise schedules of the denoising diffusion process (paper Sec. II-B, DESIGN §4).

For steps p = 1..P the forward process is q(x_p | x_{p-1}) = N(sqrt(alpha_p) x_{p-1}, beta_p I),
beta_p = 1 - alpha_p, so (eq. 3) q(x_p | x_0) = N(sqrt(abar_p) x_0, (1 - abar_p) I) with
abar_p = prod_{m<=p} alpha_m. The reverse posterior (eq. 4) is
q(x_{p-1} | x_p, x_0) = N(c1_p x_0 + c2_p x_p, btilde_p I) with
    btilde_p = beta_p (1 - abar_{p-1}) / (1 - abar_p),
    c1_p = beta_p sqrt(abar_{p-1}) / (1 - abar_p),  c2_p = (1 - abar_{p-1}) sqrt(alpha_p) / (1 - abar_p),
and abar_0 = 1. Every table is computed once per P in float64 numpy and stored as float32
arrays indexed by p - 1.

Kinds:
- "vp" (default, as in the public GDMOPT code): alpha_p = exp(-b_min/P - (b_max - b_min)(2p - 1) / (2 P^2)).
- "linear": beta linearly spaced in [beta_start, beta_end] (DDPM).
- "cosine": abar_p = f(p) / f(0), f(p) = cos^2(((p/P) + s) / (1 + s) * pi/2), s = 0.008, beta <= 0.999.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

SCHEDULES = ("vp", "linear", "cosine")


@struct.dataclass
class Schedule:
    betas: jax.Array
    alphas: jax.Array
    alphas_cumprod: jax.Array  # abar_p
    alphas_cumprod_prev: jax.Array  # abar_{p-1}
    sqrt_alphas_cumprod: jax.Array
    sqrt_one_minus_alphas_cumprod: jax.Array
    sqrt_recip_alphas_cumprod: jax.Array  # 1 / sqrt(abar_p)
    sqrt_recipm1_alphas_cumprod: jax.Array  # sqrt(1 / abar_p - 1)
    posterior_variance: jax.Array  # btilde_p
    posterior_log_variance_clipped: jax.Array  # log btilde_p, with btilde_1 := btilde_2 (btilde_1 = 0)
    posterior_mean_coef1: jax.Array  # c1_p (multiplies x_0)
    posterior_mean_coef2: jax.Array  # c2_p (multiplies x_p)

    @property
    def num_steps(self) -> int:
        return self.betas.shape[0]


def _betas(kind: str, num_steps: int, b_min: float, b_max: float, beta_start: float, beta_end: float) -> np.ndarray:
    p = np.arange(1, num_steps + 1, dtype=np.float64)
    if kind == "vp":
        alphas = np.exp(-b_min / num_steps - 0.5 * (b_max - b_min) * (2.0 * p - 1.0) / num_steps**2)
        return 1.0 - alphas
    if kind == "linear":
        return np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)
    if kind == "cosine":
        s = 0.008
        f = np.cos(((np.arange(num_steps + 1) / num_steps) + s) / (1.0 + s) * np.pi / 2.0) ** 2
        return np.clip(1.0 - f[1:] / f[:-1], 0.0, 0.999)
    raise ValueError(f"schedule={kind!r} is invalid: must be one of {SCHEDULES}")


def make_schedule(
    kind: str = "vp",
    num_steps: int = 6,
    *,
    b_min: float = 0.1,
    b_max: float = 10.0,
    beta_start: float = 1e-4,
    beta_end: float = 2e-2,
) -> Schedule:
    if not (isinstance(num_steps, int) and num_steps >= 1):
        raise ValueError(f"num_steps={num_steps!r} is invalid: must be an integer >= 1")
    betas = _betas(kind, num_steps, b_min, b_max, beta_start, beta_end)
    alphas = 1.0 - betas
    abar = np.cumprod(alphas)
    abar_prev = np.concatenate([[1.0], abar[:-1]])
    posterior_variance = betas * (1.0 - abar_prev) / (1.0 - abar)
    clipped = np.concatenate([posterior_variance[1:2], posterior_variance[1:]]) if num_steps > 1 else betas
    tables = {
        "betas": betas,
        "alphas": alphas,
        "alphas_cumprod": abar,
        "alphas_cumprod_prev": abar_prev,
        "sqrt_alphas_cumprod": np.sqrt(abar),
        "sqrt_one_minus_alphas_cumprod": np.sqrt(1.0 - abar),
        "sqrt_recip_alphas_cumprod": np.sqrt(1.0 / abar),
        "sqrt_recipm1_alphas_cumprod": np.sqrt(1.0 / abar - 1.0),
        "posterior_variance": posterior_variance,
        "posterior_log_variance_clipped": np.log(clipped),
        "posterior_mean_coef1": betas * np.sqrt(abar_prev) / (1.0 - abar),
        "posterior_mean_coef2": (1.0 - abar_prev) * np.sqrt(alphas) / (1.0 - abar),
    }
    return Schedule(**{k: jnp.asarray(v, jnp.float32) for k, v in tables.items()})
