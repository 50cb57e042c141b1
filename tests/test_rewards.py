"""Reward designs (DESIGN §6): the documented forms, grounding of `gdm` in C - R', and the
advantage objective of the learned term."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.agents import RewardModel
from d2rl_jax.config import REWARD_DESIGNS, HyperParams, train_preset
from d2rl_jax.env import FullDuplexEnv, sample_states
from d2rl_jax.training import hparams_to_arrays

SMALL = train_preset("small")
HP = hparams_to_arrays(HyperParams(reward_lr=3e-3, kappa=0.1))


@pytest.fixture(scope="module")
def fixed_batch():
    """64 states of the small system with uniform random actions, and their RewardInfo."""
    env = FullDuplexEnv(SMALL.env)
    params = env.default_params
    obs, channels = sample_states(env, params, jax.random.key(0), 64)
    actions = jax.random.uniform(jax.random.key(1), (64, env.action_size), minval=-1.0, maxval=1.0)
    info, _ = jax.vmap(env.evaluate, (0, 0, None))(channels, actions, params)
    return obs, actions, info


@pytest.mark.parametrize("design", REWARD_DESIGNS)
def test_each_design_has_its_documented_form(design, fixed_batch):
    obs, actions, info = fixed_batch
    model = RewardModel(SMALL.replace(reward=design))
    state = model.init(jax.random.key(2), obs, actions, HP)
    reward, state, term_metrics = jax.jit(model.collect)(state, jax.random.key(3), obs, actions, info, HP)
    designed = info.sum_rate - info.upper_bound
    assert np.all(np.isfinite(reward))
    if model.learned:  # the term collect added (same key, the network unchanged by collecting), and its metrics
        term = model.learned_term(state.params, jax.random.key(3), obs, actions)
        np.testing.assert_allclose(term_metrics["learned_term_mean"], np.mean(term), rtol=1e-5, atol=1e-6)
    else:
        assert term_metrics == {}
    if design == "raw":
        np.testing.assert_array_equal(reward, info.sum_rate)
    elif design == "designed":
        np.testing.assert_array_equal(reward, designed)
        assert np.all(reward <= 0)  # R' >= C for every action
    elif design in ("designed_mlp", "designed_gdm"):
        sigma_c = float(state.sum_rate.std)
        np.testing.assert_allclose(sigma_c, np.std(np.asarray(info.sum_rate)), rtol=1e-3)
        gap = np.abs(np.asarray(reward - designed))
        assert np.all(gap <= 0.1 * sigma_c * (1 + 1e-5))
        assert np.all(np.abs(term) <= 1.0) and gap.max() > 0  # the learned term is present and bounded
    else:  # gdm: generated, mu_R + sigma_R x^ with x^ within the clip
        assert np.all(np.abs(term) <= SMALL.gdm_reward_clip)
        np.testing.assert_allclose(reward, state.designed.mean + state.designed.std * term, rtol=1e-5, atol=1e-5)


def _train_reward_net(model, state, obs, actions, designed, advantage, steps):
    def step(state, key):
        state, metrics = model.update(state, key, obs, actions, designed, advantage, HP)
        return state, metrics["reward_net_loss"]

    return jax.jit(lambda s: jax.lax.scan(step, s, jax.random.split(jax.random.key(4), steps)))(state)


def test_gdm_reward_tracks_the_designed_reward_after_training(fixed_batch):
    obs, actions, info = fixed_batch
    model = RewardModel(SMALL.replace(reward="gdm"))
    state = model.init(jax.random.key(2), obs, actions, HP)
    _, state, _ = model.collect(state, jax.random.key(3), obs, actions, info, HP)  # running mu_R, sigma_R
    designed = info.sum_rate - info.upper_bound
    state, losses = _train_reward_net(model, state, obs, actions, designed, jnp.zeros_like(designed), 600)
    assert float(losses[-50:].mean()) < 0.5 * float(losses[:50].mean())
    generated, _ = model.shaped(state, jax.random.key(5), obs, actions, designed, HP)
    corr = np.corrcoef(np.asarray(generated), np.asarray(designed))[0, 1]
    assert corr > 0.9, corr


@pytest.mark.parametrize("design", ["designed_mlp", "designed_gdm"])
def test_learned_term_rises_on_actions_the_critic_prefers(design, fixed_batch):
    obs, _, _ = fixed_batch
    action_size = FullDuplexEnv(SMALL.env).action_size
    preferred = jnp.linspace(-0.8, 0.8, action_size)

    def critic(actions):  # a fixed critic that prefers `preferred`
        return -jnp.sum((actions - preferred) ** 2, axis=-1)

    keys = jax.random.split(jax.random.key(6), 3)
    random_actions = jax.random.uniform(keys[0], (64, action_size), minval=-1.0, maxval=1.0)
    policy_actions = jax.random.uniform(keys[1], (64, action_size), minval=-1.0, maxval=1.0)
    # A replay batch where half the actions are the preferred one, half random.
    batch_actions = jnp.concatenate([jnp.broadcast_to(preferred, (32, action_size)), random_actions[:32]])
    advantage = critic(batch_actions) - critic(policy_actions)
    model = RewardModel(SMALL.replace(reward=design))
    state = model.init(jax.random.key(2), obs, batch_actions, HP)
    state, _ = _train_reward_net(model, state, obs, batch_actions, jnp.zeros(64), advantage, 300)
    fresh_obs = jax.random.permutation(keys[2], obs)  # scores on states paired with other actions
    on_preferred = model.learned_term(state.params, jax.random.key(7), fresh_obs,
                                      jnp.broadcast_to(preferred, (64, action_size)))
    on_random = model.learned_term(state.params, jax.random.key(8), fresh_obs, random_actions[32:].repeat(2, 0))
    assert float(on_preferred.mean()) > float(on_random.mean()) + 0.5, (on_preferred.mean(), on_random.mean())


@pytest.mark.parametrize("advantage_kind", ["batch", "design"])
def test_reward_net_objective_matches_its_formula(advantage_kind, fixed_batch):
    obs, actions, info = fixed_batch
    model = RewardModel(SMALL.replace(reward="designed_mlp", reward_advantage=advantage_kind))
    state = model.init(jax.random.key(2), obs, actions, HP)
    advantage = jax.random.normal(jax.random.key(9), (64,)) * 3.0 - 2.0  # mostly negative, as measured in runs
    designed = info.sum_rate - info.upper_bound
    loss = model.loss(state.params, state, jax.random.key(3), obs, actions, designed, advantage, HP)
    term = model.learned_term(state.params, jax.random.key(3), obs, actions)
    a = (advantage - advantage.mean()) / advantage.std() if advantage_kind == "batch" else advantage
    expected = -jnp.mean(a * term) + HP.reward_l2 * jnp.mean(term**2)
    np.testing.assert_allclose(loss, expected, rtol=1e-4, atol=1e-6)


# The documented optima (module docstring of d2rl_jax/agents/rewards.py), reached by TRAINING the network with
# RewardModel.update on one fixed batch of 32 rows. a is the batch-standardized advantage; with the mean over the
# batch every row's loss is its own: -a r + lambda r^2 (designed_*) and (x - z)^2 - kappa a x (gdm), so
#   designed_*: r* = clip(a / (2 lambda), -1, 1),   gdm: x* = clip(z + kappa a / 2, -c, c), c = gdm_reward_clip.
# Measured on this batch (mean |error| / max |error| after training; untrained mean |error|):
#   designed_mlp (lambda 0.5, 11 of 32 rows clipped), lr 3e-3, 1000 steps: 7e-5 / 8e-4; untrained 0.67
#   designed_gdm (lambda 1.0, 1 row clipped), lr 1e-3, 600 steps: 5e-3 / 0.017; untrained 0.47
#   gdm (kappa 1, c = 1.5, 4 rows clipped), lr 1e-3, 600 steps: 7e-3 / 0.02; untrained 0.84
# (the GDM nets' outputs are samples: the mean over 16 keys, whose per-row std is ~0.01 after training).
# A GDM row whose sample overshoots the clip gets no gradient back through it: at lr 3e-3 one or two rows stick at
# the bound; hence the diffusion nets are held to 90% of the rows, the MLP to every row.
# design: (TrainConfig changes, HyperParams changes, reward_lr, steps, bound on the mean |error|, row tolerance,
# share of rows within it)
OPTIMUM_CASES = {
    "designed_mlp": ({}, {"reward_l2": 0.5}, 3e-3, 1000, 0.005, 0.01, 1.0),
    "designed_gdm": ({}, {"reward_l2": 1.0}, 1e-3, 600, 0.03, 0.05, 0.9),
    "gdm": ({"gdm_reward_clip": 1.5}, {"kappa": 1.0}, 1e-3, 600, 0.03, 0.05, 0.9),
}


@pytest.mark.parametrize("design", list(OPTIMUM_CASES))
def test_training_reaches_the_documented_optimum_of_the_learned_term(design, fixed_batch):
    cfg_changes, hp_changes, lr, steps, mean_bound, tolerance, share = OPTIMUM_CASES[design]
    obs, actions, info = jax.tree.map(lambda x: x[:32], fixed_batch)
    designed = info.sum_rate - info.upper_bound
    advantage = jax.random.normal(jax.random.key(9), (32,)) * 3.0 - 2.0  # mostly negative, as measured in runs
    a = np.asarray((advantage - advantage.mean()) / advantage.std())
    hp = hparams_to_arrays(HyperParams(reward_lr=lr, weight_decay=0.0, **hp_changes))
    cfg = SMALL.replace(reward=design, **cfg_changes)
    model = RewardModel(cfg)
    state = model.init(jax.random.key(2), obs, actions, hp)
    _, state, _ = model.collect(state, jax.random.key(3), obs, actions, info, hp)  # mu_R, sigma_R of this batch
    if design == "gdm":
        bound = cfg.gdm_reward_clip
        z = (np.asarray(designed) - float(state.designed.mean)) / float(state.designed.std)
        optimum = np.clip(z + float(hp.kappa) * a / 2.0, -bound, bound)
    else:
        bound = 1.0
        optimum = np.clip(a / (2.0 * float(hp.reward_l2)), -1.0, 1.0)
    assert 0 < (np.abs(optimum) == bound).sum() < 16  # the clip binds on some rows, not most

    def samples(params):  # (16 sampling keys, 32 rows); the MLP is deterministic
        keys = jax.random.split(jax.random.key(11), 16)
        return np.asarray(jax.vmap(lambda k: model.learned_term(params, k, obs, actions))(keys))

    def step(state, key):
        return model.update(state, key, obs, actions, designed, advantage, hp)[0], None

    untrained = np.abs(samples(state.params).mean(0) - optimum)
    state, _ = jax.jit(lambda s: jax.lax.scan(step, s, jax.random.split(jax.random.key(4), steps)))(state)
    drawn = samples(state.params)
    error = np.abs(drawn.mean(0) - optimum)
    assert untrained.mean() > 0.4, untrained.mean()  # the untrained net is far off
    assert np.abs(drawn).max() <= bound + 1e-6  # every sample within the documented range
    assert error.mean() < mean_bound, (error.mean(), untrained.mean())
    assert np.mean(error < tolerance) >= share, np.sort(error)[::-1][:4]
