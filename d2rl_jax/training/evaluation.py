"""Held-out evaluation (DESIGN §8, §10): the fixed batch every run is measured on, its reference levels, the
greedy policy's sum rate on it, and the critic's ground-truth diagnostics.

The batch is `cfg.eval_states` resets from `cfg.eval_seed`, the same for every run and seed, with the
environment's reference levels (`env.reference_rates`: C*, an upper bound R', baselines). The levels of the
FD environment take an optimizer run, so they are computed once per process per setting and, when a
reference store is set (`use_reference_store`; the CLIs' persistent cache sets one), kept on disk.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from d2rl_jax.config import EVAL_MODES, ConfigError, HyperParams, TrainConfig
from d2rl_jax.env import make_env, sample_states
from d2rl_jax.learners.base import best_candidate, sample_candidates


@struct.dataclass
class EvalBatch:
    """The held-out states and their per-state reference levels (NaN where the environment has none)."""

    obs: jax.Array  # (n, S)
    channels: Any  # what the environment computes rewards from, leading axis n
    optimum: jax.Array  # (n,) C*: the ratio C/C* divides by
    bound: jax.Array  # (n,) R': C/R'
    levels: tuple[jax.Array, ...]  # every reference level the figures draw, in `level_names` order
    level_names: tuple[str, ...] = struct.field(pytree_node=False)

    def reference_levels(self) -> dict[str, float]:
        """The mean of every reference level on the batch: the lines the learning figures draw."""
        return {name: float(level.mean()) for name, level in zip(self.level_names, self.levels, strict=True)}


def make_eval_batch(env, env_params, cfg: TrainConfig, levels: dict[str, np.ndarray] | None = None) -> EvalBatch:
    """The held-out batch of `env` under `env_params`; `levels` (a stored `reference_rates` result, keys
    "optimum", "bound" and the display names) skips computing them."""
    key_states, key_references = jax.random.split(jax.random.key(cfg.eval_seed))
    obs, channels = jax.jit(sample_states, static_argnums=(0, 3))(env, env_params, key_states, cfg.eval_states)
    if levels is None:
        references = env.reference_rates(channels, env_params, key_references, cfg)
        levels = {"optimum": references.optimum, "bound": references.bound, **references.levels}
    names = tuple(k for k in levels if k not in ("optimum", "bound"))
    return EvalBatch(obs=obs, channels=channels, optimum=jnp.asarray(levels["optimum"]),
                     bound=jnp.asarray(levels["bound"]), levels=tuple(jnp.asarray(levels[k]) for k in names),
                     level_names=names)


class ReferenceStore(Protocol):
    """Where computed reference levels are kept between processes (d2rl_jax.run.cache)."""

    def load(self, key: tuple) -> dict[str, np.ndarray] | None: ...

    def save(self, key: tuple, arrays: dict[str, np.ndarray]) -> None: ...


_STORE: list[ReferenceStore | None] = [None]


def use_reference_store(store: ReferenceStore | None) -> None:
    """Keep the held-out reference levels in `store` (None: compute them in every process)."""
    _STORE[0] = store


class _ParamsKey:
    """Environment parameters as a cache key: equal when every leaf holds the same values."""

    def __init__(self, params: Any):
        self.params = params
        self.values = tuple(np.asarray(x).tobytes() for x in jax.tree.leaves(params))

    def __hash__(self) -> int:
        return hash(self.values)

    def __eq__(self, other) -> bool:
        return isinstance(other, _ParamsKey) and self.values == other.values


@functools.lru_cache(maxsize=8)
def _shared_eval_batch(env_cfg, eval_states: int, eval_seed: int, restarts: int, steps: int,
                       params: _ParamsKey | None = None) -> EvalBatch:
    env = make_env(env_cfg)
    cfg = TrainConfig(env=env_cfg, eval_states=eval_states, eval_seed=eval_seed, optimizer_restarts=restarts,
                      optimizer_steps=steps)
    env_params = env.default_params if params is None else params.params
    key = ("eval_batch", env_cfg, eval_states, eval_seed, restarts, steps, None if params is None else params.values)
    store = _STORE[0]
    levels = store.load(key) if store is not None else None
    batch = make_eval_batch(env, env_params, cfg, levels)
    if store is not None and levels is None:
        named = zip(("optimum", "bound", *batch.level_names), (batch.optimum, batch.bound, *batch.levels), strict=True)
        store.save(key, {name: np.asarray(level) for name, level in named})
    return batch


def held_out_batch(cfg: TrainConfig, env=None, env_params=None) -> EvalBatch:
    """The held-out batch of `cfg.env` (or of `env`) under `env_params` (default: the environment's own). The
    configured environment's batches are computed once per process and setting, and kept in the reference
    store; an environment object given directly (a probe, a test's) is evaluated anew."""
    if env is not None:
        return make_eval_batch(env, env.default_params if env_params is None else env_params, cfg)
    return _shared_eval_batch(cfg.env, cfg.eval_states, cfg.eval_seed, cfg.optimizer_restarts, cfg.optimizer_steps,
                              None if env_params is None else _ParamsKey(env_params))


def _rows_and_action_grads(f, actions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(f(actions), each row's gradient of f with respect to its own action) in one forward and backward
    pass: the rows are independent, so the gradient of their sum holds every row's own gradient."""
    (_, rows), grads = jax.value_and_grad(lambda a: (lambda r: (r.sum(), r))(f(a)), has_aux=True)(actions)
    return rows, grads


def make_policy(actor, learner, samples: int) -> Callable:
    """`policy(mode, agent, key, obs) -> actions`: the actor's actions without exploration in an evaluation mode
    (DESIGN §4): "sample" (one draw of its sampler), "deterministic" (temperature 0: the noise-free chain from a
    fixed start) or "best_of_k" (the best of `samples` draws by the learner's `rank`, min(Q1, Q2))."""

    def policy(mode: str, agent, key: jax.Array, obs: jax.Array) -> jax.Array:
        params = agent.actor.params
        if mode == "sample":
            return actor.act(params, key, obs)
        if mode == "deterministic":
            return actor.act(params, key, obs, temperature=0.0)
        candidates = sample_candidates(actor, params, key, obs, samples)
        return best_candidate(candidates, learner.rank(agent, obs, candidates))

    return policy


def check_eval_mode(cfg: TrainConfig, learner) -> None:
    if cfg.eval_mode == "best_of_k" and learner.rank is None:
        raise ConfigError(f"TrainConfig.eval_mode='best_of_k' is invalid with learner={cfg.learner!r}: it ranks "
                          "samples by a critic, which this learner has not; use 'sample' or 'deterministic'")


def make_evaluate(env, actor, learner, true_rewards: Callable | None, batches: Callable, mode: str = "sample",
                  samples: int = 1, all_modes: bool = True) -> Callable:
    """`evaluate(agent, key, epoch=None, hp=None) -> metrics`: the policy in evaluation mode `mode` (`make_policy`;
    no exploration) on the held-out batch `batches(epoch, hp) -> (EvalBatch, env_params)` (a drift's batch from its
    epoch on): its mean C, C/C*, C/R', mean designed reward C - R' (GDMOPT's reward on its task), and the critic's
    diagnostics at those actions. With `all_modes` a stochastic actor also reports C and C/C* in every mode,
    `eval_sum_rate_<mode>` and `eval_ratio_<mode>` (best_of_k NaN without a critic)."""
    policy = make_policy(actor, learner, samples)

    def diagnostics(agent, obs: jax.Array, actions: jax.Array, channels, params) -> dict[str, jax.Array]:
        """Ground truth for the critic (DESIGN §10): the cosine between the action gradients of the learner's
        value and of the true reward at the policy's actions, and the value's RMS error against the true
        reward in units of that reward's std over the batch. NaN for a learner without a value (apg) or an
        environment whose reward is not differentiable."""
        if learner.value is None or true_rewards is None:
            nan = jnp.full((), jnp.nan)
            return {"eval_critic_alignment": nan, "eval_critic_error": nan}
        true, true_grad = _rows_and_action_grads(lambda a: true_rewards(channels, a, params), actions)
        value, value_grad = _rows_and_action_grads(lambda a: learner.value(agent, obs, a), actions)
        tiny = jnp.finfo(jnp.float32).tiny
        cosine = jnp.sum(value_grad * true_grad, -1) / jnp.maximum(
            jnp.linalg.norm(value_grad, axis=-1) * jnp.linalg.norm(true_grad, axis=-1), tiny)
        error = jnp.sqrt(jnp.mean((value - true) ** 2)) / jnp.maximum(jnp.std(true), tiny)
        return {"eval_critic_alignment": jnp.mean(cosine), "eval_critic_error": error}

    def evaluate(agent, key: jax.Array, epoch: jax.Array | None = None,
                 hp: HyperParams | None = None) -> dict[str, jax.Array]:
        """Without `epoch` and `hp`: the batch of the original environment. With them: that of the environment
        of `epoch` (the next to be played, so right after a drift the old policy meets the new environment)."""
        batch, params = batches(epoch, hp)

        def mean_rate(actions: jax.Array) -> jax.Array:
            return jax.vmap(env.evaluate, (0, 0, None))(batch.channels, actions, params)[0].sum_rate.mean()

        actions = policy(mode, agent, key, batch.obs)
        rate = mean_rate(actions)
        modes = {}
        if actor.stochastic and all_modes:
            for other in EVAL_MODES:
                other_rate = rate if other == mode else (
                    jnp.full((), jnp.nan) if other == "best_of_k" and learner.rank is None
                    else mean_rate(policy(other, agent, key, batch.obs)))
                modes.update({f"eval_sum_rate_{other}": other_rate,
                              f"eval_ratio_{other}": other_rate / batch.optimum.mean()})
        return {"eval_sum_rate": rate, "eval_ratio_to_optimizer": rate / batch.optimum.mean(),
                "eval_ratio_to_bound": rate / batch.bound.mean(), "eval_reward": rate - batch.bound.mean(),
                **modes, **diagnostics(agent, batch.obs, actions, batch.channels, params)}

    return evaluate
