"""Reward designs computed from the environment's `RewardInfo` (DESIGN §6).

- raw:      R = C
- designed: R = C - R'(s)   (<= 0; R' the closed-form upper bound)
"""

from __future__ import annotations

import jax

from d2rl_jax.env import RewardInfo


def compute_reward(design: str, info: RewardInfo) -> jax.Array:
    if design == "raw":
        return info.sum_rate
    if design == "designed":
        return info.sum_rate - info.upper_bound
    raise ValueError(f"reward={design!r} is not a computed design")
