"""The compiled training loop (Algorithm 2, DESIGN §5, §8, §9), PureJaxRL style.

    fns = make_train(cfg)                       # cfg: static TrainConfig
    state = fns.init(key, hparams)              # hparams: traced dict (see `hparams_to_arrays`)
    state, (epoch_metrics, eval_metrics) = fns.run_chunk(state, hparams)    # cfg.chunk_epochs epochs
    epoch_metrics, eval_metrics = fns.train(key, hparams)                   # all cfg.num_epochs

One epoch: with state exploration, each environment's state is replaced by a SENPNN sample with
probability chi (Algorithm 1); the actor acts on the states it sees, exploration perturbs the
executed actions, the environments step, the transitions (with the reward of the chosen design,
DESIGN §6) enter the device replay buffer, and, once the buffer holds a batch, the learner
(`d2rl_jax.learners`: ddpg or apg, DESIGN §10) updates from `batches_per_update` replay batches, then
the SENPNN from one. Every evaluation also measures the critic against the differentiable physics
(`critic_alignment`, `critic_error`). Every function is pure:
`jax.jit(jax.vmap(fns.train))(keys, stacked_hparams)` trains N runs (seeds x traced hyperparameter
points, e.g. a grid of M and eta) in one program.
"""

from __future__ import annotations

import functools
import io
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct

from d2rl_jax import references
from d2rl_jax.agents import RewardModel, compute_reward, explore, make_actor, noise_std_at
from d2rl_jax.cache import reference_file
from d2rl_jax.config import COMPUTED_REWARD_DESIGNS, HyperParams, TrainConfig
from d2rl_jax.drift import params_at, relocates
from d2rl_jax.env import Channels, EnvParams, EnvState, FullDuplexEnv
from d2rl_jax.io import write_bytes_atomic
from d2rl_jax.learners import AgentState, LearnerParts, make_learner
from d2rl_jax.metrics import Layer
from d2rl_jax.replay import ReplayBuffer, add_batch, can_sample, init_buffer, sample_batch
from d2rl_jax.state_exploration import ExplorerState, StateExplorer, StateNormalizer, fit_normalizer

HParams = dict[str, jax.Array]


def hparams_to_arrays(hp: HyperParams) -> HParams:
    return {k: jnp.asarray(v, jnp.float32) for k, v in hp.to_dict().items()}


def stack_hparams(hps: list[HyperParams]) -> HParams:
    """A run axis of hyperparameters: each leaf (N,), for `jax.vmap` over runs."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *[hparams_to_arrays(hp) for hp in hps])


def seed_keys(seeds) -> jax.Array:
    """A run axis of PRNG keys, one per seed (the runs' `init` keys)."""
    return jnp.stack([jax.random.key(int(s)) for s in seeds])


@struct.dataclass
class RunState:
    agent: AgentState
    buffer: ReplayBuffer
    env_state: EnvState  # batched over the T environments
    obs: jax.Array  # (T, S) real states
    key: jax.Array
    epoch: jax.Array  # () int32, epochs completed
    explorer: ExplorerState | None = None  # state exploration (Algorithm 1), when enabled


class EvalBatch(NamedTuple):
    """The fixed held-out states every run is evaluated on, with their references (NaN for probe envs)."""

    obs: jax.Array
    channels: Channels
    optimum: jax.Array  # C*(s), optimizer baseline
    bound: jax.Array  # R'(s)
    heuristic: jax.Array  # MRT + equal split, full uplink power, MMSE receivers
    random: jax.Array  # uniform raw actions decoded by the environment

    def reference_levels(self) -> dict[str, float]:
        """Mean sum rate of every reference on the batch: the lines the learning figures draw."""
        return {"C* (optimizer)": float(self.optimum.mean()), "R' (upper bound)": float(self.bound.mean()),
                "heuristic (MRT + MMSE)": float(self.heuristic.mean()), "random actions": float(self.random.mean())}


class TrainFns(NamedTuple):
    init: Any
    epoch_step: Any  # (state, hparams) -> (state, per-epoch metrics): one epoch, for cost analysis
    run_chunk: Any
    train: Any
    evaluate: Any
    eval_batch: EvalBatch
    layers: dict[str, tuple[Layer, ...]]  # network -> its Dense layers in forward order (the gradient metrics')
    compiled: dict  # executables of the host driver, keyed by input shapes (see runner)


def make_eval_batch(env, env_params, cfg: TrainConfig) -> EvalBatch:
    """The held-out batch; C* and R' exist for the wireless environment only (NaN for probes)."""
    key_drop, key_opt = jax.random.split(jax.random.key(cfg.eval_seed))
    obs, channels = jax.jit(references.sample_drops, static_argnums=(0, 3))(env, env_params, key_drop,
                                                                             cfg.eval_states)
    if not isinstance(env, FullDuplexEnv):
        nan = jnp.full((cfg.eval_states,), jnp.nan)
        return EvalBatch(obs=obs, channels=channels, optimum=nan, bound=nan, heuristic=nan, random=nan)
    optimum = jax.jit(functools.partial(references.optimizer_rates, num_restarts=cfg.optimizer_restarts,
                                        num_steps=cfg.optimizer_steps))(channels, env_params, key_opt)
    bound = jax.jit(references.bound_rates)(channels, env_params)
    heuristic = jax.jit(references.heuristic_rates)(channels, env_params)
    random = jax.jit(references.random_action_rates, static_argnums=0)(env, channels, env_params,
                                                                        jax.random.fold_in(key_opt, 1))
    return EvalBatch(obs=obs, channels=channels, optimum=optimum, bound=bound, heuristic=heuristic, random=random)


def _rows_and_action_grads(f, actions: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(f(actions), each row's gradient of f with respect to its own action) in one forward and backward
    pass: the rows are independent, so the gradient of their sum holds every row's own gradient."""
    (_, rows), grads = jax.value_and_grad(lambda a: (lambda r: (r.sum(), r))(f(a)), has_aux=True)(actions)
    return rows, grads


class _ParamsKey:
    """Environment parameters as a cache key: equal when every leaf holds the same values."""

    def __init__(self, params: EnvParams):
        self.params = params
        self._values = tuple(np.asarray(x).tobytes() for x in jax.tree.leaves(params))

    def __hash__(self) -> int:
        return hash(self._values)

    def __eq__(self, other) -> bool:
        return isinstance(other, _ParamsKey) and self._values == other._values


@functools.lru_cache(maxsize=8)
def _shared_eval_batch(env_cfg, eval_states: int, eval_seed: int, restarts: int, steps: int,
                       params: _ParamsKey | None = None) -> EvalBatch:
    """The held-out batch of the wireless env (default parameters, or `params`, e.g. a drift's), computed
    once per process: C* is an optimizer run, and every variant of a sweep or a retraining shares it."""
    env = FullDuplexEnv(env_cfg)
    cfg = TrainConfig(env=env_cfg, eval_states=eval_states, eval_seed=eval_seed, optimizer_restarts=restarts,
                      optimizer_steps=steps)
    path = reference_file("eval_batch", env_cfg, eval_states, eval_seed, restarts, steps,
                          None if params is None else params._values)
    if path is not None and path.exists():
        with np.load(path) as saved:
            arrays = {k: jnp.asarray(saved[k]) for k in saved.files}
        return EvalBatch(obs=arrays["obs"], channels=Channels(g=arrays["g"], h=arrays["h"]),
                         **{k: arrays[k] for k in ("optimum", "bound", "heuristic", "random")})
    batch = make_eval_batch(env, env.default_params if params is None else params.params, cfg)
    if path is not None:
        buffer = io.BytesIO()
        np.savez(buffer, obs=batch.obs, g=batch.channels.g, h=batch.channels.h, optimum=batch.optimum,
                 bound=batch.bound, heuristic=batch.heuristic, random=batch.random)
        write_bytes_atomic(path, buffer.getvalue())
    return batch


@functools.lru_cache(maxsize=8)
def _default_normalizer(env_cfg, num_samples: int) -> StateNormalizer:
    env = FullDuplexEnv(env_cfg)
    return fit_normalizer(env, env.default_params, num_samples)


# Streams for the optional parts (learned reward, state exploration) come from `fold_in`, never from
# extra `split`s, so enabling a part leaves every number the base agent draws unchanged (with M = 0 a
# state-exploration run is bit-identical to one without it).
_STREAM_REWARD, _STREAM_STATES, _STREAM_NETS, _STREAM_DRIFT = 3, 5, 7, 11


def make_train(cfg: TrainConfig, env=None, env_params: EnvParams | None = None,
               drift_params: EnvParams | None = None) -> TrainFns:
    """`env` defaults to the wireless `FullDuplexEnv(cfg.env)`; any env with its contract works
    (e.g. `d2rl_jax.env.probe.ProbeEnv`, which ignores cfg.env). With `drift_params` (the wireless
    env only; `d2rl_jax.drift`), the environment plays `drift_params` from epoch `hp["drift_epoch"]`
    on (traced) and the held-out evaluation uses the parameters of the epoch it precedes, with C*
    and R' recomputed for them."""
    shared = env is None and env_params is None  # default wireless env: share the fixed batches in-process
    env = FullDuplexEnv(cfg.env) if env is None else env
    env_params = env.default_params if env_params is None else env_params
    action_size = env.action_size
    actor = make_actor(cfg, action_size)
    rewards = RewardModel(cfg)
    explorer = None
    if cfg.state_exploration:
        normalizer = (_default_normalizer(cfg.env, cfg.state_norm_samples) if shared
                      else fit_normalizer(env, env_params, cfg.state_norm_samples))
        explorer = StateExplorer(cfg, env.observation_size, normalizer)
    bootstrap = env.cfg.horizon > 1 if isinstance(env, FullDuplexEnv) else False
    # The ground truth the diagnostics (and `apg`) differentiate: the computed part of the design (a learned
    # design's is C - R'), evaluated on the channels each observation encodes.
    truth = cfg.reward if cfg.reward in COMPUTED_REWARD_DESIGNS else "designed"
    differentiable = all(callable(getattr(env, name, None)) for name in ("channels_from_observation", "evaluate"))

    def true_rewards(channels, actions: jax.Array, params) -> jax.Array:
        info, _ = jax.vmap(env.evaluate, (0, 0, None))(channels, actions, params)
        return compute_reward(truth, info)

    def reward_fn(obs: jax.Array, actions: jax.Array, params) -> jax.Array:
        return true_rewards(jax.vmap(env.channels_from_observation, (0, None))(obs, params), actions, params)

    learner = make_learner(cfg, actor, LearnerParts(action_size=action_size, rewards=rewards,
                                                    reward_fn=reward_fn if differentiable else None,
                                                    bootstrap=bootstrap))
    T, B = cfg.num_envs, cfg.batch_size
    batch_settings = (cfg.env, cfg.eval_states, cfg.eval_seed, cfg.optimizer_restarts, cfg.optimizer_steps)
    eval_batch = _shared_eval_batch(*batch_settings) if shared else make_eval_batch(env, env_params, cfg)
    relocate = False
    if drift_params is not None:
        if not isinstance(env, FullDuplexEnv):
            raise ValueError("drift_params apply to the wireless FullDuplexEnv only")
        # The held-out batch of the drifted environment: the same draws, so the same states unless the
        # placement moved (hotspot), with C* and R' of the new physics.
        drifted_batch = (_shared_eval_batch(*batch_settings, _ParamsKey(drift_params)) if shared
                         else make_eval_batch(env, drift_params, cfg))
        relocate = relocates(env_params, drift_params)

    def params_at_epoch(epoch: jax.Array, hp: HParams) -> EnvParams:
        return env_params if drift_params is None else params_at(epoch, hp["drift_epoch"], env_params, drift_params)

    def transition(obs, action, reward, done, next_obs, designed, replaced):
        item = {"obs": obs, "action": action, "reward": reward, "done": done.astype(jnp.float32)}
        if bootstrap:  # next states are only read by the TD target; H = 1 never needs them
            item["next_obs"] = next_obs
        if rewards.learned:  # the reward net's regression target and the base of recomputed rewards
            item["designed"] = designed
        if explorer is not None:  # the SENPNN learns from real states only
            item["real"] = (~replaced).astype(jnp.float32)
        return item

    def init(key: jax.Array, hp: HParams) -> RunState:
        key_env, key_agent, key_run = jax.random.split(key, 3)
        obs, env_state = jax.vmap(env.reset, (0, None))(jax.random.split(key_env, T), env_params)
        example = transition(obs[0], jnp.zeros(action_size), jnp.zeros(()), jnp.zeros((), bool), obs[0],
                             jnp.zeros(()), jnp.zeros((), bool))
        key_explorer = jax.random.fold_in(key, _STREAM_NETS)
        return RunState(agent=learner.init(key_agent, obs, hp), buffer=init_buffer(example, cfg.buffer_size),
                        env_state=env_state, obs=obs, key=key_run, epoch=jnp.zeros((), jnp.int32),
                        explorer=None if explorer is None else explorer.init(key_explorer, hp))

    def update(agent: AgentState, explorer_state, buffer: ReplayBuffer, key: jax.Array, hp: HParams,
               params: EnvParams):
        key_sample, key_learner = jax.random.split(key)
        n = learner.batches_per_update
        batches = jax.tree.map(lambda x: x.reshape((n, B) + x.shape[1:]), sample_batch(buffer, key_sample, n * B))
        agent, metrics = learner.update(agent, batches, key_learner, hp, params)
        if explorer is not None:
            first = jax.tree.map(lambda x: x[0], batches)
            explorer_state, explorer_metrics = explorer.update(
                explorer_state, jax.random.fold_in(key, _STREAM_STATES), first["obs"], first["real"])
            metrics.update(explorer_metrics)
        return agent, explorer_state, metrics

    def skip_update(agent, explorer_state, buffer, key, hp, params):
        shapes = jax.eval_shape(update, agent, explorer_state, buffer, key, hp, params)[2]
        return agent, explorer_state, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

    def epoch_step(state: RunState, hp: HParams) -> tuple[RunState, dict[str, jax.Array]]:
        params = params_at_epoch(state.epoch, hp)  # drifted from hp['drift_epoch'] on, when configured
        if relocate:  # the placement changed: every user is placed anew at the drift epoch
            placed_obs, placed = jax.vmap(env.reset, (0, None))(
                jax.random.split(jax.random.fold_in(state.key, _STREAM_DRIFT), T), params)
            at_drift = state.epoch == hp["drift_epoch"]
            state = state.replace(obs=jnp.where(at_drift, placed_obs, state.obs),
                                  env_state=jax.tree.map(lambda p, e: jnp.where(at_drift, p, e), placed,
                                                         state.env_state))
        key, key_act, key_explore, key_env, key_update = jax.random.split(state.key, 5)
        obs, explorer_state, metrics = state.obs, state.explorer, {}
        if explorer is not None:  # Algorithm 1: the agent sees s^ instead of s with probability chi
            obs, replaced, explorer_state, metrics = explorer.substitute(
                explorer_state, jax.random.fold_in(state.key, _STREAM_STATES), state.obs, state.epoch, hp)
        actions = actor.act(state.agent.actor_params, key_act, obs)
        noise_std = noise_std_at(state.epoch.astype(jnp.float32), hp)
        executed = explore(cfg.exploration, key_explore, actions, hp["epsilon"], noise_std)
        next_obs, env_state, info, done, extra = jax.vmap(env.step, (0, 0, 0, None))(
            jax.random.split(key_env, T), state.env_state, executed, params)
        if explorer is not None:  # a replaced state's C and R' come from its own (generated) channels
            metrics["real_sum_rate"] = info.sum_rate.mean()
            channels = jax.vmap(env.channels_from_observation, (0, None))(obs, params)
            generated_info, _ = jax.vmap(env.evaluate, (0, 0, None))(channels, executed, params)
            info = jax.tree.map(lambda g, r: jnp.where(replaced.reshape((T,) + (1,) * (r.ndim - 1)), g, r),
                                generated_info, info)
        else:
            replaced = jnp.zeros((T,), bool)
        reward, term, reward_state = rewards.collect(
            state.agent.reward, jax.random.fold_in(state.key, _STREAM_REWARD), obs, executed, info, hp)
        if term is not None:
            metrics.update(learned_term_mean=term.mean(), learned_term_std=term.std())
        buffer = add_batch(state.buffer, transition(obs, executed, reward, done, next_obs,
                                                    info.sum_rate - info.upper_bound, replaced))
        agent, explorer_state, update_metrics = jax.lax.cond(
            can_sample(buffer, B), update, skip_update, state.agent.replace(reward=reward_state), explorer_state,
            buffer, key_update, hp, params)
        metrics = {"sum_rate": info.sum_rate.mean(), "reward": reward.mean(), "upper_bound": info.upper_bound.mean(),
                   "nonfinite_actions": extra["nonfinite_action"].sum(), "noise_std": noise_std, **metrics,
                   **update_metrics}
        if drift_params is not None:
            metrics["drifted"] = (state.epoch >= hp["drift_epoch"]).astype(jnp.float32)
        return RunState(agent, buffer, env_state, next_obs, key, state.epoch + 1, explorer_state), metrics

    def diagnostics(agent: AgentState, obs: jax.Array, actions: jax.Array, channels, params) -> dict[str, jax.Array]:
        """Ground truth for the critic (DESIGN §10): the cosine between the action gradients of the learner's
        value and of the true reward at the policy's actions, and the value's RMS error against the true
        reward in units of that reward's std over the batch. NaN for a learner without a value (apg)."""
        if learner.value is None:
            nan = jnp.full((), jnp.nan)
            return {"eval_critic_alignment": nan, "eval_critic_error": nan}
        true, true_grad = _rows_and_action_grads(lambda a: true_rewards(channels, a, params), actions)
        value, value_grad = _rows_and_action_grads(lambda a: learner.value(agent, obs, a), actions)
        tiny = jnp.finfo(jnp.float32).tiny
        cosine = jnp.sum(value_grad * true_grad, -1) / jnp.maximum(
            jnp.linalg.norm(value_grad, axis=-1) * jnp.linalg.norm(true_grad, axis=-1), tiny)
        error = jnp.sqrt(jnp.mean((value - true) ** 2)) / jnp.maximum(jnp.std(true), tiny)
        return {"eval_critic_alignment": jnp.mean(cosine), "eval_critic_error": error}

    def evaluate(agent: AgentState, key: jax.Array, epoch: jax.Array | None = None,
                 hp: HParams | None = None) -> dict[str, jax.Array]:
        """Policy sum rate without exploration on the held-out batch, its ratios to C* and R', and the
        critic's ground-truth diagnostics. With a drift configured and `epoch`, `hp` given: in the
        environment of `epoch` (the next to be played, so right after a drift the old policy meets the new
        environment), against that environment's C*."""
        batch, params = eval_batch, env_params
        if drift_params is not None and epoch is not None:
            batch, params = params_at(epoch, hp["drift_epoch"], (eval_batch, env_params), (drifted_batch, drift_params))
        actions = actor.act(agent.actor_params, key, batch.obs)
        info, _ = jax.vmap(env.evaluate, (0, 0, None))(batch.channels, actions, params)
        rate = info.sum_rate.mean()
        optimum, bound = batch.optimum.mean(), batch.bound.mean()
        return {"eval_sum_rate": rate, "eval_ratio_to_optimizer": rate / optimum, "eval_ratio_to_bound": rate / bound,
                **diagnostics(agent, batch.obs, actions, batch.channels, params)}

    def run_chunk(state: RunState, hp: HParams):
        def period(state, _):
            state, epoch_metrics = jax.lax.scan(lambda s, _: epoch_step(s, hp), state, None, length=cfg.eval_every)
            eval_metrics = evaluate(state.agent, jax.random.fold_in(state.key, 1), state.epoch, hp)
            return state, (epoch_metrics, {**eval_metrics, "eval_epoch": state.epoch})

        periods = cfg.chunk_epochs // cfg.eval_every
        state, (epoch_metrics, eval_metrics) = jax.lax.scan(period, state, None, length=periods)
        epoch_metrics = jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), epoch_metrics)
        return state, (epoch_metrics, eval_metrics)

    def train(key: jax.Array, hp: HParams):
        state, (epoch_metrics, eval_metrics) = jax.lax.scan(
            lambda s, _: run_chunk(s, hp), init(key, hp), None, length=cfg.num_chunks)
        flatten = functools.partial(jax.tree.map, lambda x: x.reshape((-1,) + x.shape[2:]))
        return state, (flatten(epoch_metrics), flatten(eval_metrics))

    return TrainFns(init=init, epoch_step=epoch_step, run_chunk=run_chunk, train=train, evaluate=evaluate,
                    eval_batch=eval_batch, layers=learner.layers(eval_batch.obs), compiled={})
