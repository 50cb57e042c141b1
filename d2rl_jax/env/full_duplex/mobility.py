"""User placement and movement in the cell (DESIGN §2)."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def uniform_in_sector(key: jax.Array, num_users: int, radius: jax.Array, center: jax.Array | float = 0.0,
                      half_width: jax.Array | float = jnp.pi) -> jax.Array:
    """Positions (num_users, 2) uniform over the sector |phi - center| <= half_width of a disc (the whole
    disc when half_width >= pi, the default); r = R sqrt(u) makes the density uniform."""
    key_r, key_phi = jax.random.split(key)
    r = radius * jnp.sqrt(jax.random.uniform(key_r, (num_users,)))
    u = jax.random.uniform(key_phi, (num_users,))
    # The whole disc keeps phi = 2 pi u exactly, so a uniform placement draws the same positions as before
    # the sector existed.
    phi = jnp.where(half_width >= jnp.pi, 2.0 * jnp.pi * u, center + half_width * (2.0 * u - 1.0))
    return jnp.stack([r * jnp.cos(phi), r * jnp.sin(phi)], axis=-1)


def reflect_into_disc(positions: jax.Array, radius: jax.Array) -> jax.Array:
    """Mirror points outside the disc back across its edge along the radius (|p| -> 2R - |p|)."""
    norm = jnp.linalg.norm(positions, axis=-1, keepdims=True)
    outside = norm > radius
    reflected = positions * (2.0 * radius - norm) / jnp.where(outside, norm, 1.0)
    return jnp.where(outside, reflected, positions)


def random_walk(key: jax.Array, positions: jax.Array, step_length: jax.Array, radius: jax.Array) -> jax.Array:
    """Every user moves `step_length` metres in a uniformly random direction, reflected at the edge."""
    heading = jax.random.uniform(key, positions.shape[:1], maxval=2.0 * jnp.pi)
    moved = positions + step_length * jnp.stack([jnp.cos(heading), jnp.sin(heading)], axis=-1)
    return reflect_into_disc(moved, radius)
