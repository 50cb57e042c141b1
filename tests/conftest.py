import os

# Tests run many small programs once each, so XLA's compile time dominates the suite: the CPU
# backend's LLVM optimization level 0 cuts it by about a third on 2 cores. Semantics are the same
# (only codegen quality changes); benchmarks and experiments keep the default level. Set before jax
# initializes its backend, and inherited by the CLI tests' subprocesses.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=0").strip()

import jax
import pytest

from d2rl_jax.config import env_preset
from d2rl_jax.env import FullDuplexEnv


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
