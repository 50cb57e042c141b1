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
