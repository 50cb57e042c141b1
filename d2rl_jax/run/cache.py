"""On-disk caches that make a second launch start at once: XLA executables and the held-out references.

    from d2rl_jax.run.cache import enable_cache
    enable_cache()            # ~/.cache/d2rl_jax (or $XDG_CACHE_HOME/d2rl_jax): xla/ and references/

The experiment CLIs turn both on by default (`--nocompile_cache` turns them off). XLA's entries are keyed
by the program, the jax/jaxlib version and the device, so a changed program compiles anew. The reference
entries (the held-out batch with its C*, R', heuristic and random levels: an optimizer run of several
seconds) are keyed by their settings, the source of the whole `d2rl_jax` package, the jax version and the
device kind, so any change to the code or the platform computes them anew.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
from pathlib import Path

import jax
import numpy as np

from d2rl_jax.run.io import write_bytes_atomic
from d2rl_jax.training import use_reference_store


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "d2rl_jax"


def enable_cache(directory: str | Path | None = None, xla: bool = True) -> Path:
    """Cache held-out references and (with `xla`) compiled programs, every compilation however short: start-up
    is the sum of many small ones, under `directory` (default `default_cache_dir()`); returns it."""
    path = Path(directory) if directory is not None else default_cache_dir()
    if xla:
        (path / "xla").mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path / "xla"))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    use_reference_store(ReferenceFiles(path / "references"))
    return path


@functools.cache  # the sources do not change under a running process
def _code_fingerprint() -> str:
    package = Path(__file__).parent
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(str(source.relative_to(package)).encode())
        digest.update(source.read_bytes())
    return digest.hexdigest()


class ReferenceFiles:
    """The training loop's reference store (`d2rl_jax.training.use_reference_store`): one npz file per setting."""

    def __init__(self, directory: Path):
        self.directory = directory

    def path(self, key: tuple) -> Path:
        """The file of the references with settings `key` (reprs that fix them)."""
        device = jax.devices()[0]
        digest = hashlib.sha256(repr((key, _code_fingerprint(), jax.__version__, device.platform,
                                      device.device_kind)).encode()).hexdigest()[:32]
        return self.directory / f"{digest}.npz"

    def load(self, key: tuple) -> dict[str, np.ndarray] | None:
        path = self.path(key)
        if not path.exists():
            return None
        with np.load(path) as saved:
            return {name: saved[name] for name in saved.files}

    def save(self, key: tuple, arrays: dict[str, np.ndarray]) -> None:
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes_atomic(self.path(key), buffer.getvalue())
