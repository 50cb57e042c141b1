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


_COMPILE_EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
                   "/jax/core/compile/backend_compile_duration")
_compile_seconds = [0.0]
_listening = [False]


def _on_event(name: str, seconds: float, **_: Any) -> None:
    if name in _COMPILE_EVENTS:
        _compile_seconds[0] += seconds


def total_compile_seconds() -> float:
    """Seconds JAX spent tracing, lowering and compiling since the first call of this function
    (call it once early to start counting)."""
    if not _listening[0]:
        jax.monitoring.register_event_duration_secs_listener(_on_event)
        _listening[0] = True
    return _compile_seconds[0]
