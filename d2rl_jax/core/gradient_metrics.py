"""Per-layer gradient magnitudes inside the compiled loop (DESIGN §8; the paper's Figs. 5 and 7).

`forward_layers` lists a flax network's Dense layers in the order its forward pass applies them;
`layer_gradient_magnitudes` and `gradient_sums` reduce a gradient pytree to those layers' mean |dL/dW|,
|dL/db|. The host-side statistics of the per-epoch series are in `d2rl_jax.run.statistics`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp


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
