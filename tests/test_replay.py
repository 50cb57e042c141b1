import jax
import jax.numpy as jnp
import numpy as np

from d2rl_jax.core.replay import add_batch, can_sample, init_buffer, sample_batch, write_at


def _batch(start, n):
    values = jnp.arange(start, start + n, dtype=jnp.float32)
    return {"x": values, "y": jnp.stack([values, -values], axis=-1)}


def test_ring_buffer_wraps_around_and_keeps_the_newest():
    buffer = init_buffer({"x": jnp.zeros(()), "y": jnp.zeros(2)}, capacity=10)
    assert buffer.capacity == 10 and int(buffer.size) == 0
    add = jax.jit(add_batch)
    for start in (0, 4, 8):  # 12 items into 10 slots: 10, 11 overwrite slots 0, 1
        buffer = add(buffer, _batch(start, 4))
    assert int(buffer.size) == 10 and int(buffer.pointer) == 2
    np.testing.assert_array_equal(buffer.items["x"], [10, 11, 2, 3, 4, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(buffer.items["y"][:, 1], -buffer.items["x"])


def test_sampling_draws_only_filled_slots_uniformly():
    buffer = init_buffer({"x": jnp.zeros(()), "y": jnp.zeros(2)}, capacity=100)
    buffer = add_batch(buffer, _batch(1, 7))  # slots 0..6 hold 1..7, the rest are zeros
    assert not bool(can_sample(buffer, 8)) and bool(can_sample(buffer, 7))
    batch = jax.jit(sample_batch, static_argnums=2)(buffer, jax.random.key(0), 7000)
    values = np.asarray(batch["x"])
    assert set(np.unique(values)) == set(range(1, 8))
    np.testing.assert_allclose(np.bincount(values.astype(int))[1:] / 7000, np.full(7, 1 / 7), atol=0.02)
    np.testing.assert_array_equal(batch["y"][:, 0], batch["x"])  # fields of one transition stay together


def test_write_at_rewrites_one_field_at_the_given_slots_only():
    buffer = add_batch(init_buffer({"x": jnp.zeros(()), "y": jnp.zeros(2)}, capacity=10), _batch(0, 10))
    rewritten = jax.jit(write_at)(buffer, jnp.array([[1, 3], [8, 3]]), {"y": jnp.full((2, 2, 2), 7.0)})
    np.testing.assert_array_equal(rewritten.items["x"], buffer.items["x"])  # other fields untouched
    changed = np.flatnonzero(np.any(np.asarray(rewritten.items["y"]) != np.asarray(buffer.items["y"]), axis=-1))
    np.testing.assert_array_equal(changed, [1, 3, 8])
    np.testing.assert_array_equal(rewritten.items["y"][changed], 7.0)
