"""How many runs fit on the devices at once: bytes per run, free device memory, chunks.

Bytes per run come from XLA where the backend reports them: `measured_run_bytes` compiles the chunk
program the runner will execute (kept in the `TrainFns` cache, so the runner does not compile it again)
and reads its `memory_analysis()`; the plan takes that peak times `MEASURED_MARGIN`. Where the backend
gives no analysis, `run_bytes`'s estimate serves: the exact shapes of a run's state (replay buffer,
parameters, optimizer states, the rest) and of one chunk's metrics with `jax.eval_shape`, plus an
estimate of the update's working memory (gradients, Adam temporaries, activations of one batch through
every network, P-fold for diffusion samplers), which misses XLA's temporaries on the diffusion variants
(docs/sweeps.md has the measured ratios). `plan_chunks` splits a run axis
into equal chunks that fit a byte budget (the last one padded with repeated runs, so one compiled
program serves every chunk) and whose size the devices divide (so each chunk shards evenly).
"""

from __future__ import annotations

import dataclasses
import math
import os

import jax
import numpy as np

from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.run.checkpoint import is_prng_key
from d2rl_jax.run.distributed import run_sharding
from d2rl_jax.run.runner import compile_chunk, over_runs
from d2rl_jax.training import TrainFns, hparams_to_arrays, seed_keys, stack_hparams

# Share of the free memory a plan may fill: XLA needs room for fragmentation and for buffers this
# estimate does not see (e.g. the evaluation batch, the host transfer of metrics).
MEMORY_FRACTION = 0.75
# Planned bytes per run = XLA's measured peak per run x this margin: >= the peak per run XLA measures for a larger
# chunk of the same variant and <= 2x it (docs/sweeps.md: benchmarks/memory_plan.py over every variant of every
# grid; tests/test_sweep.py checks a diffusion variant the estimate missed).
MEASURED_MARGIN = 1.2


def _nbytes(tree) -> int:
    """Bytes of the arrays (or shape structs) in `tree`; a typed PRNG key holds 2 uint32 words."""
    return int(sum(math.prod(x.shape) * (8 if is_prng_key(x) else np.dtype(x.dtype).itemsize)
                   for x in jax.tree.leaves(tree)))


def activation_bytes(cfg: TrainConfig, observation_size: int, action_size: int) -> int:
    """Forward and backward activations of one update (float32): each layer's output kept for the
    backward pass and its gradient, for the batch through the critics (twice: critic and actor
    losses), the actor (P samples for the diffusion actor) and the optional reward net and SENPNN, plus the
    replay batches an epoch samples (one per critic step)."""
    B, P = cfg.batch_size, cfg.diffusion.num_steps
    actor_steps = P if cfg.actor == "diffusion" else 1
    widths = 2 * 2 * cfg.critic_hidden * cfg.critic_depth  # two critics, two losses
    widths += actor_steps * (cfg.actor_hidden * cfg.actor_depth + action_size)
    if cfg.learned_reward:
        depth = cfg.reward_gdm_depth if cfg.reward in ("designed_gdm", "gdm") else cfg.reward_mlp_depth
        widths += P * cfg.reward_hidden * depth
    if cfg.state_exploration:
        widths += cfg.senpnn_hidden * cfg.senpnn_depth + observation_size
    sampled = 4 * cfg.critic_updates * B * (observation_size + action_size + 4)  # an epoch's replay batches
    return 2 * 4 * B * (widths + observation_size + action_size) + sampled


@dataclasses.dataclass(frozen=True)
class RunBytes:
    """Bytes one run holds on the device while it trains."""

    replay_buffer: int
    params: int
    optimizer: int
    other_state: int  # environments, observations, keys, moments, chi
    metrics: int  # one compiled chunk's outputs
    workspace: int  # estimate: gradients, Adam temporaries, activations
    xla_peak: int | None = None  # XLA's peak bytes per run of the compiled chunk; None: not measured

    @property
    def estimate(self) -> int:
        return self.replay_buffer + self.params + self.optimizer + self.other_state + self.metrics + self.workspace

    @property
    def total(self) -> int:
        """The bytes the plan reserves per run: XLA's peak x MEASURED_MARGIN where measured, else the estimate."""
        return self.estimate if self.xla_peak is None else math.ceil(self.xla_peak * MEASURED_MARGIN)

    @property
    def source(self) -> str:
        return "estimate" if self.xla_peak is None else f"XLA memory_analysis x {MEASURED_MARGIN}"

    def to_dict(self) -> dict[str, int | str | None]:
        return {**dataclasses.asdict(self), "estimate": self.estimate, "total": self.total, "source": self.source}


def _bytes_by_role(state) -> dict[str, int]:
    """Bytes of a run state's leaves by what their field path names: "params" (any `params` / `*_params` field:
    networks, targets, reward net, SENPNN), "opt" (optimizer states), "trained" (the learner's networks that take
    gradient steps: its params outside targets and the reward net), "buffer", and everything."""
    out = {"params": 0, "opt": 0, "trained": 0, "buffer": _nbytes(state.buffer), "all": _nbytes(state)}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        names = [str(getattr(k, "name", getattr(k, "key", ""))) for k in path]
        nbytes = _nbytes(leaf)
        if any(n == "opt" or n.endswith("_opt") for n in names):
            out["opt"] += nbytes
        elif any(n == "params" or n.endswith("_params") for n in names):
            out["params"] += nbytes
            if names[0] == "agent" and not any(n.startswith("target") or n == "reward" for n in names):
                out["trained"] += nbytes
    return out


def run_bytes(cfg: TrainConfig, fns: TrainFns) -> RunBytes:
    hp = hparams_to_arrays(HyperParams())
    state = jax.eval_shape(fns.init, jax.random.key(0), hp)
    metrics = jax.eval_shape(fns.run_chunk, state, hp)[1]
    roles = _bytes_by_role(state)
    params, optimizer, buffer = roles["params"], roles["opt"], roles["buffer"]
    other = roles["all"] - buffer - params - optimizer
    # Gradients and Adam's update temporaries are about two copies of the trained parameters.
    workspace = 2 * roles["trained"] + activation_bytes(cfg, fns.env.observation_size, fns.env.action_size)
    return RunBytes(replay_buffer=buffer, params=params, optimizer=optimizer, other_state=other,
                    metrics=_nbytes(metrics), workspace=workspace)


def compiled_peak_bytes(compiled) -> int | None:
    """Peak device bytes of a compiled program by XLA's memory analysis (per device when sharded): its
    arguments, outputs and temporaries, less the outputs that reuse donated arguments. None where the
    backend reports no analysis."""
    try:
        analysis = compiled.memory_analysis()
    except (NotImplementedError, RuntimeError, AttributeError):
        return None
    if analysis is None:
        return None
    return int(analysis.argument_size_in_bytes + analysis.output_size_in_bytes + analysis.temp_size_in_bytes
               - analysis.alias_size_in_bytes)


def measured_run_bytes(fns: TrainFns, num_runs: int, devices: list | None = None) -> int | None:
    """XLA's peak bytes per run of the chunk program for `num_runs` runs, compiled as the runner compiles it
    (same shapes and placement, kept in `fns`' cache for the runner); None where the backend gives none."""
    hp = stack_hparams([HyperParams()] * num_runs)
    keys = seed_keys(range(num_runs))
    state = jax.eval_shape(over_runs(fns.init, num_runs), keys, hp)
    devices = jax.devices() if devices is None else devices
    sharding = run_sharding(num_runs, devices) if len(devices) > 1 else None  # as run_training(shard=...) places
    compiled, _ = compile_chunk(fns, state, hp, sharding, claim=False)
    peak = compiled_peak_bytes(compiled)
    if peak is None:
        return None
    runs_per_device = num_runs // sharding.mesh.size if sharding is not None else num_runs
    return math.ceil(peak / runs_per_device)


def free_device_bytes(devices: list | None = None) -> tuple[int, str]:
    """Free bytes summed over `devices` and where the number came from. Accelerators report
    `memory_stats()` (XLA's pool limit minus bytes in use); the CPU backend does not, so for it the
    host's available memory is read from /proc/meminfo (or sysconf)."""
    devices = jax.devices() if devices is None else devices
    # Only this process's devices can be asked; with several processes, the others' are taken to match.
    local = [d for d in devices if d.process_index == jax.process_index()] or devices
    stats = [d.memory_stats() for d in local]
    if all(s and "bytes_limit" in s for s in stats):
        free = sum(int(s["bytes_limit"]) - int(s.get("bytes_in_use", 0)) for s in stats)
        return free * len(devices) // len(local), "device memory_stats()"
    try:
        with open("/proc/meminfo") as f:
            fields = dict(line.split(":", 1) for line in f)
        return int(fields["MemAvailable"].split()[0]) * 1024, "host MemAvailable (/proc/meminfo)"
    except (OSError, KeyError, ValueError):
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "host free pages (sysconf)"


@dataclasses.dataclass(frozen=True)
class ChunkPlan:
    num_runs: int
    chunk_size: int  # runs per compiled program (every chunk the same: one compile)
    num_chunks: int

    @property
    def padded_runs(self) -> int:
        """Repeated runs filling the last chunk; their results are dropped."""
        return self.num_chunks * self.chunk_size - self.num_runs

    def chunk_runs(self, index: int) -> list[int]:
        """The run indices of chunk `index`, padded with the last run to `chunk_size`."""
        runs = list(range(index * self.chunk_size, min((index + 1) * self.chunk_size, self.num_runs)))
        return runs + [self.num_runs - 1] * (self.chunk_size - len(runs))


def plan_chunks(num_runs: int, bytes_per_run: int, budget_bytes: int, num_devices: int = 1,
                max_chunk: int | None = None) -> ChunkPlan:
    """Equal chunks of at most `budget_bytes // bytes_per_run` runs (and at most `max_chunk`), a
    multiple of `num_devices` where more than one run fits per device, as few chunks as possible."""
    if num_runs < 1 or bytes_per_run < 1 or num_devices < 1:
        raise ValueError(f"num_runs={num_runs}, bytes_per_run={bytes_per_run}, num_devices={num_devices}: "
                         "each must be >= 1")
    fit = budget_bytes // bytes_per_run
    if fit < 1:
        raise MemoryError(f"one run needs {bytes_per_run / 2**20:.1f} MiB, more than the budget of "
                          f"{budget_bytes / 2**20:.1f} MiB: shrink the replay buffer or the batch, or raise the budget")
    fit = min(fit, num_runs, max_chunk or num_runs)
    if num_devices > 1 and fit >= num_devices:
        fit -= fit % num_devices
    num_chunks = math.ceil(num_runs / fit)
    size = math.ceil(num_runs / num_chunks)  # balance: no chunk much emptier than the others
    if num_devices > 1 and fit >= num_devices:
        size = min(fit, math.ceil(size / num_devices) * num_devices)
    return ChunkPlan(num_runs=num_runs, chunk_size=size, num_chunks=math.ceil(num_runs / size))
