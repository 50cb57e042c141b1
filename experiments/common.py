"""Shared set-up of the experiment and benchmark entry points."""

from __future__ import annotations

import logging

from absl import logging as absl_logging


def quiet_backend_probe() -> None:
    """Keep the console to our own progress lines: hide JAX's INFO line about backends it probed
    and did not find (no libtpu on a CPU host) and orbax's per-save INFO chatter."""
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
    absl_logging.set_verbosity(absl_logging.WARNING)
