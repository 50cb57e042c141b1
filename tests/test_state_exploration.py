"""State exploration (Algorithm 1, DESIGN §7): chi's rule, generated states, identity at M = 0, vmap over (M, eta)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.config import HyperParams, train_preset
from d2rl_jax.env import FullDuplexEnv
from d2rl_jax.training import hparams_to_arrays, make_train, stack_hparams
from d2rl_jax.training.state_exploration import StateExplorer, advance_chi, fit_normalizer

# A learned reward with recomputation at replay time, so these runs also cover that path.
SMALL = train_preset("small").replace(actor="mlp", reward="designed_mlp", reward_at_sampling=True, num_epochs=30,
                                      chunk_epochs=30, eval_every=10)
FAST = HyperParams(actor_lr=3e-3, critic_lr=3e-3)
ALWAYS_OPEN = 1e9  # a gate threshold every measured value passes


def _reference_chi(gates, threshold, rate, cap):
    chi, out = 0.0, []
    for gate in gates:
        if gate < threshold:
            chi = min(chi + rate, cap)
        out.append(chi)
    return np.asarray(out)


@pytest.mark.parametrize("cap, rate", [(0.5, 0.2), (0.0, 0.2), (1.0, 0.001)])
def test_chi_follows_algorithm_1_for_a_scripted_gate_sequence(cap, rate):
    gates = np.array([np.inf, 3.0, 0.9, 2.0, 0.5, 0.2, 1.0, 0.1, 0.1, 5.0, 0.3, 0.3], np.float32)
    hp = HyperParams(gate_threshold=1.0, replace_rate=rate, max_replace_prob=cap).arrays()
    _, chis = jax.lax.scan(lambda chi, gate: (advance_chi(chi, gate, hp),) * 2, jnp.float32(0.0), jnp.asarray(gates))
    expected = _reference_chi(gates, 1.0, rate, cap)
    np.testing.assert_allclose(chis, expected, rtol=1e-6, atol=1e-7)
    assert np.all(np.asarray(chis) <= cap)
    steps = np.diff(np.concatenate([[0.0], np.asarray(chis)]))
    assert np.all(steps[gates >= 1.0] == 0)  # chi moves only when the gate is below T
    if cap == 0.0:
        assert np.all(np.asarray(chis) == 0)


def test_generated_states_decode_to_finite_channels_and_rewards(paper_env):
    env, params = paper_env
    cfg = train_preset("paper").replace(state_exploration=True, senpnn_hidden=64, senpnn_depth=2)
    explorer = StateExplorer(cfg, env.observation_size, fit_normalizer(env, params, 256))
    state = jax.jit(explorer.init)(jax.random.key(0), hparams_to_arrays(HyperParams()))
    obs, _ = jax.jit(jax.vmap(env.reset, (0, None)))(jax.random.split(jax.random.key(1), 16), params)
    actions = jax.random.uniform(jax.random.key(3), (16, env.action_size), minval=-1.0, maxval=1.0)

    @jax.jit
    def generate_and_evaluate(explorer_params):
        generated, reconstruction = explorer.regenerate(explorer_params, jax.random.key(2), obs)
        channels = jax.vmap(env.channels_from_observation, (0, None))(generated, params)
        info, _ = jax.vmap(env.evaluate, (0, 0, None))(channels, actions, params)
        return generated, reconstruction, channels, info

    generated, reconstruction, channels, info = generate_and_evaluate(state.params)
    assert generated.shape == obs.shape and np.all(np.isfinite(reconstruction))
    assert all(np.all(np.isfinite(np.asarray(c))) for c in channels)
    assert np.all(np.isfinite(info.sum_rate)) and np.all(np.isfinite(info.upper_bound))
    assert np.all(info.sum_rate <= info.upper_bound + 1e-4)


def test_eps_loss_gate_follows_the_training_loss(small_env):
    env, params = small_env
    explorer = StateExplorer(train_preset("small").replace(state_exploration=True, state_gate="eps_loss"),
                             env.observation_size, fit_normalizer(env, params, 64))
    hp = hparams_to_arrays(HyperParams())
    state = jax.jit(explorer.init)(jax.random.key(0), hp)
    obs, _ = jax.jit(jax.vmap(env.reset, (0, None)))(jax.random.split(jax.random.key(1), 8), params)
    _, _, substituted, _ = jax.jit(explorer.substitute)(state, jax.random.key(2), obs, jnp.int32(0), hp)
    assert np.isinf(substituted.gate)  # this gate moves only with training
    real = jnp.array([1, 1, 1, 1, 0, 0, 0, 0])
    update = jax.jit(explorer.update)
    first, metrics = update(state, jax.random.key(3), obs, real)
    np.testing.assert_allclose(first.gate, metrics["senpnn_loss"])
    second, metrics2 = update(first, jax.random.key(4), obs, real)
    decay = explorer.decay
    np.testing.assert_allclose(second.gate, decay * first.gate + (1 - decay) * metrics2["senpnn_loss"], rtol=1e-6)
    np.testing.assert_array_equal(second.loss_ema, second.gate)
    # Generated rows (real = 0) do not enter the loss: changing them changes nothing.
    moved = obs.at[4:].set(100.0)
    _, metrics3 = update(state, jax.random.key(3), moved, real)
    np.testing.assert_allclose(metrics3["senpnn_loss"], metrics["senpnn_loss"], rtol=1e-6)


@pytest.fixture(scope="module")
def explorer_train():
    fns = make_train(SMALL.replace(state_exploration=True))
    return fns, jax.jit(fns.train)


def test_m_zero_is_bit_identical_to_no_state_exploration(explorer_train):
    _, train_on = explorer_train
    off_state, (off, off_eval) = jax.jit(make_train(SMALL).train)(jax.random.key(0), hparams_to_arrays(FAST))
    on_state, (on, on_eval) = train_on(jax.random.key(0), hparams_to_arrays(FAST.replace(max_replace_prob=0.0)))
    assert float(on["chi"].max()) == 0 and int(on["replacements"].sum()) == 0
    assert float(on["senpnn_loss"][-1]) > 0  # the SENPNN trained alongside
    for name, values in off.items():
        np.testing.assert_array_equal(on[name], values, err_msg=name)
    for name, values in off_eval.items():
        np.testing.assert_array_equal(on_eval[name], values, err_msg=name)
    for x, y in zip(jax.tree.leaves(off_state.agent), jax.tree.leaves(on_state.agent), strict=True):
        np.testing.assert_array_equal(x, y)


def test_vmap_over_m_eta_grid_equals_separate_runs_and_rewards_use_generated_channels(explorer_train):
    fns, train_single = explorer_train
    grid = [FAST.replace(max_replace_prob=0.3, replace_rate=0.05, gate_threshold=ALWAYS_OPEN),
            FAST.replace(max_replace_prob=0.8, replace_rate=0.1, gate_threshold=ALWAYS_OPEN)]
    keys = jnp.stack([jax.random.key(0)] * 2)
    _, (batched, batched_eval) = jax.jit(jax.vmap(fns.train))(keys, stack_hparams(grid))
    for i, hp in enumerate(grid):
        state, (single, single_eval) = train_single(jax.random.key(0), hparams_to_arrays(hp))
        # Algorithm 1 with an always-open gate: chi = min(eta * e, M); epoch 0 has no measurement yet.
        expected_chi = np.minimum(hp.replace_rate * np.arange(SMALL.num_epochs), hp.max_replace_prob)
        np.testing.assert_allclose(single["chi"], expected_chi, rtol=1e-5, atol=1e-6)
        assert int(single["replacements"].sum()) > 0
        for name in ("chi", "replacements", "sum_rate", "reward", "critic_loss", "senpnn_loss"):
            np.testing.assert_allclose(batched[name][i], single[name], rtol=2e-4, atol=2e-5, err_msg=name)
        np.testing.assert_allclose(batched_eval["eval_sum_rate"][i], single_eval["eval_sum_rate"], rtol=2e-4)
    # A stored generated transition's designed reward is C - R' of its own (decoded) state and action.
    env, params = FullDuplexEnv(SMALL.env), FullDuplexEnv(SMALL.env).default_params
    items = jax.device_get(state.buffer.items)
    generated = np.flatnonzero(items["real"][: int(state.buffer.size)] == 0)
    assert generated.size > 0
    channels = jax.vmap(env.channels_from_observation, (0, None))(items["obs"][generated], params)
    info, _ = jax.vmap(env.evaluate, (0, 0, None))(channels, items["action"][generated], params)
    np.testing.assert_allclose(items["designed"][generated], info.sum_rate - info.upper_bound, rtol=1e-4, atol=1e-4)


def test_noising_depth_p0_trades_diversity_for_faithfulness(small_env):
    env, params = small_env
    normalizer = fit_normalizer(env, params, 64)
    obs, _ = jax.jit(jax.vmap(env.reset, (0, None)))(jax.random.split(jax.random.key(1), 32), params)
    errors = {}
    for p0 in (1, SMALL.diffusion.num_steps):
        explorer = StateExplorer(SMALL.replace(state_exploration=True, state_noise_step=p0), env.observation_size,
                                 normalizer)
        state = jax.jit(explorer.init)(jax.random.key(0), hparams_to_arrays(HyperParams()))
        errors[p0] = float(jax.jit(explorer.regenerate)(state.params, jax.random.key(2), obs)[1].mean())
    assert errors[1] < 0.1 * errors[SMALL.diffusion.num_steps], errors  # one step keeps s^ close to s


def test_reconstruction_gate_above_threshold_holds_chi_at_zero_in_training(explorer_train):
    """Algorithm 1's gate in a real run: with T below anything the reconstruction MSE reaches, chi never leaves 0
    however large eta and M are, and no state is ever replaced."""
    _, train_single = explorer_train
    tiny = 1e-12
    hp = FAST.replace(max_replace_prob=1.0, replace_rate=0.5, gate_threshold=tiny)
    state, (epochs, _) = train_single(jax.random.key(0), hparams_to_arrays(hp))
    gate = np.asarray(epochs["gate"])
    assert gate.shape == (SMALL.num_epochs,)
    assert np.all(gate > tiny)  # measured: 17.4 .. 17.6 (normalized units) over these 30 epochs
    assert np.all(np.isfinite(gate)) and np.all(np.asarray(epochs["reconstruction_mse"]) > tiny)
    np.testing.assert_array_equal(epochs["chi"], np.zeros(SMALL.num_epochs))
    np.testing.assert_array_equal(epochs["replacements"], np.zeros(SMALL.num_epochs))
    assert float(state.explorer.chi) == 0.0 and int(state.explorer.rise_epoch) == -1
    assert np.all(np.asarray(state.buffer.items["real"][: int(state.buffer.size)]) == 1)  # every stored state real


def test_non_finite_generated_states_are_never_substituted(small_env):
    env, params = small_env
    explorer = StateExplorer(SMALL.replace(state_exploration=True), env.observation_size,
                             fit_normalizer(env, params, 64))
    hp = hparams_to_arrays(HyperParams(max_replace_prob=1.0, replace_rate=0.0))
    state = jax.jit(explorer.init)(jax.random.key(0), hp).replace(chi=jnp.float32(1.0))  # replace every state
    obs, _ = jax.jit(jax.vmap(env.reset, (0, None)))(jax.random.split(jax.random.key(1), 8), params)
    substitute = jax.jit(explorer.substitute)

    # A generator that outputs NaN everywhere: every row keeps its real state, and all are counted.
    broken = state.replace(params=jax.tree.map(lambda p: p * jnp.nan, state.params))
    generated, _ = explorer.regenerate(broken.params, jax.random.key(2), obs)
    assert not np.any(np.isfinite(generated))
    used, replaced, after, metrics = substitute(broken, jax.random.key(2), obs, jnp.int32(0), hp)
    assert float(metrics["chi"]) == 1.0 and float(after.chi) == 1.0
    np.testing.assert_array_equal(used, obs)
    assert not np.any(replaced) and int(metrics["replacements"]) == 0 and int(metrics["nonfinite_generated"]) == 8

    # Per row: rows whose generated state is non-finite (here: their real state holds an inf, which the
    # generator turns into NaN) keep the real state; the finite rows are all replaced at chi = 1.
    bad = np.array([False, True, False, False, True, True, False, False])
    mixed = obs.at[np.flatnonzero(bad), 0].set(jnp.inf)
    used, replaced, _, metrics = substitute(state, jax.random.key(2), mixed, jnp.int32(0), hp)
    used, replaced = np.asarray(used), np.asarray(replaced)
    np.testing.assert_array_equal(replaced, ~bad)
    np.testing.assert_array_equal(used[bad], np.asarray(mixed)[bad])  # the inf, not a NaN generated from it
    assert np.all(np.isfinite(used[~bad])) and np.all(np.any(used[~bad] != np.asarray(obs)[~bad], axis=1))
    assert int(metrics["nonfinite_generated"]) == bad.sum() and int(metrics["replacements"]) == (~bad).sum()
