"""Timing compiled JAX functions: compile time apart, run time after `block_until_ready`."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax


def device_info() -> dict[str, Any]:
    device = jax.devices()[0]
    return {
        "platform": device.platform,
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "jax_version": jax.__version__,
        "python": platform.python_version(),
    }


def time_compiled(fn: Callable, *args: Any, repeats: int = 5) -> dict[str, float]:
    """Compile `jax.jit(fn)` for `args` (timed apart), then time `repeats` runs; median seconds."""
    jitted = jax.jit(fn)
    start = time.perf_counter()
    compiled = jitted.lower(*args).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(*args))  # first run: allocation, caches
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(compiled(*args))
        runs.append(time.perf_counter() - start)
    return {"compile_s": compile_s, "run_s": statistics.median(runs), "run_s_min": min(runs)}
