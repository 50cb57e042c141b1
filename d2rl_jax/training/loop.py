"""The compiled training loop (Algorithm 2, DESIGN §5, §8, §9), PureJaxRL style.

    fns = make_train(cfg)                       # cfg: static TrainConfig
    state = fns.init(key, hp)                   # hp: HyperParams of arrays (`hp.arrays()`, `stack_hparams`)
    state, (epoch_metrics, eval_metrics) = fns.run_chunk(state, hp)    # cfg.chunk_epochs epochs
    state, (epoch_metrics, eval_metrics) = fns.train(key, hp)          # all cfg.num_epochs

One epoch: (a drift's parameters) -> (state exploration: the agent sees a SENPNN sample instead of a state with
probability chi, Algorithm 1) -> the actor acts -> exploration perturbs the executed actions -> the environments
step -> the reward of the configured design (DESIGN §6) -> the transitions enter the device replay buffer ->
once it holds a batch, the learner (`d2rl_jax.learners`, DESIGN §10) updates from `batches_per_update` replay
batches, and the SENPNN from one. Drift and state exploration are components with a do-nothing form, so the
epoch has no feature branch. Every `eval_every` epochs the greedy policy is evaluated on the held-out batch
(`d2rl_jax.training.evaluation`). Every function is pure: `jax.jit(jax.vmap(fns.train))(keys, stacked_hp)`
trains N runs (seeds x traced points, e.g. a grid of M and eta) in one program.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from d2rl_jax.agents import RewardModel, compute_reward, explore, make_actor, noise_std_at
from d2rl_jax.config import COMPUTED_REWARD_DESIGNS, HyperParams, TrainConfig
from d2rl_jax.core.gradient_metrics import Layer
from d2rl_jax.core.replay import ReplayBuffer, add_batch, can_sample, gather, init_buffer, sample_indices, write_at
from d2rl_jax.env import RewardInfo, make_env
from d2rl_jax.learners import LearnerParts, make_learner
from d2rl_jax.training.drift import Drift, NoDrift
from d2rl_jax.training.evaluation import EvalBatch, check_eval_mode, held_out_batch, make_evaluate
from d2rl_jax.training.state_exploration import make_state_exploration


def hparams_to_arrays(hp: HyperParams) -> HyperParams:
    return hp.arrays()


def stack_hparams(hps: list[HyperParams]) -> HyperParams:
    """A run axis of hyperparameters: each leaf (N,), for `jax.vmap` over runs."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *[hp.arrays() for hp in hps])


def seed_keys(seeds) -> jax.Array:
    """A run axis of PRNG keys, one per seed (the runs' `init` keys)."""
    return jnp.stack([jax.random.key(int(s)) for s in seeds])


@struct.dataclass
class RunState:
    agent: Any  # the learner's own state (d2rl_jax/learners/base.py: it holds `actor` and `reward`)
    buffer: ReplayBuffer
    env_state: Any  # batched over the num_envs environments
    obs: jax.Array  # (num_envs, S) real states
    key: jax.Array
    epoch: jax.Array  # () int32, epochs completed
    explorer: Any = None  # state exploration's state (Algorithm 1), None when off


class TrainFns(NamedTuple):
    init: Callable
    epoch_step: Callable  # (state, hp) -> (state, per-epoch metrics): one epoch, for cost analysis
    run_chunk: Callable
    train: Callable
    evaluate: Callable
    eval_batch: EvalBatch
    layers: dict[str, tuple[Layer, ...]]  # network -> its Dense layers in forward order (the gradient metrics')
    compiled: dict  # executables of the host driver, keyed by input shapes (see d2rl_jax.run.runner)
    env: Any  # the environment the runs play
    has_critic: bool  # whether the learner has a value to diagnose (alignment and error are NaN otherwise)


# Streams of the optional parts come from `fold_in`, never from extra `split`s, so enabling a part leaves every
# number the base agent draws unchanged (with M = 0 a state-exploration run is bit-identical to one without it).
_STREAM_REWARD, _STREAM_STATES, _STREAM_NETS = 3, 5, 7


def holds_nonfinite(tree: Any) -> jax.Array:
    """() bool: whether a floating leaf of `tree` holds a NaN or an infinity. On the learner's parameters and
    optimizer states after an update it detects divergence (a non-finite loss reaches them through its gradient),
    at the cost of one reduction over the parameters per epoch."""
    leaves = [x for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.logical_not(jnp.stack([jnp.isfinite(x).all() for x in leaves]).all()) if leaves \
        else jnp.zeros((), bool)


def make_train(cfg: TrainConfig, env=None, env_params: Any = None, drift_params: Any = None) -> TrainFns:
    """`env` defaults to `make_env(cfg.env)`; any environment with the contract of d2rl_jax/env/base.py works
    (e.g. `d2rl_jax.env.probe.ProbeEnv`, which ignores cfg.env). With `drift_params` the environment plays them
    from epoch `hp.drift_epoch` on (traced), and the held-out evaluation uses the parameters of the epoch it
    precedes, with its references recomputed for them."""
    configured = env is None and env_params is None  # cfg.env with its own parameters: fixed batches shared in-process
    given = env
    env = make_env(cfg.env) if env is None else env
    env_params = env.default_params if env_params is None else env_params
    actor, rewards = make_actor(cfg, env.action_size), RewardModel(cfg)
    # The ground truth the diagnostics (and `apg`) differentiate: the computed part of the design (a learned
    # design's is C - R'), evaluated on the channels each observation encodes.
    truth_design = cfg.reward if cfg.reward in COMPUTED_REWARD_DESIGNS else "designed"

    def true_rewards(channels, actions: jax.Array, params) -> jax.Array:
        return compute_reward(truth_design, jax.vmap(env.evaluate, (0, 0, None))(channels, actions, params)[0])

    def reward_fn(obs: jax.Array, actions: jax.Array, params) -> jax.Array:
        return true_rewards(jax.vmap(env.channels_from_observation, (0, None))(obs, params), actions, params)

    differentiable = env.differentiable_reward
    learner = make_learner(cfg, actor, LearnerParts(action_size=env.action_size, rewards=rewards,
                                                    reward_fn=reward_fn if differentiable else None,
                                                    bootstrap=env.horizon > 1))
    states = make_state_exploration(cfg, env, env_params, configured)
    num_envs, B = cfg.num_envs, cfg.batch_size
    eval_batch = held_out_batch(cfg, given, None if configured else env_params)
    drift = NoDrift(env_params) if drift_params is None else Drift(env, env_params, drift_params, num_envs)
    drifted_batch = eval_batch if drift_params is None else held_out_batch(cfg, given, drift_params)
    check_eval_mode(cfg, learner)
    evaluate = make_evaluate(env, actor, learner, true_rewards if differentiable else None,
                             lambda epoch, hp: drift.select(epoch, hp, (eval_batch, env_params),
                                                            (drifted_batch, drift_params)),
                             cfg.eval_mode, cfg.eval_samples, cfg.eval_all_modes)

    def transition(obs, action, reward, done, next_obs, reward_info: RewardInfo, replaced):
        item = {"obs": obs, "action": action, "reward": reward, "done": done.astype(jnp.float32),
                **{field: action for field in learner.relabeled_fields}}
        if env.horizon > 1:  # next states are only read by the TD target; horizon 1 never needs them
            item["next_obs"] = next_obs
        return {**item, **rewards.transition_fields(reward_info), **states.transition_fields(replaced)}

    def init(key: jax.Array, hp: HyperParams) -> RunState:
        key_env, key_agent, key_run = jax.random.split(key, 3)
        obs, env_state = jax.vmap(env.reset, (0, None))(jax.random.split(key_env, num_envs), env_params)
        zero = jnp.zeros(())
        example = transition(obs[0], jnp.zeros(env.action_size), zero, jnp.zeros((), bool), obs[0],
                             RewardInfo(zero, zero, None), jnp.zeros((), bool))
        return RunState(agent=learner.init(key_agent, obs, hp), buffer=init_buffer(example, cfg.buffer_size),
                        env_state=env_state, obs=obs, key=key_run, epoch=jnp.zeros((), jnp.int32),
                        explorer=states.init(jax.random.fold_in(key, _STREAM_NETS), hp))

    relabels = bool(learner.relabeled_fields)

    def update(agent, explorer, buffer: ReplayBuffer, key: jax.Array, hp: HyperParams, params):
        key_sample, key_learner = jax.random.split(key)
        n = learner.batches_per_update
        indices = sample_indices(buffer, key_sample, n * B).reshape(n, B)
        batches = gather(buffer, indices)
        relabeled = None  # the buffer leaves the update only when it was written (no copy of it otherwise)
        if relabels:  # the learner rewrites stored fields at these slots (Learner.relabeled_fields)
            agent, metrics, rewritten = learner.update(agent, {**batches, "index": indices}, key_learner, hp, params)
            relabeled = write_at(buffer, rewritten.pop("index"), rewritten)
        else:
            agent, metrics = learner.update(agent, batches, key_learner, hp, params)
        explorer, explorer_metrics = states.update(explorer, jax.random.fold_in(key, _STREAM_STATES),
                                                   jax.tree.map(lambda x: x[0], batches))
        return agent, explorer, relabeled, {**metrics, **explorer_metrics}

    def skip_update(agent, explorer, buffer, key, hp, params):  # warm-up: the buffer holds less than a batch
        shapes = jax.eval_shape(update, agent, explorer, buffer, key, hp, params)[3]
        return agent, explorer, buffer if relabels else None, jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype),
                                                                            shapes)

    def epoch_step(state: RunState, hp: HyperParams) -> tuple[RunState, dict[str, jax.Array]]:
        params = drift.params_at(state.epoch, hp)
        obs, env_state = drift.place_users(state.key, state.epoch, state.obs, state.env_state, hp)
        key, key_act, key_explore, key_env, key_update = jax.random.split(state.key, 5)
        seen, replaced, explorer, state_metrics = states.substitute(
            state.explorer, jax.random.fold_in(state.key, _STREAM_STATES), obs, state.epoch, hp)
        noise_std = noise_std_at(state.epoch.astype(jnp.float32), hp)
        executed = explore(cfg.exploration, key_explore,
                           actor.act(state.agent.actor.params, key_act, seen, hp.action_temperature),
                           hp.epsilon, noise_std)
        next_obs, env_state, reward_info, done, info = jax.vmap(env.step, (0, 0, 0, None))(
            jax.random.split(key_env, num_envs), env_state, executed, params)
        reward_info, seen_metrics = states.evaluate_seen(reward_info, seen, executed, replaced, params)
        reward, reward_state, reward_metrics = rewards.collect(
            state.agent.reward, jax.random.fold_in(state.key, _STREAM_REWARD), seen, executed, reward_info, hp)
        buffer = add_batch(state.buffer, transition(seen, executed, reward, done, next_obs, reward_info, replaced))
        agent, explorer, relabeled, update_metrics = jax.lax.cond(
            can_sample(buffer, B), update, skip_update, state.agent.replace(reward=reward_state), explorer, buffer,
            key_update, hp, params)
        buffer = buffer if relabeled is None else relabeled
        metrics = {"sum_rate": reward_info.sum_rate.mean(), "reward": reward.mean(),
                   "upper_bound": reward_info.upper_bound.mean(), "nonfinite_actions": info["nonfinite_action"].sum(),
                   "noise_std": noise_std, "nonfinite_state": holds_nonfinite((agent, explorer)).astype(jnp.int32),
                   **state_metrics, **seen_metrics, **reward_metrics, **update_metrics,
                   **drift.metrics(state.epoch, hp)}
        return RunState(agent, buffer, env_state, next_obs, key, state.epoch + 1, explorer), metrics

    def run_chunk(state: RunState, hp: HyperParams):
        def period(state, _):
            state, epoch_metrics = jax.lax.scan(lambda s, _: epoch_step(s, hp), state, None, length=cfg.eval_every)
            eval_metrics = evaluate(state.agent, jax.random.fold_in(state.key, 1), state.epoch, hp)
            return state, (epoch_metrics, {**eval_metrics, "eval_epoch": state.epoch})

        state, (epoch_metrics, eval_metrics) = jax.lax.scan(period, state, None,
                                                            length=cfg.chunk_epochs // cfg.eval_every)
        return state, (jax.tree.map(lambda x: x.reshape((-1,) + x.shape[2:]), epoch_metrics), eval_metrics)

    def train(key: jax.Array, hp: HyperParams):
        state, (epoch_metrics, eval_metrics) = jax.lax.scan(
            lambda s, _: run_chunk(s, hp), init(key, hp), None, length=cfg.num_chunks)
        flatten = functools.partial(jax.tree.map, lambda x: x.reshape((-1,) + x.shape[2:]))
        return state, (flatten(epoch_metrics), flatten(eval_metrics))

    return TrainFns(init=init, epoch_step=epoch_step, run_chunk=run_chunk, train=train, evaluate=evaluate,
                    eval_batch=eval_batch, layers=learner.layers(eval_batch.obs), compiled={}, env=env,
                    has_critic=learner.has_critic)
