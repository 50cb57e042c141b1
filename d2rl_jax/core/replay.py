"""A ring buffer of transitions living in device memory, usable inside jit/scan/vmap.

Items are a pytree of arrays with a leading capacity axis. `add` writes a batch at the write
pointer (wrapping around), `sample` draws indices uniformly from the filled slots with
`randint` (O(batch), unlike `choice`), and `can_sample` tells whether one batch is held
(the warm-up of Algorithm 2).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct


@struct.dataclass
class ReplayBuffer:
    items: Any  # pytree, each leaf (capacity, ...)
    pointer: jax.Array  # () int32: next slot to write
    size: jax.Array  # () int32: filled slots

    @property
    def capacity(self) -> int:
        return jax.tree.leaves(self.items)[0].shape[0]


def init_buffer(example_item: Any, capacity: int) -> ReplayBuffer:
    """An empty buffer whose slots have the shapes and dtypes of `example_item` (one transition)."""
    items = jax.tree.map(lambda x: jnp.zeros((capacity,) + jnp.shape(x), jnp.asarray(x).dtype), example_item)
    return ReplayBuffer(items=items, pointer=jnp.zeros((), jnp.int32), size=jnp.zeros((), jnp.int32))


def add_batch(buffer: ReplayBuffer, batch: Any) -> ReplayBuffer:
    """Write a batch (leading axis n <= capacity) at the pointer, overwriting the oldest slots."""
    n = jax.tree.leaves(batch)[0].shape[0]
    capacity = buffer.capacity
    if n > capacity:
        raise ValueError(f"batch of {n} transitions does not fit a buffer of capacity {capacity}")
    slots = (buffer.pointer + jnp.arange(n, dtype=jnp.int32)) % capacity
    items = jax.tree.map(lambda store, x: store.at[slots].set(x), buffer.items, batch)
    return ReplayBuffer(items=items, pointer=(buffer.pointer + n) % capacity,
                        size=jnp.minimum(buffer.size + n, capacity))


def sample_indices(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> jax.Array:
    """Uniform draw (with replacement) of `batch_size` filled slots."""
    return jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))


def gather(buffer: ReplayBuffer, indices: jax.Array) -> Any:
    """The transitions at `indices` (any shape: it leads every field)."""
    return jax.tree.map(lambda store: store[indices], buffer.items)


def sample_batch(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> Any:
    """Uniform draw (with replacement) of `batch_size` transitions from the filled slots."""
    return gather(buffer, sample_indices(buffer, key, batch_size))


def write_at(buffer: ReplayBuffer, indices: jax.Array, fields: dict[str, jax.Array]) -> ReplayBuffer:
    """Overwrite stored fields (a dict of the items) at `indices` (any shape; values shaped indices + field's
    row); where an index repeats, one of its values is kept."""
    flat = indices.reshape(-1)
    items = dict(buffer.items)
    for name, values in fields.items():
        items[name] = items[name].at[flat].set(values.reshape((flat.shape[0],) + items[name].shape[1:]))
    return buffer.replace(items=items)


def can_sample(buffer: ReplayBuffer, batch_size: int) -> jax.Array:
    return buffer.size >= batch_size
