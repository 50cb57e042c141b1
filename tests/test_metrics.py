import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.metrics import (
    convergence_epoch,
    layer_gradient_magnitudes,
    layer_names,
    mean_and_ci95,
    moving_average,
    t95,
)


def test_moving_average_is_a_trailing_window_mean():
    x = np.arange(1.0, 8.0)
    np.testing.assert_allclose(moving_average(x, 3), [1, 1.5, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(moving_average(np.stack([x, 2 * x]), 3)[1], 2 * moving_average(x, 3))


def test_convergence_epoch_on_known_curves():
    settle = np.concatenate([np.linspace(0.0, 5.0, 50), np.full(150, 5.0)])
    assert convergence_epoch(settle, 0.02) == 50 - 1  # 4.9 at index 49 is within 2% of 5
    noisy = settle + np.where(np.arange(200) == 120, 1.0, 0.0)  # one excursion at epoch 120
    assert convergence_epoch(noisy, 0.02) == 121
    assert convergence_epoch(np.full(10, 3.0)) == 0


def test_layer_gradient_magnitudes_per_dense_layer():
    grads = {"params": {"Dense_0": {"kernel": -jnp.ones((3, 4)), "bias": jnp.full(4, 0.5)},
                        "Dense_1": {"kernel": jnp.full((4, 1), 2.0), "bias": jnp.zeros(1)}}}
    w, b = layer_gradient_magnitudes(grads)
    np.testing.assert_allclose(w, [1.0, 2.0])
    np.testing.assert_allclose(b, [0.5, 0.0])
    assert layer_names(grads) == (["Dense_0", "Dense_1"], ["Dense_0", "Dense_1"])


def test_mean_and_ci95():
    mean, ci = mean_and_ci95(np.array([[1.0, 2.0], [3.0, 2.0]]))
    np.testing.assert_allclose(mean, [2.0, 2.0])
    assert ci[0] == pytest.approx(12.706 * np.sqrt(2) / np.sqrt(2), rel=1e-4) and ci[1] == 0.0  # t, 1 dof
    assert t95(3) == pytest.approx(4.3027, rel=1e-4)  # 3 seeds: 2.2x the normal 1.96
