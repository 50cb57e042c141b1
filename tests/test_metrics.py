import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.agents import make_actor, make_critic
from d2rl_jax.agents.rewards import RewardModel
from d2rl_jax.config import HyperParams, train_preset
from d2rl_jax.core.gradient_metrics import forward_layers, gradient_sums, layer_gradient_magnitudes
from d2rl_jax.learners import LEARNERS
from d2rl_jax.learners.base import LearnerParts
from d2rl_jax.run.statistics import convergence_epoch, mean_and_ci95, moving_average, t95
from d2rl_jax.training import hparams_to_arrays
from d2rl_jax.training.state_exploration import StateExplorer, StateNormalizer


def test_moving_average_is_a_trailing_window_mean():
    x = np.arange(1.0, 8.0)
    np.testing.assert_allclose(moving_average(x, 3), [1, 1.5, 2, 3, 4, 5, 6])
    np.testing.assert_allclose(moving_average(np.stack([x, 2 * x]), 3)[1], 2 * moving_average(x, 3))


def test_convergence_epoch_on_known_curves():
    settle = np.concatenate([np.linspace(0.0, 5.0, 50), np.full(150, 5.0)])
    assert convergence_epoch(settle, 0.02) == 50 - 1  # 4.9 at index 49 is within 2% of 5
    noisy = settle + np.where(np.arange(200) == 120, 1.0, 0.0)  # one excursion at epoch 120
    assert convergence_epoch(noisy, 0.02) == 121
    assert convergence_epoch(np.full(10, 3.0)) == 0


def _diffusion_order(depth: int, conditioned: bool) -> list[str]:
    """The noise predictor's forward pass: the condition's block of the first layer (projected once, before
    the reverse loop), the step embedding's MLP, the first layer, the trunk, the output."""
    return (["first_cond"] if conditioned else []) + ["time_hidden", "time_out", "first"] + [
        f"trunk_{i}" for i in range(depth - 1)] + ["out"]


def test_forward_layers_follow_the_forward_pass_of_every_network():
    cfg = train_preset("small").replace(actor_depth=11, critic_depth=2, reward_mlp_depth=2, reward_gdm_depth=3,
                                        senpnn_depth=2)
    obs = jnp.zeros((3, 7))
    names = lambda layers: [layer.name for layer in layers]  # noqa: E731
    # 12 Dense layers: parameter-name order would put Dense_10 and Dense_11 before Dense_2
    mlp = make_actor(cfg.replace(actor="mlp"), 5)
    assert names(forward_layers(mlp.init, jax.random.key(0), obs)) == [f"Dense_{i}" for i in range(12)]
    diffusion = make_actor(cfg.replace(actor="diffusion", actor_depth=4), 5)
    layers = forward_layers(diffusion.init, jax.random.key(0), obs)
    assert names(layers) == _diffusion_order(4, conditioned=True)
    assert [layer.has_bias for layer in layers] == [False] + [True] * 7

    critic = make_critic("mlp", 16, 2, False)
    actions = jnp.zeros((3, 5))
    assert names(forward_layers(critic.init, jax.random.key(0), obs, actions, actions)) == [
        f"{q}/Dense_{i}" for q in ("q1", "q2") for i in range(3)]
    reward_mlp = RewardModel(cfg.replace(reward="designed_mlp"))
    assert names(reward_mlp.layers(obs, actions)) == ["Dense_0", "Dense_1", "Dense_2"]
    renpnn = RewardModel(cfg.replace(reward="gdm"))
    assert names(renpnn.layers(obs, actions)) == _diffusion_order(3, conditioned=True)
    normalizer = StateNormalizer(mean=jnp.zeros(7), std=jnp.ones(7))
    senpnn = StateExplorer(cfg.replace(state_exploration=True), 7, normalizer)
    assert names(senpnn.layers()) == _diffusion_order(2, conditioned=False)


def test_layer_gradient_magnitudes_pair_each_kernel_with_its_own_bias():
    """On the diffusion actor's gradients from jax.grad: entry k is layer k's own kernel and bias, NaN for
    the bias-free condition block, and the sums skip it."""
    cfg = train_preset("small").replace(actor="diffusion")
    actor = make_actor(cfg, 4)
    obs = jax.random.normal(jax.random.key(1), (6, 9))
    params = actor.init(jax.random.key(0), obs)
    grads = jax.grad(lambda p: jnp.sum(actor.act(p, jax.random.key(2), obs) ** 2))(params)
    layers = forward_layers(actor.init, jax.random.key(0), obs)
    weight, bias = layer_gradient_magnitudes(grads, layers)
    for k, name in enumerate(_diffusion_order(cfg.actor_depth, conditioned=True)):
        own = grads["params"][name]
        assert float(weight[k]) == pytest.approx(float(jnp.mean(jnp.abs(own["kernel"]))), rel=1e-6), name
        if "bias" in own:
            assert float(bias[k]) == pytest.approx(float(jnp.mean(jnp.abs(own["bias"]))), rel=1e-6), name
        else:
            assert np.isnan(bias[k]), name
    weight_sum, bias_sum = gradient_sums(weight, bias)
    assert float(bias_sum) == pytest.approx(float(np.nansum(bias)), rel=1e-6) and np.isfinite(bias_sum)
    assert float(weight_sum) == pytest.approx(float(weight.sum()), rel=1e-6)


def test_ddpg_reports_the_actor_gradient_of_its_own_update():
    """actor_grad_weight[k] of one DDPG update (one critic step, one actor step) equals mean |dL_actor/dW_k|
    recomputed with jax.grad on the same batch, under the critic that step used."""
    cfg = train_preset("small").replace(actor="mlp", reward="raw", critic_updates=1, policy_delay=1)
    actor = make_actor(cfg, 4)
    learner = LEARNERS["ddpg"].make(cfg, actor, LearnerParts(action_size=4, rewards=RewardModel(cfg), reward_fn=None,
                                                         bootstrap=False))
    hp = hparams_to_arrays(HyperParams())
    keys = jax.random.split(jax.random.key(3), 3)
    obs = jax.random.normal(keys[0], (1, 32, 9))
    batch = {"obs": obs, "next_obs": obs, "action": jax.random.uniform(keys[1], (1, 32, 4), minval=-1, maxval=1),
             "reward": jax.random.normal(keys[2], (1, 32)), "done": jnp.zeros((1, 32))}
    agent = learner.init(jax.random.key(0), obs[0], hp)
    updated, metrics = jax.jit(learner.update)(agent, batch, jax.random.key(4), hp)
    critic = make_critic(cfg.critic_kind, cfg.critic_hidden, cfg.critic_depth, False)

    def actor_loss(params):
        actions = actor.act(params, None, obs[0])
        return -jnp.mean(jnp.minimum(*critic.apply(updated.critic.params, obs[0], actions, actions)))

    grads = jax.grad(actor_loss)(agent.actor.params)["params"]
    expected = [float(jnp.mean(jnp.abs(grads[f"Dense_{k}"]["kernel"]))) for k in range(cfg.actor_depth + 1)]
    np.testing.assert_allclose(metrics["actor_grad_weight"], expected, rtol=1e-4)
    expected_bias = [float(jnp.mean(jnp.abs(grads[f"Dense_{k}"]["bias"]))) for k in range(cfg.actor_depth + 1)]
    np.testing.assert_allclose(metrics["actor_grad_bias"], expected_bias, rtol=1e-4)


def test_mean_and_ci95():
    mean, ci = mean_and_ci95(np.array([[1.0, 2.0], [3.0, 2.0]]))
    np.testing.assert_allclose(mean, [2.0, 2.0])
    assert ci[0] == pytest.approx(12.706 * np.sqrt(2) / np.sqrt(2), rel=1e-4) and ci[1] == 0.0  # t, 1 dof
    assert t95(3) == pytest.approx(4.3027, rel=1e-4)  # 3 seeds: 2.2x the normal 1.96
