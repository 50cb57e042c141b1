"""Training metrics (DESIGN §8): per-layer gradient magnitudes, moving averages, convergence.

`layer_gradient_magnitudes` runs inside the compiled loop; the rest are host-side numpy
functions of the per-epoch series.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


class Layer(NamedTuple):
    """A Dense layer of a flax network: its module path inside the "params" collection, and whether it has a bias."""

    path: tuple[str, ...]
    has_bias: bool

    @property
    def name(self) -> str:
        return "/".join(self.path)


def forward_layers(init_fn: Callable[..., Any], *example_args: Any) -> tuple[Layer, ...]:
    """The Dense layers of the network `init_fn` initializes, in the order its forward pass first applies
    them (input to output). Found by intercepting flax's Dense calls during a shape-only `init`, so the
    order is the computation's, not the parameter names' (which sort `Dense_10` before `Dense_2` and the
    diffusion trunk's `out` before `time_hidden`). Works on tracers: callers use it inside jitted code."""
    order: list[tuple[str, ...]] = []

    def record(next_fun, args, kwargs, context):
        module = context.module
        if isinstance(module, nn.Dense) and context.method_name == "__call__" and module.path not in order:
            order.append(tuple(module.path))
        return next_fun(*args, **kwargs)

    shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)), example_args)
    with nn.intercept_methods(record):
        # A fresh function each call: eval_shape caches traces by function, and a cached trace runs no Dense.
        params = jax.eval_shape(lambda *args: init_fn(*args), *shapes)
    if not order:
        raise ValueError(f"{init_fn} applies no flax Dense layer: nothing to report per layer")

    def has_bias(path: tuple[str, ...]) -> bool:
        node = params["params"]
        for key in path:
            node = node[key]
        return "bias" in node

    return tuple(Layer(path, has_bias(path)) for path in order)


def _leaf(tree: Any, path: tuple[str, ...], name: str) -> jax.Array:
    node = tree["params"]
    for key in path:
        node = node[key]
    return node[name]


def layer_gradient_magnitudes(grads: Any, layers: tuple[Layer, ...]) -> tuple[jax.Array, jax.Array]:
    """Mean |dL/dW| and mean |dL/db| of every layer of `layers` (`forward_layers`), (n,) each in forward
    order, a layer's bias beside its own kernel: the paper's gradient weight and bias (Figs. 5, 7). A layer
    without a bias has NaN in the bias array (not a shifted neighbour); `gradient_sums` skips it."""
    if not layers:
        empty = jnp.zeros((0,), jnp.float32)
        return empty, empty
    kernels = jnp.stack([jnp.mean(jnp.abs(_leaf(grads, layer.path, "kernel"))) for layer in layers])
    biases = jnp.stack([jnp.mean(jnp.abs(_leaf(grads, layer.path, "bias"))) if layer.has_bias
                        else jnp.full((), jnp.nan, jnp.float32) for layer in layers])
    return kernels, biases


def gradient_sums(weight: jax.Array, bias: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The sums over layers of `layer_gradient_magnitudes` (Fig. 7's quantity), layers without a bias skipped."""
    return weight.sum(), jnp.nansum(bias)


def moving_average(x: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over the last `window` entries along the last axis (shorter at the start)."""
    x = np.asarray(x, np.float64)
    csum = np.cumsum(x, axis=-1)
    out = csum.copy()
    out[..., window:] = csum[..., window:] - csum[..., :-window]
    counts = np.minimum(np.arange(1, x.shape[-1] + 1), window)
    return out / counts


def convergence_epoch(series: np.ndarray, tolerance: float = 0.02, final_fraction: float = 0.1) -> int:
    """First epoch after which `series` stays within +-tolerance of its final value.

    The final value is the mean of the last `final_fraction` of the series. Returns an index in
    [0, len - 1]; a series that only settles at its end converges at its last epoch.
    """
    series = np.asarray(series, np.float64)
    n = series.shape[-1]
    final = series[max(0, n - max(1, int(round(final_fraction * n)))):].mean()
    outside = np.abs(series - final) > tolerance * max(abs(final), 1e-12)
    indices = np.flatnonzero(outside)
    return 0 if indices.size == 0 else int(min(indices[-1] + 1, n - 1))


def t95(n: int) -> float:
    """The two-sided 95% quantile of Student's t for a mean over n samples (n - 1 degrees of freedom): with 3
    seeds it is 4.30, not the normal 1.96, which would make the interval 2.2x too narrow."""
    import scipy.stats  # here, not at import: it costs half a second of every CLI's start-up

    return float(scipy.stats.t.ppf(0.975, n - 1))


def mean_and_ci95(x: np.ndarray, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mean over `axis` (seeds) and the half-width of its 95% confidence interval (Student's t, n - 1 degrees
    of freedom); 0 for a single sample."""
    x = np.asarray(x, np.float64)
    n = x.shape[axis]
    mean = x.mean(axis=axis)
    if n < 2:
        return mean, np.zeros_like(mean)
    return mean, t95(n) * x.std(axis=axis, ddof=1) / np.sqrt(n)


def recovery_epoch(series: np.ndarray, target: float, start: int, tolerance: float = 0.02) -> int | None:
    """Epochs after `start` (a drift) until `series` reaches (1 - tolerance) x `target` and stays there to
    the end: 0 if it never drops below, None if it has not recovered by the last epoch. `target` > 0 (a
    sum rate: a from-scratch policy's on the new environment, or C* there)."""
    after = np.asarray(series, np.float64)[start:]
    below = np.flatnonzero(after < (1.0 - tolerance) * target)
    if below.size == 0:
        return 0
    recovered = int(below[-1]) + 1
    return None if recovered >= after.size else recovered


def recovery_loss(series: np.ndarray, reference: np.ndarray | float, start: int, stop: int | None = None) -> float:
    """The sum rate lost while recovering: the area between `reference` (a curve or a level) and
    `series` where the series lies below, over epochs [start, stop) (bit/s/Hz x epochs)."""
    series = np.asarray(series, np.float64)
    reference = np.broadcast_to(np.asarray(reference, np.float64), series.shape)
    stop = series.shape[-1] if stop is None else stop
    return float(np.maximum(reference[..., start:stop] - series[..., start:stop], 0.0).sum(axis=-1))


def first_epoch_reaching(epochs: np.ndarray, values: np.ndarray, level: float) -> int | None:
    """The first evaluation epoch whose value is >= `level` (e.g. held-out C/C* >= 0.8), None if none is."""
    reached = np.flatnonzero(np.asarray(values, np.float64) >= level)
    return None if reached.size == 0 else int(np.asarray(epochs)[reached[0]])


def evaluation_window(ma_window: int, eval_every: int) -> int:
    """The evaluations a trailing moving average over held-out evaluations spans so that it covers `ma_window`
    epochs, as the training moving average does: max(1, ma_window // eval_every)."""
    return max(1, int(ma_window) // max(1, int(eval_every)))


def ma_first_epoch_reaching(epochs: np.ndarray, values: np.ndarray, level: float, ma_window: int,
                            eval_every: int) -> int | None:
    """The first evaluation epoch at which the trailing moving average of `values` (held-out C/C* per
    evaluation) over `evaluation_window(ma_window, eval_every)` evaluations is >= `level`; None if it never is.
    At the start the average covers the evaluations so far (as `moving_average`)."""
    averaged = moving_average(np.asarray(values, np.float64), evaluation_window(ma_window, eval_every))
    return first_epoch_reaching(epochs, averaged, level)
