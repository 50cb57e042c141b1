"""GDM-based state exploration (Algorithm 1, DESIGN §7): the SENPNN, the substitute probability chi.

Every epoch, for the num_envs parallel environments' real states s:
  1. chi <- min(chi + eta, M) if the gate quantity < T (Algorithm 1), using the gate measured so far;
  2. s^ = Mode II regeneration of s by the SENPNN (noise to step p0, denoise back), in normalized units;
  3. each environment's state is replaced by s^ with probability chi (non-finite s^ never are);
  4. the gate quantity is updated: an EMA of the reconstruction MSE between s and s^ (normalized
     units, default) or of the SENPNN's eps-MSE training loss (`state_gate="eps_loss"`).
The SENPNN is an unconditional DDPM over normalized observations, trained once per epoch on a
replay batch with the eps-MSE loss (22), on the batch's real states only (generated states in the
buffer are masked out, so the model never learns from its own samples).

The normalization is fixed per feature from `state_norm_samples` uniform drops (deterministic, the
same for every run), so the SENPNN's target distribution never moves. M, eta and T are traced
hyperparameters (`max_replace_prob`, `replace_rate`, `gate_threshold`): a grid of them is one
vmapped program.

In the loop it is a component (`make_state_exploration`): `StateExploration` substitutes states, evaluates
the actions taken on generated states with the environment, marks which stored states are real and trains
the SENPNN; with state exploration off, `NoStateExploration` offers the same calls and does nothing.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import chex
import jax
import jax.numpy as jnp
from flax import struct

from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.core.gradient_metrics import forward_layers, gradient_sums, layer_gradient_magnitudes
from d2rl_jax.core.optim import apply_gradients, init_optimizer
from d2rl_jax.diffusion import DiffusionModel
from d2rl_jax.env import make_env, sample_states


class StateNormalizer(NamedTuple):
    mean: jax.Array  # (S,)
    std: jax.Array  # (S,)

    def normalize(self, obs: jax.Array) -> jax.Array:
        return (obs - self.mean) / self.std

    def denormalize(self, z: jax.Array) -> jax.Array:
        return z * self.std + self.mean


def fit_normalizer(env, env_params, num_samples: int, seed: int = 0) -> StateNormalizer:
    """Per-feature mean and std of `num_samples` uniform drops (constant features get std 1)."""
    obs, _ = jax.jit(sample_states, static_argnums=(0, 3))(env, env_params, jax.random.key(seed), num_samples)
    std = jnp.std(obs, axis=0)
    return StateNormalizer(mean=jnp.mean(obs, axis=0), std=jnp.where(std > 1e-6, std, 1.0))


@struct.dataclass
class ExplorerState:
    params: Any
    opt: Any
    chi: jax.Array  # () substitute probability
    gate: jax.Array  # () EMA of the gate quantity; +inf until first measured
    loss_ema: jax.Array  # () EMA of the eps-MSE training loss (the gate itself when state_gate="eps_loss")
    rise_epoch: jax.Array  # () int32: the epoch at which chi first left 0, -1 until then


def advance_chi(chi: jax.Array, gate: jax.Array, hp: HyperParams) -> jax.Array:
    """Algorithm 1: chi <- min(chi + eta, M) when the gate quantity is below T."""
    return jnp.where(gate < hp.gate_threshold, jnp.minimum(chi + hp.replace_rate, hp.max_replace_prob), chi)


def _ema(previous: jax.Array, value: jax.Array, decay: float) -> jax.Array:
    return jnp.where(jnp.isinf(previous), value, decay * previous + (1.0 - decay) * value)


class StateExplorer:
    def __init__(self, cfg: TrainConfig, observation_size: int, normalizer: StateNormalizer):
        chex.assert_shape([normalizer.mean, normalizer.std], (observation_size,))
        self.model = DiffusionModel(observation_size, cfg.diffusion.replace(  # the hard clip, as the RENPNN's
            hidden_dim=cfg.senpnn_hidden, depth=cfg.senpnn_depth, clip_x0=cfg.senpnn_clip, x0_bound="clip"))
        self.normalizer = normalizer
        self.start_step = cfg.state_start_step
        self.gate_kind = cfg.state_gate
        self.decay = cfg.gate_ema_decay

    def init(self, key: jax.Array, hp: HyperParams) -> ExplorerState:
        params = self.model.init(key)
        return ExplorerState(params=params, opt=init_optimizer(params, hp.senpnn_lr, hp.weight_decay),
                             chi=jnp.zeros((), jnp.float32), gate=jnp.full((), jnp.inf, jnp.float32),
                             loss_ema=jnp.full((), jnp.inf, jnp.float32), rise_epoch=jnp.full((), -1, jnp.int32))

    def layers(self):
        """The SENPNN's Dense layers in forward order (`metrics.forward_layers`)."""
        return forward_layers(self.model.init, jax.random.key(0))

    def regenerate(self, params, key: jax.Array, obs: jax.Array) -> tuple[jax.Array, jax.Array]:
        """(s^ in observation units, per-row reconstruction MSE in normalized units)."""
        z = self.normalizer.normalize(obs)
        z_hat = self.model.regenerate(params, key, z, self.start_step)
        return self.normalizer.denormalize(z_hat), jnp.mean((z_hat - z) ** 2, axis=-1)

    def substitute(self, state: ExplorerState, key: jax.Array, obs: jax.Array, epoch: jax.Array, hp: HyperParams
                   ) -> tuple[jax.Array, jax.Array, ExplorerState, dict[str, jax.Array]]:
        """One epoch of Algorithm 1 on the real states `obs` (num_envs, S): (states the agent sees, replaced (num_envs,)
        bool, new state, metrics)."""
        key_generate, key_replace = jax.random.split(key)
        chi = advance_chi(state.chi, state.gate, hp)
        generated, reconstruction = self.regenerate(state.params, key_generate, obs)
        finite = jnp.all(jnp.isfinite(generated), axis=-1)
        replaced = jax.random.bernoulli(key_replace, chi, obs.shape[:-1]) & finite
        used = jnp.where(replaced[:, None], generated, obs)
        gate = state.gate
        if self.gate_kind == "reconstruction":
            gate = _ema(gate, jnp.mean(reconstruction), self.decay)
        rise_epoch = jnp.where((state.rise_epoch < 0) & (chi > 0), epoch, state.rise_epoch)
        metrics = {"chi": chi, "replacements": replaced.sum(), "gate": gate,
                   "reconstruction_mse": jnp.mean(reconstruction), "nonfinite_generated": (~finite).sum()}
        return used, replaced, state.replace(chi=chi, gate=gate, rise_epoch=rise_epoch), metrics

    def update(self, state: ExplorerState, key: jax.Array, obs: jax.Array, real: jax.Array
               ) -> tuple[ExplorerState, dict[str, jax.Array]]:
        """One AdamW step of the eps-MSE loss (22) on a replay batch; `real` (B,) masks generated rows out."""
        z = self.normalizer.normalize(obs)
        loss, grads = jax.value_and_grad(self.model.loss)(state.params, key, z, None, real.astype(jnp.float32))
        params, opt = apply_gradients(state.params, grads, state.opt)
        loss_ema = _ema(state.loss_ema, loss, self.decay)
        gate = loss_ema if self.gate_kind == "eps_loss" else state.gate
        grad_weight, grad_bias = gradient_sums(*layer_gradient_magnitudes(grads, self.layers()))
        metrics = {"senpnn_loss": loss, "senpnn_loss_ema": loss_ema, "senpnn_grad_weight_sum": grad_weight,
                   "senpnn_grad_bias_sum": grad_bias}
        return state.replace(params=params, opt=opt, gate=gate, loss_ema=loss_ema), metrics


class NoStateExploration:
    """State exploration off: the agent sees the real states; nothing is generated, stored apart or trained."""

    def init(self, key: jax.Array, hp: HyperParams) -> None:
        return None

    def substitute(self, state: None, key: jax.Array, obs: jax.Array, epoch: jax.Array, hp: HyperParams):
        return obs, jnp.zeros(obs.shape[:1], bool), state, {}

    def evaluate_seen(self, reward_info, obs: jax.Array, actions: jax.Array, replaced: jax.Array, params: Any):
        return reward_info, {}

    def transition_fields(self, replaced: jax.Array) -> dict[str, jax.Array]:
        return {}

    def update(self, state: None, key: jax.Array, batch: dict[str, jax.Array]) -> tuple[None, dict[str, jax.Array]]:
        return state, {}


class StateExploration(NoStateExploration):
    """Algorithm 1 in the loop, around a `StateExplorer` and the environment that scores generated states."""

    def __init__(self, explorer: StateExplorer, env):
        self.explorer, self.env = explorer, env

    def init(self, key: jax.Array, hp: HyperParams) -> ExplorerState:
        return self.explorer.init(key, hp)

    def substitute(self, state: ExplorerState, key: jax.Array, obs: jax.Array, epoch: jax.Array, hp: HyperParams):
        """(the states the agent sees: s^ instead of s with probability chi, replaced (num_envs,), state, metrics)."""
        return self.explorer.substitute(state, key, obs, epoch, hp)

    def evaluate_seen(self, reward_info, obs: jax.Array, actions: jax.Array, replaced: jax.Array, params: Any):
        """The reward information of the states the agent saw: a replaced state's C and R' come from its own
        (generated) channels; `real_sum_rate` keeps the real environment's."""
        channels = jax.vmap(self.env.channels_from_observation, (0, None))(obs, params)
        generated, _ = jax.vmap(self.env.evaluate, (0, 0, None))(channels, actions, params)
        seen = jax.tree.map(lambda g, r: jnp.where(replaced.reshape(replaced.shape + (1,) * (r.ndim - 1)), g, r),
                            generated, reward_info)
        return seen, {"real_sum_rate": reward_info.sum_rate.mean()}

    def transition_fields(self, replaced: jax.Array) -> dict[str, jax.Array]:
        return {"real": (~replaced).astype(jnp.float32)}  # the SENPNN learns from real states only

    def update(self, state: ExplorerState, key: jax.Array, batch: dict[str, jax.Array]):
        return self.explorer.update(state, key, batch["obs"], batch["real"])


@functools.lru_cache(maxsize=8)
def _default_normalizer(env_cfg, num_samples: int) -> StateNormalizer:
    env = make_env(env_cfg)
    return fit_normalizer(env, env.default_params, num_samples)


def make_state_exploration(cfg: TrainConfig, env, env_params: Any, shared: bool) -> NoStateExploration:
    """The component of `cfg.state_exploration`. `shared`: the configured environment with its default
    parameters, whose normalization is fitted once per process."""
    if not cfg.state_exploration:
        return NoStateExploration()
    normalizer = (_default_normalizer(cfg.env, cfg.state_norm_samples) if shared
                  else fit_normalizer(env, env_params, cfg.state_norm_samples))
    return StateExploration(StateExplorer(cfg, env.observation_size, normalizer), env)
