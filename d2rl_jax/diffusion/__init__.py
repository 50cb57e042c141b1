"""Generative diffusion models: schedules, the noise predictor, Mode I / Mode II samplers, losses.

This package knows nothing about wireless systems or RL: it maps (params, key, inputs) to
samples and losses. Equations are those of the paper's Sec. II-B and IV-C (see each module).
"""

from d2rl_jax.diffusion.losses import negative_expected_score, noise_prediction_loss
from d2rl_jax.diffusion.model import DiffusionModel
from d2rl_jax.diffusion.networks import NoisePredictor, sinusoidal_embedding
from d2rl_jax.diffusion.samplers import (
    predict_x0,
    q_sample,
    reverse_process,
    reverse_step_distribution,
    sample_mode1,
    sample_mode2,
    x0_bound,
)
from d2rl_jax.diffusion.schedules import SCHEDULES, Schedule, make_schedule

__all__ = [
    "SCHEDULES", "DiffusionModel", "NoisePredictor", "Schedule", "make_schedule", "negative_expected_score",
    "noise_prediction_loss", "predict_x0", "q_sample", "reverse_process", "reverse_step_distribution",
    "sample_mode1", "sample_mode2", "sinusoidal_embedding", "x0_bound",
]
