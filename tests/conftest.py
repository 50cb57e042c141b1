import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

# The CPU backend's LLVM optimization level 1 for the tests: with jax 0.10 the training loops' run time, not
# XLA's compile time, dominates the suite, and level 0 (once a third off the compile time) made the loops twice
# as slow: the suite took 560-620 s on 2 cores at level 0, 545 s at level 1 (a test_train.py subset: 58 s at level 0,
# 31-37 s at levels 1-3). Only codegen quality changes: the learning tests' measured levels are the same at 0 and 1.
# Set before jax initializes its backend, and inherited by the CLI tests' subprocesses; benchmarks and
# experiments keep XLA's default.
if "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_backend_optimization_level=1").strip()

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
from d2rl_jax.run.io import loads_json  # noqa: E402

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


def assert_strict_json(directory) -> int:
    """Every JSON file the project wrote under `directory` (not orbax's own, inside checkpoint steps) parses with a
    strict parser (NaN and Infinity rejected, as JavaScript's JSON.parse does); returns how many there were."""
    paths = [p for p in Path(directory).rglob("*.json")
             if not any(part.isdigit() or part == "tensorboard" for part in p.relative_to(directory).parts)]
    for path in paths:
        loads_json(path.read_text())
    return len(paths)


@pytest.fixture
def strict_json():
    return assert_strict_json


# Commands that stop at their flags (the rejection tests) spend nearly all their time importing jax, flax, optax and
# orbax. A zygote process imports those once; each command is a fork of it that runs the module as `python -m`
# would (runpy, sys.argv, its own stdout/stderr, exit status), so every test still sees a fresh command's
# behaviour. The zygote never initializes a JAX backend nor defines a flag: the forks start clean.
_ZYGOTE = r"""
import json, os, runpy, sys, traceback
import jax, flax.linen, optax, orbax.checkpoint, numpy, absl.app  # noqa: the imports every command makes
import d2rl_jax.config, d2rl_jax.learners, d2rl_jax.training, d2rl_jax.run.sweep, d2rl_jax.run.retrain  # noqa
print("ready", flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        sys.stdin = open(os.devnull)
        os.chdir(request["cwd"])
        code = 0
        try:
            sys.argv = [request["module"], *request["args"]]
            runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else 0 if exit.code is None else 1
            if not isinstance(exit.code, int | None):
                print(exit.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(json.dumps(os.waitstatus_to_exitcode(status)), flush=True)
"""


class CommandRunner:
    """`run(module, *args)` -> subprocess.CompletedProcess of `python -m module args`, forked from the zygote."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.process = subprocess.Popen([sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
        assert self.process.stdout.readline().strip() == "ready"
        self.count = 0

    def run(self, module: str, *args: str, cwd=None):
        self.count += 1
        out, err = self.directory / f"{self.count}.out", self.directory / f"{self.count}.err"
        request = {"module": module, "args": [str(a) for a in args], "stdout": str(out), "stderr": str(err),
                   "cwd": str(cwd or Path(__file__).parent.parent)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        code = json.loads(self.process.stdout.readline())
        return subprocess.CompletedProcess([module, *args], code, out.read_text(), err.read_text())

    def close(self):
        self.process.stdin.close()
        self.process.wait(timeout=30)


@pytest.fixture(scope="session")
def command(tmp_path_factory):
    """Run a command that stops at its flags or settings, cheaply (see `_ZYGOTE`)."""
    runner = CommandRunner(tmp_path_factory.mktemp("commands"))
    yield runner.run
    runner.close()
