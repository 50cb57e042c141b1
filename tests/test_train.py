"""The compiled DDPG loop: probes, warm-up, determinism, vmap over seeds, resume, learning."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.agents import make_actor, make_critic
from d2rl_jax.agents.rewards import RewardModel
from d2rl_jax.config import HyperParams, preset_hparams, train_preset
from d2rl_jax.env.probe import ProbeEnv
from d2rl_jax.learners import LEARNERS
from d2rl_jax.learners.base import LearnerParts
from d2rl_jax.run.runner import run_training
from d2rl_jax.training import hparams_to_arrays, make_train, stack_hparams

FAST = HyperParams(actor_lr=3e-3, critic_lr=3e-3)
SMALL = train_preset("small").replace(actor="mlp", num_epochs=100, chunk_epochs=50, eval_every=50)


def _train(fns, seed=0, hp=FAST):
    return jax.jit(fns.train)(jax.random.key(seed), hparams_to_arrays(hp))


def test_probe_constant_reward_critic_converges_to_one():
    cfg = SMALL.replace(reward="raw", num_epochs=300, chunk_epochs=300, eval_every=100)
    fns = make_train(cfg, ProbeEnv(kind="constant"))
    _, (epoch_metrics, _) = _train(fns)
    assert float(jnp.mean(epoch_metrics["q_mean"][-20:])) == pytest.approx(1.0, abs=0.05)
    assert float(jnp.mean(epoch_metrics["critic_loss"][-20:])) < 0.01


# Reached = mean ||a - a*||^2 below these (from ~2 for the MLP actor and ~8 for the diffusion actor at init).
# Measured with seed 0 (the test's): MLP 0.0023 at 400 epochs, diffusion 0.41 at 300 (0.30 at 400; its
# sampler's spread); seeds 1-2: MLP 0.0027 / 0.0022, while the diffusion actor stalls at 3.06 in both (a known
# weakness: docs/learning.md).
@pytest.mark.parametrize("actor, reached, epochs", [("mlp", 0.01, 400), ("diffusion", 0.6, 300)])
def test_probe_target_reward_moves_the_actor_to_the_target(actor, reached, epochs):
    cfg = SMALL.replace(actor=actor, reward="raw", num_epochs=epochs, chunk_epochs=epochs, eval_every=100)
    fns = make_train(cfg, ProbeEnv(kind="target"))
    state = jax.jit(fns.init)(jax.random.key(0), hparams_to_arrays(FAST))
    before = -float(jax.jit(fns.evaluate)(state.agent, jax.random.key(1))["eval_sum_rate"])
    _, (_, eval_metrics) = _train(fns)
    after = -float(eval_metrics["eval_sum_rate"][-1])  # mean ||a - a*||^2 on held-out observations
    assert after < reached < before / 3.0, (before, after)


@pytest.fixture(scope="module")
def small_fns():
    return make_train(SMALL)


@pytest.fixture(scope="module")
def small_runs(small_fns):
    """Seeds 0 and 1 trained once each for the tests below that read them (the suite's time budget)."""
    return {seed: _train(small_fns, seed=seed)[1] for seed in (0, 1)}


def test_warm_up_waits_for_one_batch(small_fns, small_runs):
    epoch_metrics, eval_metrics = small_runs[0]
    first_full = SMALL.batch_size // SMALL.num_envs - 1  # the epoch at which the buffer first holds a batch
    assert np.all(np.asarray(epoch_metrics["updated"][:first_full]) == 0)
    assert np.all(np.asarray(epoch_metrics["updated"][first_full:]) == 1)
    assert np.all(np.asarray(epoch_metrics["critic_loss"][:first_full]) == 0)
    assert epoch_metrics["actor_grad_weight"].shape == (100, len(small_fns.layers["actor"]))
    np.testing.assert_array_equal(eval_metrics["eval_epoch"], [50, 100])
    for name, values in epoch_metrics.items():
        assert np.all(np.isfinite(values)), name


def test_same_key_is_bit_identical_and_seeds_differ(small_fns, small_runs):
    _, (a, _) = _train(small_fns, seed=0)
    (b, _), (c, _) = small_runs[0], small_runs[1]
    for name in a:
        np.testing.assert_array_equal(a[name], b[name])
    assert not np.allclose(a["sum_rate"], c["sum_rate"])


def test_vmap_over_seeds_equals_single_runs(small_fns, small_runs):
    seeds = [0, 1]
    keys = jnp.stack([jax.random.key(s) for s in seeds])
    _, (batched, batched_eval) = jax.jit(jax.vmap(small_fns.train))(keys, stack_hparams([FAST] * 2))
    for i, seed in enumerate(seeds):
        single, single_eval = small_runs[seed]
        for name in ("sum_rate", "reward", "critic_loss", "actor_loss"):
            np.testing.assert_allclose(batched[name][i], single[name], rtol=2e-4, atol=2e-5, err_msg=name)
        np.testing.assert_allclose(batched_eval["eval_sum_rate"][i], single_eval["eval_sum_rate"], rtol=2e-4)
    assert not np.allclose(batched["sum_rate"][0], batched["sum_rate"][1])  # one key per seed, not one for all


def test_resume_reproduces_an_uninterrupted_run(small_fns, tmp_path):
    full = run_training(SMALL, [0, 1], FAST, checkpoint_dir=tmp_path / "full", progress=None, fns=small_fns)
    # a run killed after its first chunk: the same checkpoints without the second
    shutil.copytree(tmp_path / "full", tmp_path / "split")
    shutil.rmtree(tmp_path / "split" / "2")
    resumed = run_training(SMALL, [0, 1], FAST, checkpoint_dir=tmp_path / "split", resume=True, progress=None,
                           fns=small_fns)
    assert resumed.resumed_from_chunk == 1
    for x, y in zip(jax.tree.leaves(full.final_state.agent), jax.tree.leaves(resumed.final_state.agent), strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)
    for name, values in full.epoch_metrics.items():
        np.testing.assert_allclose(resumed.epoch_metrics[name], values, rtol=1e-6, atol=1e-7, err_msg=name)
    assert len(resumed.chunk_seconds) == 2  # the first process's chunk time is kept
    with pytest.raises(FileExistsError, match="already holds checkpoints"):  # never silently mixed with old ones
        run_training(SMALL, [0, 1], FAST, checkpoint_dir=tmp_path / "full", progress=None, fns=small_fns)


def test_horizon_above_one_bootstraps_with_target_networks():
    """One DDPG update on a hand-built batch (horizon > 1): the critics regress on r + gamma (1 - done)
    min(Q1', Q2')(s', pi'(s')) of the target networks, the actor ascends min(Q1, Q2) of the updated critics,
    and each target moves to tau x online + (1 - tau) x its old value exactly."""
    cfg = SMALL.replace(env=SMALL.env.replace(horizon=2), critic_updates=1, policy_delay=1)
    assert "next_obs" in jax.eval_shape(make_train(cfg).init, jax.random.key(0), hparams_to_arrays(FAST)).buffer.items
    actor = make_actor(cfg, 4)
    critic = make_critic(cfg.critic_kind, cfg.critic_hidden, cfg.critic_depth, False)
    learner = LEARNERS["ddpg"].make(cfg, actor, LearnerParts(action_size=4, rewards=RewardModel(cfg), reward_fn=None,
                                                         bootstrap=True))
    tau, gamma = 0.3, 0.9
    hp = hparams_to_arrays(FAST.replace(gamma=gamma, tau=tau, target_noise=0.0))
    k = jax.random.split(jax.random.key(5), 5)
    batch = {"obs": jax.random.normal(k[0], (1, 32, 9)), "next_obs": jax.random.normal(k[1], (1, 32, 9)),
             "action": jax.random.uniform(k[2], (1, 32, 4), minval=-1, maxval=1),
             "reward": jax.random.normal(k[3], (1, 32)), "done": (jax.random.uniform(k[4], (1, 32)) < 0.5) * 1.0}
    agent = learner.init(jax.random.key(0), batch["obs"][0], hp)
    # targets apart from the online networks, so that the TD target and the soft update both see them
    agent = agent.replace(target_actor_params=learner.init(jax.random.key(1), batch["obs"][0], hp).actor.params,
                          target_critic_params=learner.init(jax.random.key(2), batch["obs"][0], hp).critic.params)
    updated, metrics = jax.jit(learner.update)(agent, batch, jax.random.key(6), hp)
    b = jax.tree.map(lambda x: x[0], batch)

    def min_q(params, obs, actions):
        return jnp.minimum(*critic.apply(params, obs, actions, actions))

    next_q = min_q(agent.target_critic_params, b["next_obs"], actor.act(agent.target_actor_params, None,
                                                                         b["next_obs"]))
    y = b["reward"] + gamma * (1.0 - b["done"]) * next_q
    q1, q2 = critic.apply(agent.critic.params, b["obs"], b["action"], b["action"])
    assert float(metrics["critic_loss"]) == pytest.approx(float(jnp.mean((q1 - y) ** 2 + (q2 - y) ** 2)), rel=1e-5)
    policy_q = min_q(updated.critic.params, b["obs"], actor.act(agent.actor.params, None, b["obs"]))
    assert float(metrics["actor_loss"]) == pytest.approx(-float(jnp.mean(policy_q)), rel=1e-5)
    for online, old, new in ((updated.actor.params, agent.target_actor_params, updated.target_actor_params),
                             (updated.critic.params, agent.target_critic_params, updated.target_critic_params)):
        jax.tree.map(lambda o, t, n: np.testing.assert_allclose(n, tau * o + (1 - tau) * t, rtol=1e-6, atol=1e-7),
                     online, old, new)


# The learning test (docs/learning.md, "The learning test"): the small preset's defaults for 400 epochs, held-out
# C/C* of seed 0 (one run: the suite's time budget). Measured: seed 0 MLP 0.633, diffusion 0.407; over 3 seeds
# MLP 0.62 (lowest 0.59), diffusion 0.41 (lowest 0.38); uniform random actions score 0.26 and a learner that stops
# learning stays near its start (0.15-0.26).
@pytest.mark.parametrize("actor, threshold", [("mlp", 0.5), ("diffusion", 0.35)])
def test_ddpg_learns_the_small_system(actor, threshold):
    cfg = train_preset("small").replace(actor=actor, num_epochs=400, chunk_epochs=400, eval_every=400)
    fns = make_train(cfg)
    _, (_, eval_metrics) = jax.jit(fns.train)(jax.random.key(0), hparams_to_arrays(preset_hparams("small")))
    final = float(eval_metrics["eval_ratio_to_optimizer"][-1])
    random_ratio = fns.eval_batch.reference_levels()["random actions"] / float(fns.eval_batch.optimum.mean())
    assert final >= threshold, (final, random_ratio)


def test_over_runs_matches_vmap_for_one_and_many_runs():
    from d2rl_jax.run.runner import over_runs

    def fn(state, hp):
        return {"x": state["x"] * hp["a"] + jnp.sum(state["y"])}, hp["a"] ** 2

    for n in (1, 3):
        state = {"x": jnp.arange(n * 2.0).reshape(n, 2), "y": jnp.ones((n, 4))}
        hp = {"a": jnp.arange(1.0, n + 1.0)}
        for x, y in zip(jax.tree.leaves(over_runs(fn, n)(state, hp)), jax.tree.leaves(jax.vmap(fn)(state, hp)),
                        strict=True):
            np.testing.assert_array_equal(x, y)
