import atexit
import os
import shutil
import tempfile

# Tests run many small programs once each, so XLA's compile time dominates the suite: the CPU
# backend's LLVM optimization level 0 cuts it by about a third on 2 cores. Semantics are the same
# (only codegen quality changes); benchmarks and experiments keep the default level. Set before jax
# initializes its backend, and inherited by the CLI tests' subprocesses.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

# Compiled programs are also cached on disk for this test session, so that the CLI tests' subprocesses
# (a run and its resume, a killed sweep and its resume) reuse what an earlier process compiled. The
# directory is fresh per session and removed by the process that made it (xdist workers share it).
# The CLIs' own cache (d2rl_jax/cache.py: XLA programs and held-out references) goes there too, never to the
# user's ~/.cache.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _cache = tempfile.mkdtemp(prefix="d2rl-jax-test-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = os.path.join(_cache, "xla")  # where the CLIs' cache keeps programs
    os.environ.setdefault("D2RL_CACHE_DIR", _cache)
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)

import jax  # noqa: E402
import pytest  # noqa: E402

from d2rl_jax.run.cache import enable_cache  # noqa: E402

# In-process too, the small preset's held-out references (an optimizer run) are computed once per session, not
# once per test module and worker (programs: JAX's own cache above, at its default thresholds).
if "D2RL_CACHE_DIR" in os.environ:
    enable_cache(os.environ["D2RL_CACHE_DIR"], xla=False)

from d2rl_jax.config import env_preset  # noqa: E402
from d2rl_jax.env import FullDuplexEnv  # noqa: E402


@pytest.fixture(scope="session")
def paper_env():
    env = FullDuplexEnv(env_preset("paper"))
    return env, env.default_params


@pytest.fixture(scope="session")
def small_env():
    env = FullDuplexEnv(env_preset("small"))
    return env, env.default_params


@pytest.fixture
def key():
    return jax.random.key(0)
