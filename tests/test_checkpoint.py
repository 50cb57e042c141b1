"""Run checkpoints: a restore returns exactly what was saved and refuses a state of another shape."""

import jax
import jax.numpy as jnp
import pytest

from d2rl_jax.checkpoint import RunCheckpointer


def test_restore_refuses_an_array_of_another_shape(tmp_path):
    """The same number of arrays is not enough: each must have its template's shape and dtype kind."""
    state = {"buffer": jnp.zeros((2000, 5)), "key": jax.random.key(0), "step": jnp.zeros((), jnp.int32)}
    checkpointer = RunCheckpointer(tmp_path / "ckpt")
    try:
        checkpointer.save(1, state, {})
        _, restored, _ = checkpointer.restore(state)
        assert restored["buffer"].shape == (2000, 5) and jax.random.key_data(restored["key"]).shape == (2,)
        with pytest.raises(ValueError, match=r"array 0 is float32\[2000, 5\].*expects float32\[500, 5\]"):
            checkpointer.restore({**state, "buffer": jnp.zeros((500, 5))})
        with pytest.raises(ValueError, match="array 2 is int32"):
            checkpointer.restore({**state, "step": jnp.zeros((), jnp.float32)})
    finally:
        checkpointer.close()
