"""The GDMOPT side-by-side benchmark's parts that run without GDMOPT: the shared held-out file, our variants' configs,
the scorer cross-check, and the time-to-level summary on hand-made curves whose answers are known."""

import numpy as np
import pytest

from benchmarks.gdmopt_ours import GDMOPT_HPARAMS, VARIANTS, shared_draws_match, variant_config
from benchmarks.gdmopt_side_by_side import (
    check_scorer,
    first_time_reaching,
    markdown_table,
    summarize,
    write_heldout,
)
from d2rl_jax.config import ConfigError


def _curve(wall, reward, train=None, epoch=None):
    n = len(wall)
    return {"wall_s": list(wall), "train_s": list(train if train is not None else wall), "reward": list(reward),
            "epoch": list(epoch if epoch is not None else range(10, 10 * n + 1, 10)), "ratio": [0.9] * n}


def test_first_time_reaching_is_the_first_scored_time_at_or_above_the_level():
    curve = _curve([1, 2, 3, 4], [-0.5, -0.1, -0.2, -0.05], train=[0.5, 1.5, 2.5, 3.5])
    assert first_time_reaching(curve, -0.1) == 2.0  # at the level counts; a later dip does not undo it
    assert first_time_reaching(curve, -0.1, "train_s") == 1.5
    assert first_time_reaching(curve, -0.01) is None


def test_summary_level_is_gdmopt_mean_final_and_times_are_to_it():
    gdmopt = [_curve([10, 300, 600], [-1.0, -0.3, -0.2]), _curve([10, 300, 600], [-1.0, -0.2, -0.1])]
    fast = [_curve([5, 20, 40], [-0.5, -0.14, -0.01]), _curve([5, 30, 40], [-0.5, -0.16, -0.02])]
    slow = [_curve([5, 20, 40], [-0.5, -0.14, -0.01]), _curve([5, 30, 40], [-0.5, -0.3, -0.2])]
    summary = summarize(gdmopt, {"fast": fast, "slow": slow})
    assert summary["level"] == pytest.approx(-0.15)
    assert summary["gdmopt"]["wall_s_to_level"] == [None, 600.0]  # seed 0 ends below the mean level
    assert summary["gdmopt"]["final_reward"]["mean"] == pytest.approx(-0.15)
    f = summary["variants"]["fast"]
    assert f["wall_s_to_level"] == [20.0, 40.0] and f["reached"] == "2/2"
    assert f["wall_s_to_level_interval"]["mean"] == pytest.approx(30.0)
    assert f["times_sooner_than_gdmopt_budget"] == pytest.approx(600 / 30)
    assert f["final_reward"]["mean"] == pytest.approx(-0.015)
    s = summary["variants"]["slow"]  # one seed never reaches: no interval and no speed-up claimed
    assert s["reached"] == "1/2" and "times_sooner_than_gdmopt_budget" not in s
    table = markdown_table(summary, None).splitlines()
    assert table[0].startswith("GDMOPT's level L = -0.150")
    assert table[-2].startswith("| ours: fast |") and table[-2].endswith("| 30.0 ± 127.1 | 30.0 ± 127.1 | 20 |")
    assert table[-1].endswith("| reached by 1/2 | – | – |")


def test_variants_are_our_quick_learner_or_gdmopt_settings():
    quick_cfg, quick_hp = variant_config("diffusion")
    assert quick_cfg.critic_updates == 16 and quick_cfg.diffusion.x0_bound == "tanh" and quick_cfg.num_envs == 1024
    assert quick_cfg.chunk_epochs == quick_cfg.eval_every and not quick_cfg.eval_all_modes
    cfg, hp = variant_config("diffusion_gdmopt", score_every=7)
    assert (cfg.num_envs, cfg.batch_size, cfg.critic_updates, cfg.actor_depth) == (1, 512, 1, 3)
    assert cfg.diffusion.x0_bound == "clip" and cfg.imitation_target == "none" and cfg.eval_mode == "sample"
    assert cfg.chunk_epochs == cfg.eval_every == 7
    assert all(getattr(hp, k) == pytest.approx(v) for k, v in GDMOPT_HPARAMS.items())
    assert variant_config("mlp_gdmopt")[0].actor == "mlp" and set(VARIANTS) >= {"mlp", "diffusion"}
    with pytest.raises(ConfigError, match="variant='tdm' is invalid: must be one of"):
        variant_config("tdm")


def test_heldout_file_holds_our_held_out_draws_and_the_scorers_are_checked(tmp_path):
    path = tmp_path / "heldout.npz"
    info = write_heldout(path)
    assert info["draws"] == 1000 and info["reference_rewards"]["best fixed allocation"] == pytest.approx(-0.048,
                                                                                                          abs=0.002)
    data = np.load(path)
    cfg, _ = variant_config("mlp")
    assert shared_draws_match(cfg, data["gains"], data["c_wf"])
    assert not shared_draws_match(cfg, data["gains"][::-1], data["c_wf"][::-1])
    uniform = info["reference_rewards"]["uniform allocation"]
    check_scorer({"uniform_allocation_reward": uniform + 1e-6}, info["reference_rewards"])
    with pytest.raises(RuntimeError, match="would not be scored alike"):
        check_scorer({"uniform_allocation_reward": uniform + 0.01}, info["reference_rewards"])


def test_epoch_profile_recovers_known_parts_from_the_program_differences():
    from benchmarks.epoch_profile import parts, programs
    from d2rl_jax.config import train_preset

    cfg = train_preset("paper")  # 16 critic steps, one actor step, 1024 environments, evaluation 100, chunk 500
    epochs = 50
    critic, actor, env, evaluation, boundary, rest = 1e-2, 5e-3, 2e-5, 0.4, 0.05, 3e-3  # seconds each

    def per_epoch(c, a, t, evals, chunks):  # seconds per epoch of a chunked program of `epochs` epochs
        return c * critic + a * actor + t * env + rest + (evals * evaluation + chunks * boundary) / epochs

    c, a, t = cfg.critic_updates, cfg.actor_updates, cfg.num_envs
    times = {"base": per_epoch(c, a, t, 1, 1), "half_critic_steps": per_epoch(c / 2, a, t, 1, 1),
             "double_actor_steps": per_epoch(c, 2 * a, t, 1, 1), "half_envs": per_epoch(c, a, t / 2, 1, 1),
             "five_evaluations": per_epoch(c, a, t, 5, 1), "five_chunks": per_epoch(c, a, t, 5, 5)}
    got = parts(cfg, epochs, {k: np.asarray([v]) for k, v in times.items()})
    expected = {"critic_steps": c * critic, "actor_steps": a * actor, "collection": t * env,
                "evaluation": evaluation / cfg.eval_every, "chunk_boundary": boundary / cfg.chunk_epochs, "rest": rest}
    for name, value in expected.items():
        assert got[name][0] == pytest.approx(value, rel=1e-9), name
    assert got["epoch"][0] == pytest.approx(sum(expected.values()), rel=1e-9)
    made = programs(cfg, epochs)
    assert made["half_critic_steps"].actor_updates == cfg.actor_updates == made["double_actor_steps"].actor_updates / 2
    assert made["five_chunks"].chunk_epochs == made["five_evaluations"].eval_every == epochs // 5
