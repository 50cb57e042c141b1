"""Learners (DESIGN §10): the loop's extension point, DDPG's update ratios, APG, and the ground-truth
diagnostics that compare a critic with the differentiable physics."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.agents import noise_std_at
from d2rl_jax.config import ConfigError, HyperParams, train_preset
from d2rl_jax.env.probe import ProbeEnv
from d2rl_jax.learners import FACTORIES, AgentState, Learner
from d2rl_jax.optim import init_optimizer
from d2rl_jax.train import hparams_to_arrays, make_train

FAST = HyperParams(actor_lr=3e-3, critic_lr=3e-3, noise_std=0.3)
SMALL = train_preset("small").replace(actor="mlp", num_epochs=60, chunk_epochs=60, eval_every=30)


def _train(cfg, env=None, hp=FAST, seed=0):
    fns = make_train(cfg, env)
    state, (epoch_metrics, eval_metrics) = jax.jit(fns.train)(jax.random.key(seed), hparams_to_arrays(hp))
    return fns, state, epoch_metrics, eval_metrics


def _oracle_factory(sign: float):
    """A learner with no training whose value is `sign` x the true reward: the diagnostics must read
    alignment `sign` and, for +1, zero error. Registered like any learner, with no change to the loop."""
    def factory(cfg, actor, parts):
        def init(key, obs, hp):
            params = actor.init(key, obs)
            return AgentState(actor_params=params, actor_opt=init_optimizer(params, hp["actor_lr"], 0.0))

        def update(agent, batches, key, hp, env_params=None):
            return agent, {"updated": jnp.ones(())}

        def value(agent, obs, actions):
            return sign * parts.reward_fn(obs, actions, None)  # the probe's reward reads no parameters

        return Learner(name="oracle", batches_per_update=1, init=init, update=update, value=value,
                       layers=lambda obs: {})
    return factory


@pytest.mark.parametrize("sign, alignment, error", [(1.0, 1.0, 0.0), (-1.0, -1.0, None)])
def test_diagnostics_read_a_perfect_and_a_reversed_critic(monkeypatch, sign, alignment, error):
    monkeypatch.setitem(FACTORIES, "ddpg", _oracle_factory(sign))  # stands in for ddpg: the loop is untouched
    env = ProbeEnv(kind="target")
    _, _, _, evals = _train(SMALL.replace(num_epochs=20, chunk_epochs=20, eval_every=10), env)
    np.testing.assert_allclose(evals["eval_critic_alignment"], alignment, atol=1e-5)
    if error is not None:
        np.testing.assert_allclose(evals["eval_critic_error"], error, atol=1e-5)


def test_ddpg_critic_learns_the_probe_gradient():
    """On a linear reward the trained critic's action gradient points where the true one does."""
    _, _, _, evals = _train(SMALL.replace(reward="raw", num_epochs=200, chunk_epochs=200, eval_every=100),
                            ProbeEnv(kind="linear"))
    assert float(evals["eval_critic_alignment"][-1]) > 0.9, evals["eval_critic_alignment"]
    assert float(evals["eval_critic_error"][-1]) < 0.5, evals["eval_critic_error"]


def test_apg_moves_the_actor_to_the_probe_target_and_has_no_critic():
    cfg = SMALL.replace(learner="apg", reward="raw", num_epochs=100, chunk_epochs=100, eval_every=50)
    fns, state, epochs, evals = _train(cfg, ProbeEnv(kind="target"), hp=FAST.replace(actor_lr=1e-2))
    assert state.agent.critic_params is None and "critic_loss" not in epochs
    assert float(-evals["eval_sum_rate"][-1]) < 0.05  # mean ||a - a*||^2 on held-out observations
    assert np.isnan(evals["eval_critic_alignment"]).all()
    assert set(fns.layers) == {"actor"}


def test_update_ratios_count_optimizer_steps():
    """critic_updates critic steps and critic_updates / policy_delay actor steps per updating epoch."""
    cfg = SMALL.replace(critic_updates=4, policy_delay=2, num_epochs=10, chunk_epochs=10, eval_every=10)
    _, state, epochs, _ = _train(cfg, ProbeEnv(kind="target"))
    updating = int(np.asarray(epochs["updated"]).sum())
    assert updating > 0
    # inject_hyperparams(adamw) keeps the step count in the state's inner Adam state
    assert int(state.agent.critic_opt.inner_state[0].count) == 4 * updating
    assert int(state.agent.actor_opt.inner_state[0].count) == 2 * updating


def test_critic_reward_norm_values_are_in_reward_units():
    cfg = SMALL.replace(reward="raw", critic_reward_norm=True, num_epochs=300, chunk_epochs=300, eval_every=300)
    fns, state, epochs, evals = _train(cfg, ProbeEnv(kind="linear"))
    assert state.agent.reward_moments is not None
    assert float(evals["eval_critic_error"][-1]) < 0.5  # the de-standardized value tracks the true reward
    assert float(evals["eval_critic_alignment"][-1]) > 0.9


def test_noise_schedule_decays_linearly_then_holds():
    hp = hparams_to_arrays(HyperParams(noise_std=0.5, noise_std_final=0.1, noise_decay_epochs=100))
    np.testing.assert_allclose([noise_std_at(jnp.float32(e), hp) for e in (0, 50, 100, 500)], [0.5, 0.3, 0.1, 0.1],
                               rtol=1e-6)
    constant = hparams_to_arrays(HyperParams(noise_std=0.5))
    assert float(noise_std_at(jnp.float32(1000), constant)) == pytest.approx(0.5)


def test_apg_refuses_what_it_cannot_differentiate():
    with pytest.raises(ConfigError, match="learner='apg'"):
        SMALL.replace(learner="apg", reward="designed_mlp")

    class Opaque(ProbeEnv):  # observations that do not encode what the reward is computed from
        channels_from_observation = None

    with pytest.raises(ConfigError, match="not differentiable"):
        make_train(SMALL.replace(learner="apg", reward="raw"), Opaque(kind="target"))
