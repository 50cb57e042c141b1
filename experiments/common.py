"""Shared set-up of the experiment and benchmark entry points."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from absl import app, flags
from absl import logging as absl_logging

from d2rl_jax.cache import default_cache_dir, enable_cache
from d2rl_jax.config import ACTOR_KINDS, REWARD_DESIGNS, HyperParams
from d2rl_jax.grids import LEARN_EXP_SETTINGS, Variant, make_grid

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
    and did not find (no libtpu on a CPU host) and orbax's per-save INFO chatter."""
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
    absl_logging.set_verbosity(absl_logging.WARNING)


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
    flags.DEFINE_float("T", None, "State exploration gate threshold T (default: the preset's).")
    flags.DEFINE_list("settings", None, f"learn_exp: learner settings, from {tuple(LEARN_EXP_SETTINGS)}.")
    flags.DEFINE_bool("swept_points", True, "learn_exp: sweep the exploration std and actor lr of the settings that "
                      "have points (d2rl_jax/grids.py); --noswept_points runs the preset's point only.")
    flags.DEFINE_list("reward_lr", None, "Reward-network learning rates, comma-separated: every point of a learned "
                      "reward design runs at each (default: the preset's).")
    flags.DEFINE_bool("references", True, "Also train each actor's APG ceiling (the dashed curve of the figures; "
                      "learn_exp has its own, retraining none).")


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
    if fl.T is not None:
        base_hp = base_hp.replace(gate_threshold=fl.T)
    return make_grid(name, base_hp, actors=fl.actor, designs=fl.designs, M=parse_floats("M", fl.M),
                     eta=parse_floats("eta", fl.eta), baselines=fl.baselines, settings=fl.settings,
                     references=references and fl.references, swept_points=fl.swept_points,
                     reward_lr=parse_floats("reward_lr", fl.reward_lr))
