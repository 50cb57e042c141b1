"""`DiffusionModel`: one noise-predictor network, its schedule and its sampler, as pure functions.

    model = DiffusionModel(out_dim=124, config=DiffusionConfig())
    params = model.init(key, cond=example_state_batch)          # cond=None: unconditional
    actions = model.sample(params, key, cond=states)             # Mode I, (B, 124); temperature=0: noise-free
    states_hat = model.regenerate(params, key, states)           # Mode II
    loss = model.loss(params, key, x0, cond)                     # eps-MSE, eqs. (8)/(22)
    obj = model.negative_expected_score(params, key, cond, score_fn)   # eq. (21)

The schedule is precomputed once at construction; the object holds only static settings, so it
can be closed over by jitted functions and every method vmaps over params (seeds) and inputs.
"""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax

from d2rl_jax.config import DiffusionConfig
from d2rl_jax.diffusion import losses, samplers
from d2rl_jax.diffusion.networks import NoisePredictor
from d2rl_jax.diffusion.schedules import make_schedule


class DiffusionModel:
    def __init__(self, out_dim: int, config: DiffusionConfig | None = None):
        config = DiffusionConfig() if config is None else config
        if not (isinstance(out_dim, int) and out_dim >= 1):
            raise ValueError(f"out_dim={out_dim!r} is invalid: must be an integer >= 1")
        self.out_dim = out_dim
        self.config = config
        self.network = NoisePredictor(
            out_dim=out_dim, hidden_dim=config.hidden_dim, depth=config.depth,
            time_embed_dim=config.time_embed_dim, cond_embed_dim=config.cond_embed_dim,
        )
        self.schedule = make_schedule(
            config.schedule, config.num_steps, b_min=config.b_min, b_max=config.b_max,
            beta_start=config.beta_start, beta_end=config.beta_end,
        )
        self.bound = samplers.x0_bound(config.x0_bound, config.clip_x0)

    def init(self, key: jax.Array, cond: jax.Array | None = None):
        batch = cond.shape[:-1] if cond is not None else (1,)
        x = jax.numpy.zeros(batch + (self.out_dim,), jax.numpy.float32)
        return self.network.init(key, x, jax.numpy.ones(batch, jax.numpy.int32), cond)

    def eps_fn(self, params, cond: jax.Array | None = None) -> samplers.EpsFn:
        """eps_Theta(., ., cond) with the condition projected once, outside the reverse loop."""
        projection = self.network.apply(params, cond, method=NoisePredictor.project_condition)
        return lambda x, step: self.network.apply(params, x, step, projection, method=NoisePredictor.predict)

    def _batch_shape(self, cond: jax.Array | None, batch_size: int | None) -> tuple[int, ...]:
        if cond is not None:
            chex.assert_rank(cond, 2)
            return (cond.shape[0], self.out_dim)
        if batch_size is None:
            raise ValueError("batch_size is required when cond is None")
        return (batch_size, self.out_dim)

    def sample(self, params, key: jax.Array, cond: jax.Array | None = None, batch_size: int | None = None,
               temperature: jax.Array | float = 1.0):
        """Mode I: a batch of samples x_0 (B, out_dim), one per condition row (or `batch_size`); `temperature`
        scales every draw (0: the deterministic chain from x_P = 0)."""
        shape = self._batch_shape(cond, batch_size)
        return samplers.sample_mode1(self.eps_fn(params, cond), key, self.schedule, shape, self.bound, temperature)

    def regenerate(self, params, key: jax.Array, x0: jax.Array, start_step: int | None = None,
                   cond: jax.Array | None = None) -> jax.Array:
        """Mode II: noise real x0 to `start_step` (default P) and denoise it back."""
        chex.assert_rank(x0, 2)
        chex.assert_axis_dimension(x0, 1, self.out_dim)
        start = self.config.num_steps if start_step is None else start_step
        return samplers.sample_mode2(self.eps_fn(params, cond), key, self.schedule, x0, start, self.bound)

    def loss(self, params, key: jax.Array, x0: jax.Array, cond: jax.Array | None = None,
             weights: jax.Array | None = None) -> jax.Array:
        """eps-MSE (eqs. 8 / 22); `weights` (B,) weight the rows (None: a plain mean)."""
        chex.assert_rank(x0, 2)
        chex.assert_axis_dimension(x0, 1, self.out_dim)
        return losses.noise_prediction_loss(self.eps_fn(params, cond), key, self.schedule, x0, weights)

    def negative_expected_score(
        self, params, key: jax.Array, cond: jax.Array | None, score_fn: Callable[[jax.Array], jax.Array],
        batch_size: int | None = None,
    ) -> jax.Array:
        shape = self._batch_shape(cond, batch_size)
        return losses.negative_expected_score(
            self.eps_fn(params, cond), key, self.schedule, shape, score_fn, self.bound)
