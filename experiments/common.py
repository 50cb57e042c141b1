"""Shared set-up of the experiment entry points."""

from __future__ import annotations

import logging


def quiet_backend_probe() -> None:
    """Hide JAX's INFO line about backends it probed and did not find (e.g. no libtpu on a CPU host)."""
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
