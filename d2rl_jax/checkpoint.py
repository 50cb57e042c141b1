"""Checkpoints of whole training runs with orbax's `CheckpointManager`.

A checkpoint holds the run state (params, optimizer states, replay buffer, env states, keys,
epoch; a leading run axis when runs are vmapped) and the metrics collected so far, keyed by
the number of completed chunks. The state is stored as its flat list of leaves, typed PRNG
keys as their raw key data, and rebuilt from the structure of a template state, so any pytree
(flax structs, optax states, None fields) round-trips exactly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


def is_prng_key(x: Any) -> bool:
    """A typed PRNG key array (or its shape struct)."""
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


class RunCheckpointer:
    def __init__(self, directory: str | Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

    def save(self, chunks_done: int, state: Any, metrics: dict[str, Any]) -> None:
        leaves = [jax.random.key_data(x) if is_prng_key(x) else x for x in jax.tree.leaves(state)]
        item = {"state": {f"{i:05d}": np.asarray(x) for i, x in enumerate(leaves)},
                "metrics": jax.tree.map(np.asarray, metrics)}
        self._manager.save(chunks_done, args=ocp.args.StandardSave(item))
        self._manager.wait_until_finished()

    def latest(self) -> int | None:
        return self._manager.latest_step()

    def restore(self, template_state: Any, chunks_done: int | None = None) -> tuple[int, Any, dict[str, Any]]:
        """(chunks done, state shaped like `template_state`, metrics) of a saved checkpoint."""
        step = self.latest() if chunks_done is None else chunks_done
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        item = self._manager.restore(step, args=ocp.args.StandardRestore())
        template_leaves, treedef = jax.tree.flatten(template_state)
        saved = [item["state"][k] for k in sorted(item["state"])]
        if len(saved) != len(template_leaves):
            raise ValueError(f"checkpoint {self.directory}/{step} has {len(saved)} arrays, the run state "
                             f"{len(template_leaves)}: it was written by a different configuration")
        leaves = []
        for index, (like, value) in enumerate(zip(template_leaves, saved, strict=True)):
            value = jax.numpy.asarray(value)
            _check_leaf(index, like, value, f"{self.directory}/{step}")
            leaves.append(jax.random.wrap_key_data(value) if is_prng_key(like) else value.astype(like.dtype))
        return step, jax.tree.unflatten(treedef, leaves), item["metrics"]

    def close(self) -> None:
        self._manager.close()


def _check_leaf(index: int, like: Any, value: jax.Array, where: str) -> None:
    """A saved array must have its template leaf's shape and dtype kind: the same number of arrays is not
    enough (a (2000, 5) metric restored into a (500, 5) run state would pass unnoticed otherwise)."""
    expected = jax.eval_shape(jax.random.key_data, like) if is_prng_key(like) else like
    if tuple(value.shape) != tuple(expected.shape) or value.dtype.kind != np.dtype(expected.dtype).kind:
        raise ValueError(f"checkpoint {where}: array {index} is {value.dtype}{list(value.shape)}, the run state "
                         f"expects {np.dtype(expected.dtype)}{list(expected.shape)}: it was written by a different "
                         "configuration")


def latest_checkpoint(directory: str | Path) -> int | None:
    """The number of chunks of the newest checkpoint in `directory`, None if it holds none (nothing is created)."""
    if not Path(directory).is_dir():
        return None
    checkpointer = RunCheckpointer(directory)
    try:
        return checkpointer.latest()
    finally:
        checkpointer.close()
