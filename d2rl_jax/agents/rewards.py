"""Reward designs (DESIGN §6): two computed from the environment, three with a trained reward network.

- raw:          R = C
- designed:     R = C - R'(s)                          (<= 0; R' the closed-form upper bound)
- designed_mlp: R = C - R' + kappa sigma_C r~(s, a)    r~ in [-1, 1]: a 2-layer MLP with tanh output
- designed_gdm: R = C - R' + kappa sigma_C r~(s, a)    r~ a Mode I sample of the RENPNN given (s, a)
- gdm:          R = r^(s, a) = mu_R + sigma_R x^        x^ a Mode I sample of the RENPNN given (s, a)

sigma_C is a running std of the collected sum rates; mu_R, sigma_R running moments of the
collected designed rewards C - R'; sigma_A a running std of the critic's advantage. The networks learn
from replay batches (their own AdamW, lr `reward_lr`):

- designed_*: L = -E[sg(a) r~] + lambda E[r~^2], a the advantage standardized within the batch,
  A(s, a) = minQ(s, a) - minQ(s, pi(s)). The optimum is r~ = clip(a / (2 lambda), -1, 1): the term
  raises the reward of the actions the critic ranks above the batch's average and lowers it for
  the others, which amplifies the reward gap between good and bad actions.
  `reward_advantage="design"` keeps DESIGN's literal objectives (a = A; for gdm a = A / sigma_A).
- gdm: L = E[(x^ - z)^2] - kappa E[sg(a) x^], z = (C - R' - mu_R) / sigma_R: regression to
  the designed reward (so r^ stays grounded in C) tilted toward actions the critic prefers. Both
  terms are in standardized units (DESIGN writes kappa E[A r^] / sigma_A; the deviations and their
  reasons are in docs/design-notes.md).

A transition stores the reward computed when it was collected (Algorithm 2), with its designed
part C - R' beside it; `TrainConfig.reward_at_sampling` recomputes the learned part at replay time.
Learners call `replayed` (a replay batch's rewards) and `learn` (the network's step from their critic's
advantage): both are no-ops for the computed designs, so no learner branches on the design.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import chex
import jax
import jax.numpy as jnp
from flax import struct

from d2rl_jax.config import HyperParams, TrainConfig
from d2rl_jax.core.gradient_metrics import forward_layers, gradient_sums, layer_gradient_magnitudes
from d2rl_jax.core.moments import RunningMoments, init_moments, update_moments
from d2rl_jax.core.networks import MLP
from d2rl_jax.core.optim import gradient_step, init_optimizer
from d2rl_jax.diffusion import DiffusionModel
from d2rl_jax.env import RewardInfo

# The reward network's init key is a `fold_in` stream of the learner's init key: a learned design leaves every
# draw of the actor and critics as it is with a computed one.
_STREAM_REWARD_NET = 7


def compute_reward(design: str, info: RewardInfo) -> jax.Array:
    """The computed designs; the learned ones go through `RewardModel`."""
    if design == "raw":
        return info.sum_rate
    if design == "designed":
        return info.sum_rate - info.upper_bound
    raise ValueError(f"reward={design!r} is not a computed design")


@struct.dataclass
class RewardState:
    params: Any
    opt: Any
    sum_rate: RunningMoments  # sigma_C
    designed: RunningMoments  # mu_R, sigma_R of C - R'
    advantage: RunningMoments  # of the raw advantage A (metrics; sigma_A of reward_advantage="design")


class RewardModel:
    """The reward of a design as pure functions; `learned` says whether a network is trained."""

    def __init__(self, cfg: TrainConfig):
        self.design = cfg.reward
        self.learned = cfg.learned_reward
        self.advantage = cfg.reward_advantage
        self.at_sampling = cfg.reward_at_sampling
        if self.design == "designed_mlp":
            net = MLP(out_dim=1, hidden_dim=cfg.reward_hidden, depth=cfg.reward_mlp_depth, output_activation=jnp.tanh)
            self._init = lambda key, cond: net.init(key, cond)
            self._term = lambda params, key, cond: net.apply(params, cond)[..., 0]
        elif self.learned:
            clip = 1.0 if self.design == "designed_gdm" else cfg.gdm_reward_clip
            # The RENPNN keeps the hard clip whatever the actor's bound (`DiffusionConfig.x0_bound` is the actor's).
            model = DiffusionModel(1, cfg.diffusion.replace(hidden_dim=cfg.reward_hidden, depth=cfg.reward_gdm_depth,
                                                            clip_x0=clip, x0_bound="clip"))
            self._init = lambda key, cond: model.init(key, cond)
            # The final reverse step returns the clipped x0-prediction; the clip below only makes
            # the documented range exact whatever the schedule.
            self._term = lambda params, key, cond: jnp.clip(model.sample(params, key, cond)[..., 0], -clip, clip)

    def init(self, key: jax.Array, obs: jax.Array, actions: jax.Array, hp: HyperParams) -> RewardState | None:
        if not self.learned:
            return None
        params = self._init(key, jnp.concatenate([obs, actions], axis=-1))
        return RewardState(params=params, opt=init_optimizer(params, hp.reward_lr, hp.weight_decay),
                           sum_rate=init_moments(), designed=init_moments(), advantage=init_moments())

    def init_for_learner(self, learner_key: jax.Array, obs: jax.Array, action_size: int,
                         hp: HyperParams) -> RewardState | None:
        """The reward state a learner's `init` holds, from its own init key (None for a computed design)."""
        actions = jnp.zeros((obs.shape[0], action_size))
        return self.init(jax.random.fold_in(learner_key, _STREAM_REWARD_NET), obs, actions, hp)

    def layers(self, obs: jax.Array, actions: jax.Array):
        """The reward network's Dense layers in forward order (`metrics.forward_layers`)."""
        return forward_layers(self._init, jax.random.key(0), jnp.concatenate([obs, actions], axis=-1))

    def learned_term(self, params, key: jax.Array, obs: jax.Array, actions: jax.Array) -> jax.Array:
        """r~ (designed_*) or x^ (gdm), (B,)."""
        chex.assert_rank([obs, actions], 2)
        return self._term(params, key, jnp.concatenate([obs, actions], axis=-1))

    def shaped(self, state: RewardState, key: jax.Array, obs: jax.Array, actions: jax.Array, designed: jax.Array,
               hp: HyperParams) -> tuple[jax.Array, jax.Array]:
        """(reward, learned term) of a learned design, from the designed reward C - R' of each row."""
        term = self.learned_term(state.params, key, obs, actions)
        if self.design == "gdm":
            return state.designed.mean + state.designed.std * term, term
        return designed + hp.kappa * state.sum_rate.std * term, term

    def collect(self, state: RewardState | None, key: jax.Array, obs: jax.Array, actions: jax.Array,
                info: RewardInfo, hp: HyperParams) -> tuple[jax.Array, RewardState | None, dict[str, jax.Array]]:
        """(reward, state, metrics) for freshly collected transitions; the running moments take this batch
        first, so the scales exist from the first epoch on. The metrics describe the learned term."""
        if not self.learned:
            return compute_reward(self.design, info), state, {}
        designed = info.sum_rate - info.upper_bound
        state = state.replace(sum_rate=update_moments(state.sum_rate, info.sum_rate),
                              designed=update_moments(state.designed, designed))
        reward, term = self.shaped(state, key, obs, actions, designed, hp)
        return reward, state, {"learned_term_mean": term.mean(), "learned_term_std": term.std()}

    def transition_fields(self, info: RewardInfo) -> dict[str, jax.Array]:
        """What a stored transition keeps for this design: a learned one its designed reward C - R' (the
        network's regression target and the base of recomputed rewards)."""
        return {"designed": info.sum_rate - info.upper_bound} if self.learned else {}

    def loss(self, params, state: RewardState, key: jax.Array, obs: jax.Array, actions: jax.Array,
             designed: jax.Array, advantage: jax.Array, hp: HyperParams) -> jax.Array:
        term = self.learned_term(params, key, obs, actions)
        if self.advantage == "batch":
            # Standardized within the batch, not only scaled: the actor climbs the critic, so Q(s, pi(s))
            # sits above the replayed actions' values and the raw A is negative almost everywhere, which
            # drives r~ to -1 on every action; a running mean lags the drift of A and does the same for a
            # while (both measured on the quick preset, docs/design-notes.md). The batch's moments keep
            # only the critic's ranking.
            scaled_advantage = (advantage - jnp.mean(advantage)) / jnp.sqrt(jnp.var(advantage) + 1e-8)
        elif self.design == "gdm":  # DESIGN §6 as written: A / sigma_A
            scaled_advantage = advantage / state.advantage.std
        else:  # DESIGN §6 as written: the raw A
            scaled_advantage = advantage
        scaled_advantage = jax.lax.stop_gradient(scaled_advantage)
        if self.design == "gdm":
            target = jax.lax.stop_gradient((designed - state.designed.mean) / state.designed.std)
            return jnp.mean((term - target) ** 2) - hp.kappa * jnp.mean(scaled_advantage * term)
        return -jnp.mean(scaled_advantage * term) + hp.reward_l2 * jnp.mean(term**2)

    def replayed(self, state: RewardState | None, key: jax.Array, batch: dict[str, jax.Array],
                 hp: HyperParams) -> jax.Array:
        """The rewards of a replay batch: as collected, or with the learned term recomputed by the current
        network (`reward_at_sampling`)."""
        if not (self.learned and self.at_sampling):
            return batch["reward"]
        return self.shaped(state, key, batch["obs"], batch["action"], batch["designed"], hp)[0]

    def learn(self, state: RewardState | None, key: jax.Array, batch: dict[str, jax.Array],
              advantage: Callable[[], jax.Array], hp: HyperParams) -> tuple[RewardState | None, dict[str, jax.Array]]:
        """The network's step on a replay batch (`update`), with `advantage()` the learner's A(s, a) of its rows;
        nothing for a computed design (and `advantage` is not called)."""
        if not self.learned:
            return state, {}
        return self.update(state, key, batch["obs"], batch["action"], batch["designed"], advantage(), hp)

    def update(self, state: RewardState, key: jax.Array, obs: jax.Array, actions: jax.Array, designed: jax.Array,
               advantage: jax.Array, hp: HyperParams) -> tuple[RewardState, dict[str, jax.Array]]:
        """One AdamW step on a replay batch; `advantage` (B,) comes from the freshly updated critic."""
        state = state.replace(advantage=update_moments(state.advantage, advantage))
        def loss(params):
            return self.loss(params, state, key, obs, actions, designed, advantage, hp), None

        loss, _, params, opt, grads = gradient_step(loss, state.params, state.opt)
        grad_weight, grad_bias = gradient_sums(*layer_gradient_magnitudes(grads, self.layers(obs, actions)))
        metrics = {"reward_net_loss": loss, "reward_grad_weight_sum": grad_weight,
                   "reward_grad_bias_sum": grad_bias, "sigma_c": state.sum_rate.std,
                   "advantage_mean": state.advantage.mean, "advantage_std": state.advantage.std}
        return state.replace(params=params, opt=opt), metrics
