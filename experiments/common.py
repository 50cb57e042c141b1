"""Shared set-up of the experiment and benchmark entry points."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from absl import app, flags
from absl import logging as absl_logging

from d2rl_jax.config import ACTOR_KINDS, REWARD_DESIGNS, HyperParams
from d2rl_jax.run.cache import default_cache_dir, enable_cache
from d2rl_jax.run.grids import DIFFUSION_EXP_SETTINGS, LEARN_EXP_SETTINGS, Variant, make_grid

flags.DEFINE_bool("compile_cache", True, f"Keep compiled programs and the held-out references in a persistent cache "
                  f"({default_cache_dir()}, or $D2RL_CACHE_DIR): a second launch starts without compiling. "
                  "--nocompile_cache: off.")


def _program() -> str:
    """The command's module name, e.g. experiments.run."""
    path = Path(sys.argv[0])
    return f"{path.parent.name}.{path.stem}" if path.suffix == ".py" else path.name


def _fail(message: str) -> None:
    """One line on stderr, exit status 2, nothing else (no usage dump: --helpshort lists the flags)."""
    sys.stderr.write(f"{_program()}: error: {message}\n")
    sys.exit(2)


# The exit status of a command some of whose runs diverged: every file is written (the summary marks the runs), but a
# script chaining commands must not take their numbers as a result (a learning-rate sweep's diverged point is not a
# point that "learns badly").
DIVERGED_STATUS = 3


def exit_if_diverged(notes: dict[str, str]) -> None:
    """`notes`: variant -> divergence note ("" for a variant whose runs stayed finite). One line per diverged
    variant on stderr and exit status DIVERGED_STATUS; nothing when none diverged."""
    diverged = {name: note for name, note in notes.items() if note}
    if diverged:
        sys.stderr.write("".join(f"{_program()}: error: [{name}] {note}: the learner's parameters turned non-finite "
                                 "(NaN or inf; lower the learning rates)\n" for name, note in diverged.items()))
        sys.exit(DIVERGED_STATUS)


def _parse_flags(argv: list[str]) -> list[str]:
    try:
        return flags.FLAGS(argv)
    except flags.Error as err:
        _fail(f"{err} (--helpshort lists the flags)")


def run_cli(main: Callable[[list[str]], None], interrupted: str = "interrupted") -> None:
    """`app.run(main)` for every entry point: a bad flag value or a usage error raised by `main` is one line
    naming the flag and what is allowed, before anything is written; the compilation cache is on unless
    --nocompile_cache; Ctrl-C exits with `interrupted` (how to resume) instead of a traceback."""
    def guarded(argv: list[str]) -> None:
        quiet_backend_probe()
        if flags.FLAGS.compile_cache:
            enable_cache(os.environ.get("D2RL_CACHE_DIR") or None)
        try:
            main(argv)
        except app.UsageError as err:
            _fail(str(err))

    try:
        app.run(guarded, flags_parser=_parse_flags)
    except KeyboardInterrupt:
        sys.exit(interrupted)


def quiet_backend_probe() -> None:
    """Keep the console to our own progress lines: hide JAX's INFO line about backends it probed
    and did not find (no libtpu on a CPU host) and orbax's per-save INFO chatter. `run_cli` calls it before
    every entry point's main."""
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
    absl_logging.set_verbosity(absl_logging.WARNING)


def define_distributed_flags() -> None:
    """Multi-process flags (experiments.sweep, experiments.retrain); `init_distributed` reads them."""
    flags.DEFINE_bool("distributed", False, "Run as one of several processes (hosts): jax.distributed.initialize() "
                      "first; every process runs the same command (docs/sweeps.md).")
    flags.DEFINE_string("coordinator_address", None, "--distributed: host:port of process 0's coordinator (default "
                        "$JAX_COORDINATOR_ADDRESS; with none of the three, JAX detects Cloud TPU and SLURM).")
    flags.DEFINE_integer("num_processes", None, "--distributed: how many processes (default $JAX_NUM_PROCESSES).",
                         lower_bound=1)
    flags.DEFINE_integer("process_id", None, "--distributed: this process's index, 0 .. num_processes - 1 (default "
                         "$JAX_PROCESS_ID).", lower_bound=0)
    flags.DEFINE_float("distributed_timeout_s", 300.0, "--distributed: give up when the processes have not all "
                       "connected within this many seconds.", lower_bound=1.0)


def _setting(flag: str, env: str, kind: type):
    value = getattr(flags.FLAGS, flag)
    if value is not None:
        return value
    text = os.environ.get(env)
    if text is None or text == "":
        return None
    try:
        return kind(text)
    except ValueError:
        raise app.UsageError(f"--{flag}: ${env}={text!r} is not {'an integer' if kind is int else 'valid'}") from None


def init_distributed() -> None:
    """With --distributed, join the other processes (`jax.distributed.initialize`) before any device is used.
    The coordinator address, process count and index come from the flags, else from the environment variables
    the docs name; with none of them JAX's auto-detection (Cloud TPU, SLURM) applies. CPU collectives use gloo."""
    fl = flags.FLAGS
    names = {"coordinator_address": "JAX_COORDINATOR_ADDRESS", "num_processes": "JAX_NUM_PROCESSES",
             "process_id": "JAX_PROCESS_ID"}
    if not fl.distributed:
        given = [f"--{n}" for n in names if getattr(fl, n) is not None]
        if given:
            raise app.UsageError(f"{', '.join(given)}: only with --distributed")
        return
    address = _setting("coordinator_address", names["coordinator_address"], str)
    count = _setting("num_processes", names["num_processes"], int)
    index = _setting("process_id", names["process_id"], int)
    values = {"coordinator_address": address, "num_processes": count, "process_id": index}
    missing = [f"--{n} (or ${names[n]})" for n, v in values.items() if v is None]
    if missing and len(missing) < 3:
        raise app.UsageError(f"--distributed: {', '.join(missing)} missing: give all three, or none for Cloud TPU "
                             "/ SLURM auto-detection")
    if address is not None:
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise app.UsageError(f"--coordinator_address={address}: must be host:port")
        if count < 1 or not 0 <= index < count:
            raise app.UsageError(f"--process_id={index}: must be in 0 .. --num_processes - 1 = {count - 1}")
    import jax

    jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU processes: gloo; GPU/TPU ignore it
    timeout = fl.distributed_timeout_s
    where = f"the coordinator at {address}" if address else "the auto-detected cluster"
    failure = (f"--distributed: process {index} of {count} could not join {where} within {timeout:g} s "
               "(--distributed_timeout_s): is every process started, with the same address and count?")
    # XLA's client aborts the process when its own deadline passes (no Python exception to catch), so a watchdog
    # ends it first with one line; XLA's deadline is set past ours.
    joined = threading.Event()

    def watchdog() -> None:
        if not joined.wait(timeout):
            sys.stderr.write(f"{_program()}: error: {failure}\n")
            sys.stderr.flush()
            os._exit(2)

    threading.Thread(target=watchdog, daemon=True).start()
    try:
        jax.distributed.initialize(coordinator_address=address, num_processes=count, process_id=index,
                                   initialization_timeout=int(timeout) + 30)
    except Exception as err:  # a refused or malformed setting JAX reports itself (e.g. auto-detection found none)
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise app.UsageError(f"{failure} ({first})") from None
    finally:
        joined.set()


def define_grid_flags() -> None:
    """The flags that pick and narrow a named grid's variants (d2rl_jax/grids.py); `grid_from_flags` reads them.
    Shared by experiments.sweep and experiments.retrain."""
    flags.DEFINE_list("M", None, "State exploration: values of M, comma-separated (state_exp default 0.1,...,1.0; "
                      "retrain_exp 0.4).")
    flags.DEFINE_list("eta", None, "State exploration: values of eta, comma-separated (state_exp default "
                      "0.001,0.01,0.1; retrain_exp 0.01).")
    flags.DEFINE_list("designs", None, f"Reward designs, from {REWARD_DESIGNS}.")
    flags.DEFINE_list("actor", None, f"Actor kinds, from {ACTOR_KINDS} (action_exp, retrain_exp: both; others: "
                      "diffusion).")
    flags.DEFINE_bool("baselines", True, "state_exp: also run each design without state exploration.")
    flags.DEFINE_float("gate_threshold", None, "State exploration gate threshold T (default: the preset's).")
    flags.DEFINE_alias("T", "gate_threshold")  # the paper's symbol
    flags.DEFINE_list("settings", None, f"learn_exp: learner settings, from {tuple(LEARN_EXP_SETTINGS)}; "
                      f"diffusion_exp: from {tuple(DIFFUSION_EXP_SETTINGS)}.")
    flags.DEFINE_bool("swept_points", True, "learn_exp: sweep the exploration std and actor lr of the settings that "
                      "have points (d2rl_jax/grids.py); --noswept_points runs the preset's point only.")
    flags.DEFINE_list("reward_lr", None, "Reward-network learning rates, comma-separated: every point of a learned "
                      "reward design runs at each (default: the preset's).")
    flags.DEFINE_bool("references", True, "Also train each actor's APG ceiling (the dashed curve of the figures; "
                      "learn_exp has its own, retraining none).")


def require_choices(flag: str, values: list[str], allowed) -> None:
    """A usage error naming the list flag `flag` unless each of its values is one of `allowed`."""
    if any(v not in allowed for v in values):
        raise app.UsageError(f"--{flag}={','.join(values)}: each must be one of {tuple(allowed)}")


def parse_floats(flag: str, values: list[str] | None) -> list[float] | None:
    if values is None:
        return None
    try:
        return [float(v) for v in values]
    except ValueError:
        raise app.UsageError(f"--{flag}={','.join(values)}: each value must be a number") from None


def grid_from_flags(name: str, base_hp: HyperParams, references: bool = True) -> tuple[Variant, ...]:
    """Grid `name` narrowed by the flags of `define_grid_flags` (raises ConfigError naming a bad one); with
    `references`, the APG ceilings too unless --noreferences."""
    fl = flags.FLAGS
    if fl.gate_threshold is not None:
        base_hp = base_hp.replace(gate_threshold=fl.gate_threshold)
    return make_grid(name, base_hp, actors=fl.actor, designs=fl.designs, M=parse_floats("M", fl.M),
                     eta=parse_floats("eta", fl.eta), baselines=fl.baselines, settings=fl.settings,
                     references=references and fl.references, swept_points=fl.swept_points,
                     reward_lr=parse_floats("reward_lr", fl.reward_lr))
