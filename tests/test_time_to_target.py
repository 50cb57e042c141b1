"""benchmarks.time_to_target: a run stops at its level (or its budget), and the summary over seeds claims a time
only where every seed reached the level. Hand-made runs give the known answers; one tiny run trains for real."""

import pytest
from absl import app

from benchmarks.time_to_target import (
    SETTINGS,
    budgets,
    markdown_table,
    run_summary,
    setting_config,
    study_levels,
    summarize,
    train_to_level,
)
from d2rl_jax.config import ConfigError


def _run(seed, ratios, launch=100.0, start=110.0, per_eval=5.0, every=20, budget=300.0):
    points = [{"epoch": every * (i + 1), "train_s": per_eval * (i + 1), "unix_time": start + per_eval * (i + 1),
               "ratio": r} for i, r in enumerate(ratios)]
    return {"seed": seed, "budget_s": budget, "startup_s": start - launch, "seconds_per_epoch": per_eval / every,
            "points": points}


def test_run_summary_times_the_first_evaluation_at_each_level_from_the_launch():
    s = run_summary(_run(0, [0.3, 0.79, 0.8, 0.7]), launch=100.0, levels=(0.5, 0.8))
    assert s["to_level"]["0.8"] == {"wall_s": pytest.approx(25.0), "train_s": 15.0, "epoch": 60}
    assert s["to_level"]["0.5"]["epoch"] == 40  # 0.79 passes 0.5
    assert s["startup_s"] == 10.0 and s["final_ratio"] == 0.7 and s["wall_s_curve"][0] == pytest.approx(15.0)
    missed = run_summary(_run(1, [0.3, 0.5, 0.79]), launch=100.0, levels=(0.5, 0.8))
    assert missed["to_level"]["0.8"] is None and missed["to_level"]["0.5"]["epoch"] == 40  # at the level counts


def test_summary_claims_a_time_only_at_levels_every_seed_reached():
    levels = study_levels(0.8)
    assert levels == (0.5, 0.6, 0.7, 0.8) and study_levels(0.55) == (0.5, 0.55)
    runs = [{"setting": "a", "actor": "mlp", **run_summary(_run(0, [0.5, 0.85]), 100.0, levels)},
            {"setting": "a", "actor": "mlp", **run_summary(_run(1, [0.5, 0.6, 0.81]), 100.0, levels)},
            {"setting": "b", "actor": "mlp", **run_summary(_run(0, [0.9], budget=200.0), 100.0, levels)},
            {"setting": "b", "actor": "mlp", **run_summary(_run(1, [0.5, 0.65], budget=200.0), 100.0, levels)}]
    summary = summarize(runs, levels)
    a, b = summary["a.mlp"]["levels"], summary["b.mlp"]["levels"]
    assert a["0.8"]["reached"] == "2/2" and a["0.8"]["wall_s"]["values"] == pytest.approx([20.0, 25.0])
    assert a["0.8"]["epoch"]["mean"] == pytest.approx(50.0)
    assert summary["a.mlp"]["final_ratio"]["mean"] == pytest.approx(0.83)
    assert b["0.6"]["wall_s"]["values"] == pytest.approx([15.0, 20.0]) and b["0.7"]["reached"] == "1/2"
    assert "wall_s" not in b["0.7"] and summary["b.mlp"]["budget_s"] == 200.0
    table = markdown_table(summary, levels).splitlines()
    assert table[2].startswith("| a | mlp |") and "| 22.5 ± 31.8 | 22.5 ± 31.8 | 50 ± 127 | 0.830 ± 0.254 |" in table[2]
    assert "| 17.5 ± 31.8 | 1/2 within 200 s of training | 1/2 within 200 s of training | – |" in table[3]


def test_budgets_are_one_for_all_settings_or_one_each():
    assert budgets(["a", "b"], ["300"]) == {"a": 300.0, "b": 300.0}
    assert budgets(["a", "b"], ["200", "450"]) == {"a": 200.0, "b": 450.0}
    with pytest.raises(app.UsageError, match="has 3 values for 2 settings"):
        budgets(["a", "b"], ["1", "2", "3"])
    with pytest.raises(app.UsageError, match="every budget must be a positive number"):
        budgets(["a"], ["-5"])


def test_settings_change_the_preset_and_end_every_chunk_in_an_evaluation():
    cfg, hp = setting_config("paper", "batch_512", "mlp", eval_every=20)
    assert cfg.batch_size == 512 and cfg.critic_updates == 16 and cfg.chunk_epochs == cfg.eval_every == 20
    assert cfg.num_epochs % 20 == 0 and not cfg.eval_all_modes and hp.actor_lr == pytest.approx(1e-3)
    mmse, _ = setting_config("paper", "batch_512_mmse_receiver", "mlp", eval_every=20)
    assert mmse.env.receiver == "mmse" and mmse.batch_size == 512 and cfg.env.receiver == "learned"
    assert set(SETTINGS) >= {"default", "batch_512"}
    with pytest.raises(ConfigError, match="setting='fast' is invalid: must be one of"):
        setting_config("paper", "fast", "mlp", 20)


def test_a_run_stops_at_its_level_or_its_budget():
    reached = train_to_level("small", "default", "mlp", 0, level=0.0, budget_s=1e6, eval_every=10)
    assert [p["epoch"] for p in reached["points"]] == [10]  # every C/C* is >= 0: the first evaluation stops it
    spent = train_to_level("small", "default", "mlp", 0, level=1.0, budget_s=1e-3, eval_every=10)
    assert len(spent["points"]) == 1 and spent["points"][0]["ratio"] < 1.0 and spent["startup_s"] > 0
