import pytest

from d2rl_jax.config import ConfigError, EnvConfig, HyperParams, TrainConfig, env_preset, train_preset
from d2rl_jax.learners import check_learner
from d2rl_jax.run.grids import run_variants


def test_paper_preset_sizes():
    cfg = env_preset("paper")
    assert (cfg.num_dl_users, cfg.num_ul_users, cfg.num_tx_antennas, cfg.num_rx_antennas) == (6, 4, 6, 6)
    assert cfg.observation_size == 140
    assert cfg.action_size == 124
    assert cfg.replace(receiver="mmse").action_size == 76


def test_noise_is_total_in_band_power():
    assert EnvConfig().noise_ul_w == pytest.approx(10 ** (-12.7), rel=1e-12)  # -97 dBm


@pytest.mark.parametrize(
    "field, value, allowed",
    [
        ("num_dl_users", 0, ">= 1"),
        ("num_ul_users", 2.5, "integer"),
        ("cell_radius_m", 0.0, "> 0"),
        ("cell_radius_m", float("nan"), "finite"),
        ("bs_power_max_w", -1.0, "> 0"),
        ("ul_power_max_w", float("inf"), "finite"),
        ("receiver", "zf", "learned"),
        ("mobility", "teleport", "random_walk"),
        ("horizon", 0, ">= 1"),
        ("clutter_angles_deg", (120.0,), "[-90, 90]"),
        ("user_speed_mps", -0.1, ">= 0"),
    ],
)
def test_validation_names_field_value_and_rule(field, value, allowed):
    with pytest.raises(ConfigError) as err:
        EnvConfig(**{field: value})
    message = str(err.value)
    assert f"EnvConfig.{field}" in message
    assert repr(value) in message
    assert allowed in message


def test_unknown_preset_lists_choices():
    with pytest.raises(ConfigError, match="paper"):
        env_preset("huge")


def test_config_is_frozen():
    with pytest.raises(AttributeError):
        EnvConfig().num_dl_users = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    "cls, field, value, allowed",
    [
        (TrainConfig, "reward", "learned", "designed_gdm"),
        (TrainConfig, "state_gate", "loss", "reconstruction"),
        (TrainConfig, "state_noise_step", 7, "[1, diffusion.num_steps=6]"),
        (TrainConfig, "state_exploration", 1, "True or False"),
        (TrainConfig, "gate_ema_decay", 1.0, "[0, 1)"),
        (TrainConfig, "reward_gdm_depth", 0, ">= 1"),
        (HyperParams, "max_replace_prob", 1.5, "[0.0, 1.0]"),
        (HyperParams, "replace_rate", -0.1, "[0.0, 1.0]"),
        (HyperParams, "gate_threshold", float("nan"), "finite"),
        (HyperParams, "kappa", -1.0, "[0.0, inf]"),
        (HyperParams, "reward_lr", 0.0, "> 0"),
        (HyperParams, "actor_lr", "fast", "finite number > 0"),  # a pytree, still validated on creation
        (TrainConfig, "learner", "my learner", "registered learner"),
    ],
)
def test_training_settings_name_field_value_and_rule(cls, field, value, allowed):
    with pytest.raises(ConfigError) as err:
        cls(**{field: value})
    message = str(err.value)
    assert f"{cls.__name__}.{field}" in message and repr(value) in message and allowed in message


def test_state_start_step_defaults_to_the_full_chain():
    assert TrainConfig().state_start_step == TrainConfig().diffusion.num_steps
    assert TrainConfig(state_noise_step=2).state_start_step == 2
    assert TrainConfig(reward="gdm").learned_reward and not TrainConfig(reward="designed").learned_reward


def test_schedule_overrides_keep_chunks_and_evaluations_consistent():
    cfg = train_preset("quick")  # 1000 epochs, chunks of 250, evaluation every 50
    assert (lambda c: (c.num_epochs, c.chunk_epochs, c.eval_every))(cfg.with_schedule(epochs=100)) == (100, 100, 50)
    assert cfg.with_schedule(epochs=90, chunk=30).eval_every == 30  # a period longer than the chunk shrinks
    assert cfg.with_schedule(chunk=100).eval_every == 50
    assert cfg.with_schedule(epochs=120, chunk=40, eval_every=20).num_chunks == 3
    assert (lambda c: (c.chunk_epochs, c.eval_every))(cfg.with_schedule(epochs=20)) == (20, 20)
    with pytest.raises(ConfigError, match="num_epochs"):
        cfg.with_schedule(epochs=75, chunk=50)


def test_ddpgs_imitation_term_stays_with_ddpg():
    """The quick preset's CPQL term belongs to ddpg: another learner starts without it (the APG references of
    `make run` among them), and the learner's own check still refuses it when it is set explicitly."""
    quick = train_preset("quick")
    assert quick.imitation_target == "best_of_k" and quick.with_learner("ddpg") == quick
    assert quick.with_learner("apg").imitation_target == "none"
    apg = {v.name: v for v in run_variants(quick, ["mlp"], HyperParams(), ["mlp"])}["mlp.designed.apg"]
    check_learner(apg.config(quick))
    with pytest.raises(ConfigError, match="imitation_target='best_of_k' is invalid with learner='apg'"):
        check_learner(quick.with_learner("apg").replace(imitation_target="best_of_k"))
