import pytest

from d2rl_jax.config import ConfigError, EnvConfig, env_preset


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
