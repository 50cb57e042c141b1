"""The compiled training loop (Algorithm 2, DESIGN §5, §8, §9), PureJaxRL style.

    fns = make_train(cfg)                       # cfg: static TrainConfig
    state = fns.init(key, hparams)              # hparams: traced dict (see `hparams_to_arrays`)
    state, (epoch_metrics, eval_metrics) = fns.run_chunk(state, hparams)    # cfg.chunk_epochs epochs
    epoch_metrics, eval_metrics = fns.train(key, hparams)                   # all cfg.num_epochs

One epoch: with state exploration, each environment's state is replaced by a SENPNN sample with
probability chi (Algorithm 1); the actor acts on the states it sees, exploration perturbs the
executed actions, the environments step, the transitions (with the reward of the chosen design,
DESIGN §6) enter the device replay buffer, and, once the buffer holds a batch, every network
(critics, actor, reward network, SENPNN) is updated once. Every function is pure:
`jax.jit(jax.vmap(fns.train))(keys, stacked_hparams)` trains N runs (seeds x traced hyperparameter
points, e.g. a grid of M and eta) in one program.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from d2rl_jax import references
from d2rl_jax.agents import DoubleCritic, RewardModel, RewardState, actor_loss, critic_loss, explore, make_actor
from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.drift import params_at, relocates
from d2rl_jax.env import Channels, EnvParams, EnvState, FullDuplexEnv
from d2rl_jax.metrics import layer_gradient_magnitudes, layer_names
from d2rl_jax.optim import apply_gradients, init_optimizer
from d2rl_jax.replay import ReplayBuffer, add_batch, can_sample, init_buffer, sample_batch
from d2rl_jax.state_exploration import ExplorerState, StateExplorer, StateNormalizer, fit_normalizer

HParams = dict[str, jax.Array]


def hparams_to_arrays(hp: HyperParams) -> HParams:
    return {k: jnp.asarray(v, jnp.float32) for k, v in hp.to_dict().items()}


def stack_hparams(hps: list[HyperParams]) -> HParams:
    """A run axis of hyperparameters: each leaf (N,), for `jax.vmap` over runs."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *[hparams_to_arrays(hp) for hp in hps])


@struct.dataclass
class AgentState:
    actor_params: Any
    critic_params: Any
    actor_opt: Any
    critic_opt: Any
    target_actor_params: Any  # None when the horizon is 1: no TD bootstrap, no targets
    target_critic_params: Any
    reward: RewardState | None = None  # the reward network of a learned design (DESIGN §6)


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
    """The fixed held-out states every run is evaluated on, with their references."""

    obs: jax.Array
    channels: Channels
    optimum: jax.Array  # C*(s), optimizer baseline
    bound: jax.Array  # R'(s)


class TrainFns(NamedTuple):
    init: Any
    epoch_step: Any  # (state, hparams) -> (state, per-epoch metrics): one epoch, for cost analysis
    run_chunk: Any
    train: Any
    evaluate: Any
    eval_batch: EvalBatch
    actor_layers: tuple[list[str], list[str]]  # (kernel names, bias names)
    critic_layers: tuple[list[str], list[str]]
    compiled: dict  # executables of the host driver, keyed by input shapes (see runner)


def make_eval_batch(env, env_params, cfg: TrainConfig) -> EvalBatch:
    """The held-out batch; C* and R' exist for the wireless environment only (NaN for probes)."""
    key_drop, key_opt = jax.random.split(jax.random.key(cfg.eval_seed))
    obs, channels = jax.jit(references.sample_drops, static_argnums=(0, 3))(env, env_params, key_drop,
                                                                             cfg.eval_states)
    if not isinstance(env, FullDuplexEnv):
        nan = jnp.full((cfg.eval_states,), jnp.nan)
        return EvalBatch(obs=obs, channels=channels, optimum=nan, bound=nan)
    optimum = jax.jit(functools.partial(references.optimizer_rates, num_restarts=cfg.optimizer_restarts,
                                        num_steps=cfg.optimizer_steps))(channels, env_params, key_opt)
    bound = jax.jit(references.bound_rates)(channels, env_params)
    return EvalBatch(obs=obs, channels=channels, optimum=optimum, bound=bound)


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
    return make_eval_batch(env, env.default_params if params is None else params.params, cfg)


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
    critic = DoubleCritic(hidden_dim=cfg.critic_hidden, depth=cfg.critic_depth)
    rewards = RewardModel(cfg)
    explorer = None
    if cfg.state_exploration:
        normalizer = (_default_normalizer(cfg.env, cfg.state_norm_samples) if shared
                      else fit_normalizer(env, env_params, cfg.state_norm_samples))
        explorer = StateExplorer(cfg, env.observation_size, normalizer)
    bootstrap = env.cfg.horizon > 1 if isinstance(env, FullDuplexEnv) else False
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
        key_env, key_actor, key_critic, key_run = jax.random.split(key, 4)
        key_reward, key_explorer = jax.random.split(jax.random.fold_in(key, _STREAM_NETS))
        obs, env_state = jax.vmap(env.reset, (0, None))(jax.random.split(key_env, T), env_params)
        actor_params = actor.init(key_actor, obs)
        critic_params = critic.init(key_critic, obs, jnp.zeros((T, action_size)))
        agent = AgentState(
            actor_params=actor_params,
            critic_params=critic_params,
            actor_opt=init_optimizer(actor_params, hp["actor_lr"], hp["weight_decay"]),
            critic_opt=init_optimizer(critic_params, hp["critic_lr"], hp["weight_decay"]),
            target_actor_params=actor_params if bootstrap else None,
            target_critic_params=critic_params if bootstrap else None,
            reward=rewards.init(key_reward, obs, jnp.zeros((T, action_size)), hp),
        )
        example = transition(obs[0], jnp.zeros(action_size), jnp.zeros(()), jnp.zeros((), bool), obs[0],
                             jnp.zeros(()), jnp.zeros((), bool))
        return RunState(agent=agent, buffer=init_buffer(example, cfg.buffer_size), env_state=env_state, obs=obs,
                        key=key_run, epoch=jnp.zeros((), jnp.int32),
                        explorer=None if explorer is None else explorer.init(key_explorer, hp))

    def update(agent: AgentState, explorer_state, buffer: ReplayBuffer, key: jax.Array, hp: HParams):
        key_sample, key_actor, key_target = jax.random.split(key, 3)
        key_recompute, key_reward, key_senpnn = jax.random.split(jax.random.fold_in(key, _STREAM_NETS), 3)
        batch = sample_batch(buffer, key_sample, B)
        targets = batch["reward"]
        if rewards.learned and cfg.reward_at_sampling:
            targets, _ = rewards.shaped(agent.reward, key_recompute, batch["obs"], batch["action"], batch["designed"],
                                        hp)
        if bootstrap:
            next_actions = actor.act(agent.target_actor_params, key_target, batch["next_obs"])
            q1, q2 = critic.apply(agent.target_critic_params, batch["next_obs"], next_actions)
            targets = targets + hp["gamma"] * (1.0 - batch["done"]) * jnp.minimum(q1, q2)
        targets = jax.lax.stop_gradient(targets)

        (c_loss, q_mean), c_grads = jax.value_and_grad(
            lambda p: critic_loss(critic.apply, p, batch["obs"], batch["action"], targets), has_aux=True,
        )(agent.critic_params)
        critic_params, critic_opt = apply_gradients(agent.critic_params, c_grads, agent.critic_opt)

        (a_loss, policy_q), a_grads = jax.value_and_grad(
            lambda p: actor_loss(actor.act, critic.apply, p, critic_params, key_actor, batch["obs"]), has_aux=True,
        )(agent.actor_params)
        actor_params, actor_opt = apply_gradients(agent.actor_params, a_grads, agent.actor_opt)

        target_actor, target_critic = agent.target_actor_params, agent.target_critic_params
        if bootstrap:  # soft updates, eq. (24)
            target_actor = optax.incremental_update(actor_params, target_actor, hp["tau"])
            target_critic = optax.incremental_update(critic_params, target_critic, hp["tau"])
        actor_w, actor_b = layer_gradient_magnitudes(a_grads)
        critic_w, critic_b = layer_gradient_magnitudes(c_grads)
        metrics = {"critic_loss": c_loss, "actor_loss": a_loss, "q_mean": q_mean, "updated": jnp.ones(()),
                   "actor_grad_weight": actor_w, "actor_grad_bias": actor_b,
                   "critic_grad_weight": critic_w, "critic_grad_bias": critic_b,
                   "actor_grad_weight_sum": actor_w.sum(), "actor_grad_bias_sum": actor_b.sum(),
                   "critic_grad_weight_sum": critic_w.sum(), "critic_grad_bias_sum": critic_b.sum()}

        reward_state = agent.reward
        if rewards.learned:  # A(s, a) = minQ(s, a) - minQ(s, pi(s)) under the updated critic
            q1, q2 = critic.apply(critic_params, batch["obs"], batch["action"])
            advantage = jax.lax.stop_gradient(jnp.minimum(q1, q2) - policy_q)
            reward_state, reward_metrics = rewards.update(agent.reward, key_reward, batch["obs"], batch["action"],
                                                          batch["designed"], advantage, hp)
            metrics.update(reward_metrics)
        if explorer is not None:
            explorer_state, explorer_metrics = explorer.update(explorer_state, key_senpnn, batch["obs"], batch["real"])
            metrics.update(explorer_metrics)
        new_agent = AgentState(actor_params, critic_params, actor_opt, critic_opt, target_actor, target_critic,
                               reward_state)
        return new_agent, explorer_state, metrics

    def skip_update(agent, explorer_state, buffer, key, hp):
        shapes = jax.eval_shape(update, agent, explorer_state, buffer, key, hp)[2]
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
        executed = explore(cfg.exploration, key_explore, actions, hp["epsilon"], hp["noise_std"])
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
            buffer, key_update, hp)
        metrics = {"sum_rate": info.sum_rate.mean(), "reward": reward.mean(), "upper_bound": info.upper_bound.mean(),
                   "nonfinite_actions": extra["nonfinite_action"].sum(), **metrics, **update_metrics}
        if drift_params is not None:
            metrics["drifted"] = (state.epoch >= hp["drift_epoch"]).astype(jnp.float32)
        return RunState(agent, buffer, env_state, next_obs, key, state.epoch + 1, explorer_state), metrics

    def evaluate(actor_params, key: jax.Array, epoch: jax.Array | None = None,
                 hp: HParams | None = None) -> dict[str, jax.Array]:
        """Policy sum rate without exploration on the held-out batch, and its ratios to C* and R'. With a
        drift configured and `epoch`, `hp` given: in the environment of `epoch` (the next to be played, so
        right after a drift the old policy meets the new environment), against that environment's C*."""
        batch, params = eval_batch, env_params
        if drift_params is not None and epoch is not None:
            batch, params = params_at(epoch, hp["drift_epoch"], (eval_batch, env_params), (drifted_batch, drift_params))
        actions = actor.act(actor_params, key, batch.obs)
        info, _ = jax.vmap(env.evaluate, (0, 0, None))(batch.channels, actions, params)
        rate = info.sum_rate.mean()
        optimum, bound = batch.optimum.mean(), batch.bound.mean()
        return {"eval_sum_rate": rate, "eval_ratio_to_optimizer": rate / optimum, "eval_ratio_to_bound": rate / bound}

    def run_chunk(state: RunState, hp: HParams):
        def period(state, _):
            state, epoch_metrics = jax.lax.scan(lambda s, _: epoch_step(s, hp), state, None, length=cfg.eval_every)
            eval_metrics = evaluate(state.agent.actor_params, jax.random.fold_in(state.key, 1), state.epoch, hp)
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

    example_state = jax.eval_shape(init, jax.random.key(0), hparams_to_arrays(HyperParams()))
    return TrainFns(init=init, epoch_step=epoch_step, run_chunk=run_chunk, train=train, evaluate=evaluate,
                    eval_batch=eval_batch, actor_layers=layer_names(example_state.agent.actor_params),
                    critic_layers=layer_names(example_state.agent.critic_params), compiled={})
