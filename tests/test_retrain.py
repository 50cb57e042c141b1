"""Retraining after drift: checkpoint continuation, the retrain program, recovery rows."""

import csv
import io
import subprocess
import sys

import numpy as np
import pytest

from d2rl_jax.config import HyperParams, train_preset
from d2rl_jax.drift import DriftScenario, drifted_params
from d2rl_jax.retrain import load_pretrained, pretrain, read_run_info, recovery_rows, retrain, write_run_info
from d2rl_jax.runner import run_training
from d2rl_jax.train import make_train

SEEDS = [0, 1]


@pytest.fixture(scope="module")
def cfg():
    return train_preset("small").replace(actor="mlp", chunk_epochs=10, eval_every=10, ma_window=5)


def test_retraining_from_a_checkpoint_equals_continuing_in_memory(cfg, tmp_path):
    hps = [HyperParams(), HyperParams(actor_lr=3e-4)]
    fns = make_train(cfg)  # no drift: retraining is just more training
    whole = run_training(cfg.with_schedule(epochs=40), SEEDS, hps, fns=fns, progress=None)
    pre = pretrain(cfg.with_schedule(epochs=20), fns, SEEDS, hps, checkpoint_dir=tmp_path / "pre" / "checkpoints",
                   progress=None)
    write_run_info(tmp_path / "pre", cfg, SEEDS, hps)
    del pre  # from the files alone
    saved_cfg, seeds, saved_hps = read_run_info(tmp_path / "pre")
    assert (saved_cfg, seeds, saved_hps) == (cfg, SEEDS, hps)
    epochs_done, state = load_pretrained(tmp_path / "pre", fns)
    assert epochs_done == 20
    result = retrain(cfg.with_schedule(epochs=20), fns, state, seeds, saved_hps, drift_epoch=20, progress=None)
    for name in ("sum_rate", "reward", "critic_loss", "actor_loss"):
        # the retrained half of a 4-run program vs a 2-run one: the same computation per run
        np.testing.assert_allclose(result.run.epoch_metrics[name][:2], whole.epoch_metrics[name][:, 20:],
                                   rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(result.run.eval_metrics["eval_sum_rate"][:2], whole.eval_metrics["eval_sum_rate"][:, 2:],
                               rtol=1e-5)
    np.testing.assert_array_equal(result.run.eval_metrics["eval_epoch"], [[30, 40]] * 2 + [[10, 20]] * 2)
    with pytest.raises(ValueError, match="drift epoch 10"):
        retrain(cfg.with_schedule(epochs=20), fns, state, seeds, saved_hps, drift_epoch=10, progress=None)
    with pytest.raises(FileNotFoundError, match="run.json"):
        read_run_info(tmp_path)


def test_retrain_meets_the_drifted_environment_beside_scratch_runs(cfg, small_env):
    env, before = small_env
    after = drifted_params(env.cfg, DriftScenario("noise", noise_rise_db=10.0))
    fns = make_train(cfg, drift_params=after)
    hps = [HyperParams()] * 2
    pre = pretrain(cfg.with_schedule(epochs=20), fns, SEEDS, hps, progress=None)
    result = retrain(cfg.with_schedule(epochs=30), fns, pre.final_state, SEEDS, hps, drift_epoch=20, progress=None)
    np.testing.assert_allclose(result.eval_before, pre.eval_metrics["eval_sum_rate"][:, -1], rtol=1e-5)
    assert (result.eval_after < result.eval_before).all()  # 10 dB more noise
    assert result.optimum_after < result.optimum_before
    assert result.run.epoch_metrics["drifted"].all()  # both halves play the new environment throughout
    rows = recovery_rows(result, cfg)
    assert [r["run"] for r in rows] == [0, 1]
    for row in rows:
        assert row["scratch_level"] > 0 and row["optimum_after"] == result.optimum_after
        assert row["recovery_epochs"] is None or 0 <= row["recovery_epochs"] < 30
        assert (row["recovery_seconds"] is None) == (row["recovery_epochs"] is None)
        assert row["loss_below_scratch_level"] >= 0


def _run(*args):
    return subprocess.run([sys.executable, "-m", "experiments.retrain", *args], capture_output=True, text=True,
                          timeout=300)


def test_retrain_cli_writes_the_table_and_figures_and_resumes(tmp_path):
    out = tmp_path / "retrain"
    args = ("--drift", "noise", "--noise_rise_db", "10", "--preset", "small", "--actor", "mlp",
            "--pretrain_epochs", "40", "--epochs", "20", "--seeds", "2", "--out", str(out))
    proc = _run(*args)
    assert proc.returncode == 0, proc.stderr
    for name in ("config.json", "retrain.md", "retrain.csv", "drift_sum_rate.png", "recovery.png",
                 "mlp.designed/rows.json", "mlp.designed/retrain.npz", "mlp.designed/pretrain/run.json",
                 "mlp.designed/pretrain/metrics.npz"):
        assert (out / name).stat().st_size > 0, name
    assert not (out / "mlp.designed" / "retrain").exists()  # its checkpoints go once the rows are written
    rows = list(csv.DictReader(io.StringIO((out / "retrain.csv").read_text())))
    assert [(r["variant"], r["seed"], r["drift_epoch"]) for r in rows] == [("mlp.designed", "0", "40"),
                                                                          ("mlp.designed", "1", "40")]
    assert all(float(r["eval_after_drift"]) < float(r["eval_before_drift"]) for r in rows)  # 10 dB more noise
    report = (out / "retrain.md").read_text()
    assert "| mlp.designed | 2 |" in report and "noise floors +10 dB" in report
    curves = np.load(out / "mlp.designed" / "retrain.npz")
    assert curves["sum_rate"].shape == (4, 20) and curves["eval_epoch"][:, -1].tolist() == [60, 60, 20, 20]

    again = _run(*args)  # must not mix with the finished run
    assert again.returncode != 0 and "--resume" in again.stderr
    resumed = _run(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "done earlier: kept" in resumed.stdout and (out / "retrain.md").read_text() == report
    other = _run(*args[:-2], "--epochs", "40", "--out", str(out), "--resume")
    assert other.returncode != 0 and "epochs" in other.stderr
    # another drift on the same pre-training: --from an output directory reuses every variant's pretrain/
    hotspot = _run("--drift", "hotspot", "--from", str(out), "--epochs", "20", "--out", str(tmp_path / "hotspot"))
    assert hotspot.returncode == 0, hotspot.stderr
    assert f"loaded 2 run(s) at epoch 40 from {out / 'mlp.designed' / 'pretrain'}" in hotspot.stdout
    assert "| mlp.designed | 2 |" in (tmp_path / "hotspot" / "retrain.md").read_text()


@pytest.mark.parametrize("args, message", [
    (("--drift", "hotspot", "--hotspot_width", "0"), "hotspot_width_deg"),
    (("--drift", "clutter_move", "--clutter_angles", "10"), "clutter_angles_deg"),
    (("--drift", "noise", "--from", "nowhere"), "run.json"),
    (("--drift", "noise", "--from", "x", "--grid", "action_exp"), "--from"),
    (("--drift", "noise", "--pretrain_epochs", "30", "--epochs", "20", "--chunk", "20"), "--chunk=20"),
])
def test_retrain_cli_rejects_bad_settings_before_writing(tmp_path, args, message):
    proc = _run(*args, "--preset", "small", "--out", str(tmp_path / "out"))
    assert proc.returncode != 0 and message in proc.stderr
    assert not (tmp_path / "out").exists()
