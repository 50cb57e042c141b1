"""Learners (DESIGN §10): the loop's extension point, DDPG's update ratios, APG, and the ground-truth
diagnostics that compare a critic with the differentiable physics."""

import json
import subprocess
import sys
from pathlib import Path

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct

from d2rl_jax.agents import noise_std_at
from d2rl_jax.agents.actors import make_actor
from d2rl_jax.agents.rewards import RewardModel
from d2rl_jax.config import ConfigError, HyperParams, train_preset
from d2rl_jax.env.probe import ProbeEnv
from d2rl_jax.learners import LEARNERS, APGState, Learner, LearnerDef, LearnerParts, Trainable
from d2rl_jax.run.results import read_metrics
from d2rl_jax.training import hparams_to_arrays, make_train

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
            return APGState(actor=Trainable.create(actor.init(key, obs), hp.actor_lr, 0.0))

        def update(agent, batches, key, hp, env_params=None):
            return agent, {"updated": jnp.ones(())}

        def value(agent, obs, actions):
            return sign * parts.reward_fn(obs, actions, None)  # the probe's reward reads no parameters

        return Learner(name="oracle", batches_per_update=1, init=init, update=update, value=value,
                       layers=lambda obs: {})
    return factory


@pytest.mark.parametrize("sign, alignment, error", [(1.0, 1.0, 0.0), (-1.0, -1.0, None)])
def test_diagnostics_read_a_perfect_and_a_reversed_critic(monkeypatch, sign, alignment, error):
    monkeypatch.setitem(LEARNERS, "ddpg", LearnerDef(_oracle_factory(sign)))  # stands in for ddpg; loop untouched
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
    assert isinstance(state.agent, APGState) and "critic_loss" not in epochs and not fns.has_critic
    assert float(-evals["eval_sum_rate"][-1]) < 0.05  # mean ||a - a*||^2 on held-out observations
    assert np.isnan(evals["eval_critic_alignment"]).all()
    assert set(fns.layers) == {"actor"}


def test_apg_differentiates_the_actions_drawn_at_the_action_temperature():
    """At temperature 0 APG ascends the diffusion actor's noise-free chain (its step does not depend on the key);
    at 1 its own samples (it does)."""
    cfg = SMALL.replace(actor="diffusion", learner="apg", reward="raw", actor_hidden=16, actor_depth=1)
    parts = LearnerParts(action_size=3, rewards=RewardModel(cfg), bootstrap=False,
                         reward_fn=lambda obs, actions, params: -jnp.sum((actions - 0.5) ** 2, axis=-1))
    learner = LEARNERS["apg"].make(cfg, make_actor(cfg, 3), parts)
    obs = jax.random.uniform(jax.random.key(1), (cfg.actor_updates, 8, 4))
    update = jax.jit(learner.update)

    def params_after(temperature, key):
        hp = hparams_to_arrays(FAST.replace(actor_temperature=temperature))
        agent, _ = update(learner.init(jax.random.key(0), obs[0], hp), {"obs": obs}, jax.random.key(key), hp)
        return jax.flatten_util.ravel_pytree(agent.actor.params)[0]

    np.testing.assert_array_equal(params_after(0.0, 2), params_after(0.0, 3))
    assert not np.array_equal(params_after(1.0, 2), params_after(1.0, 3))


def test_update_ratios_count_optimizer_steps():
    """critic_updates critic steps and critic_updates / policy_delay actor steps per updating epoch."""
    cfg = SMALL.replace(critic_updates=4, policy_delay=2, num_epochs=10, chunk_epochs=10, eval_every=10)
    _, state, epochs, _ = _train(cfg, ProbeEnv(kind="target"))
    updating = int(np.asarray(epochs["updated"]).sum())
    assert updating > 0
    # inject_hyperparams(adamw) keeps the step count in the state's inner Adam state
    assert int(state.agent.critic.opt.inner_state[0].count) == 4 * updating
    assert int(state.agent.actor.opt.inner_state[0].count) == 2 * updating


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
        make_train(SMALL.replace(learner="apg", reward="designed_mlp"), ProbeEnv(kind="target"))

    class Opaque(ProbeEnv):  # a reward the environment does not offer to differentiate
        differentiable_reward = False

    with pytest.raises(ConfigError, match="not differentiable"):
        make_train(SMALL.replace(learner="apg", reward="raw"), Opaque(kind="target"))


@struct.dataclass
class ESState:
    actor: Trainable
    reward: None = None  # a computed reward design only


def make_es(cfg, actor, parts):
    """A third learner, from the public API alone: evolution strategies. Each epoch scores `population` Gaussian
    perturbations of the actor's parameters with the environment's reward on a replay batch's states and steps the
    actor along their standardized scores (no critic, no gradient through the environment)."""
    population, sigma = 16, 0.05

    def init(key, obs, hp):
        return ESState(actor=Trainable.create(actor.init(jax.random.split(key)[0], obs), hp.actor_lr, 0.0))

    def update(agent, batches, key, hp, env_params=None):
        obs = batches["obs"][0]
        flat, unravel = jax.flatten_util.ravel_pytree(agent.actor.params)
        noise = jax.random.normal(key, (population, flat.size))
        scores = jax.vmap(lambda e: jnp.mean(parts.reward_fn(obs, actor.act(unravel(flat + sigma * e), key, obs),
                                                             env_params)))(noise)
        ascent = ((scores - scores.mean()) / (scores.std() + 1e-8)) @ noise / (population * sigma)
        surrogate = lambda params, g: (-jnp.dot(jax.flatten_util.ravel_pytree(params)[0], g), None)  # noqa: E731
        _, _, actor_state, _ = agent.actor.step(surrogate, jax.lax.stop_gradient(ascent))
        return agent.replace(actor=actor_state), {"es_score": scores.mean(), "updated": jnp.ones(())}

    return Learner(name="es", batches_per_update=1, init=init, update=update, value=None,
                   layers=lambda obs: {})


def test_a_third_learner_registers_and_trains_from_the_run_cli(tmp_path):
    """Registered through the public registry, with no change to the loop, config.py or experiments/: the run CLI
    takes --learner es, trains it (its own state type and metrics), and skips nothing it would do for ddpg."""
    launcher = tmp_path / "run_es.py"
    launcher.write_text(f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                        "from test_learners import make_es\nfrom d2rl_jax.learners import register_learner\n"
                        "from experiments.common import run_cli\nfrom experiments.run import main\n"
                        "register_learner('es', make_es)\nrun_cli(main)\n")
    out = tmp_path / "run"
    args = ["--env", "gdmopt_power", "--preset", "small", "--actor", "mlp", "--learner", "es", "--epochs", "100",
            "--chunk", "100", "--eval_every", "10", "--seeds", "1", "--apg_reference", "none", "--out", str(out)]
    proc = subprocess.run([sys.executable, str(launcher), *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())["variants"]
    assert set(summary) == {"mlp.designed.es"} and summary["mlp.designed.es"]["learner"] == "es"
    epochs, evals, _ = read_metrics(out / "mlp.designed.es" / "metrics.npz")
    score = epochs["es_score"][0][epochs["updated"][0] > 0]
    # it learns: the held-out GDMOPT reward and the population's score rise (measured, seeds 0/1: held-out -1.25
    # -> -0.42 and -1.00 -> -0.24 from epoch 10 to 100; score over the first/last 10 updates -1.24 -> -0.68,
    # -1.02 -> -0.53)
    assert evals["eval_reward"][0, -1] > evals["eval_reward"][0, 0] + 0.4, evals["eval_reward"]
    assert score[-10:].mean() > score[:10].mean() + 0.3
    with pytest.raises(ConfigError, match="learner='es' is invalid: must be one of"):  # not registered here
        make_train(SMALL.replace(learner="es"), ProbeEnv(kind="target"))
