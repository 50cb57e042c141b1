"""Several devices and several processes: the run axis sharded over devices, process 0 alone writing files,
every process taking process 0's view of what is on disk, run states gathered and placed across processes."""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from d2rl_jax.run.checkpoint import is_prng_key


def to_host(tree: Any) -> Any:
    """Numpy copies of run-axis arrays; on several hosts every process gathers all runs' shards."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.device_get(tree)


def run_sharding(num_runs: int, devices: list | None = None) -> NamedSharding | None:
    """A sharding of the leading run axis over the visible devices (a 1-D mesh named "runs"), or None
    when one device serves (a single device, or a run count the devices do not divide)."""
    devices = jax.devices() if devices is None else devices
    if len(devices) < 2 or num_runs % len(devices):
        return None
    return NamedSharding(Mesh(np.asarray(devices), ("runs",)), PartitionSpec("runs"))


def writes_files() -> bool:
    """Whether this process writes results: with several processes, process 0 alone."""
    return jax.process_index() == 0


def barrier(name: str) -> None:
    """Wait for every process (no-op with one)."""
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def process_zero_value(value: int | None) -> int | None:
    """Process 0's `value` (an int >= 0 or None) on every process, so that all take the same branch (files seen
    at slightly different moments must not split them: they run collectives together)."""
    if jax.process_count() == 1:
        return value
    from jax.experimental import multihost_utils

    agreed = int(multihost_utils.broadcast_one_to_all(np.asarray(-1 if value is None else value, np.int32)))
    return None if agreed < 0 else agreed


def every_process(ok: bool) -> bool:
    """Whether `ok` holds on every process (each process's own outcome, e.g. restoring its shards)."""
    if jax.process_count() == 1:
        return bool(ok)
    from jax.experimental import multihost_utils

    return bool(np.min(multihost_utils.process_allgather(np.asarray(int(bool(ok)), np.int32))))


def gather_runs(tree: Any) -> Any:
    """Every run of `tree` on this process (the inverse of `place_runs`): arrays sharded over several processes
    are gathered whole; the rest is returned as it is."""
    if jax.process_count() == 1:
        return tree
    from jax.experimental import multihost_utils

    def gather(x):
        if is_prng_key(x):
            return jax.random.wrap_key_data(gather(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return jax.numpy.asarray(multihost_utils.process_allgather(x, tiled=True))
        return x

    return jax.tree.map(gather, tree)


def place_runs(tree: Any, sharding: NamedSharding) -> Any:
    """`tree` (every leaf with the run axis first, the same values on every process) laid out by `sharding`.
    With several processes each builds its devices' shards from its copy (`device_put` only places onto
    this process's devices); typed PRNG keys travel as their key data."""
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def place(x):
        if is_prng_key(x):
            return jax.random.wrap_key_data(place(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return x if x.sharding == sharding else jax.jit(lambda y: y, out_shardings=sharding)(x)
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    return jax.tree.map(place, tree)
