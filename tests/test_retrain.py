"""Retraining after drift: checkpoint continuation, the retrain program, recovery rows."""

import csv
import io
import subprocess
import sys

import numpy as np
import pytest

from d2rl_jax.config import HyperParams, train_preset
from d2rl_jax.env.full_duplex.drift import DriftScenario, drifted_params
from d2rl_jax.run.results import read_metrics
from d2rl_jax.run.retrain import (
    RetrainResult,
    final_level,
    load_pretrained,
    pretrain,
    read_run_info,
    recovery_rows,
    retrain,
    write_run_info,
)
from d2rl_jax.run.runner import RunResult, run_training
from d2rl_jax.run.statistics import moving_average, recovery_epoch, recovery_loss
from d2rl_jax.training import make_train

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
    # runs [0, 2) continue the pre-trained ones (evaluated at epochs 30 .. 50), runs [2, 4) start from scratch
    np.testing.assert_array_equal(result.run.eval_metrics["eval_epoch"], [[30, 40, 50]] * 2 + [[10, 20, 30]] * 2)
    rows = recovery_rows(result, cfg)
    assert [r["run"] for r in rows] == [0, 1]
    # Every reported number, recomputed from the run's own curves: retrained = runs [0, n), scratch = [n, 2n).
    curves = moving_average(result.run.epoch_metrics["sum_rate"], cfg.ma_window)  # no state exploration here
    evals = result.run.eval_metrics["eval_sum_rate"]

    def expected(retrained, scratch, eval_retrained, eval_scratch, i):
        target = final_level(scratch).mean()  # both points have the same hyperparameters: one scratch level
        epochs = recovery_epoch(retrained[i], target, 0, cfg.convergence_tolerance)
        return {"scratch_level": target, "retrained_level": final_level(retrained[i]),
                "recovery_epochs": epochs,
                "optimum_recovery_epochs": recovery_epoch(retrained[i], result.optimum_after, 0,
                                                          cfg.convergence_tolerance),
                "loss_below_scratch_level": recovery_loss(retrained[i], target, 0),
                "gain_over_scratch": (retrained[i] - scratch[i]).sum(),
                "eval_final": eval_retrained[i, -1], "scratch_eval_final": eval_scratch[i, -1]}

    for i, row in enumerate(rows):
        right = expected(curves[:2], curves[2:], evals[:2], evals[2:], i)
        swapped = expected(curves[2:], curves[:2], evals[2:], evals[:2], i)
        for name, value in right.items():
            if value is None:
                assert row[name] is None, name
            else:
                assert row[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name
        # the halves are told apart: a swap would report other levels, gain and final evaluations
        for name in ("scratch_level", "retrained_level", "gain_over_scratch", "eval_final", "scratch_eval_final"):
            assert swapped[name] != pytest.approx(right[name], rel=1e-6, abs=1e-9), name
        assert row["optimum_after"] == result.optimum_after and row["optimum_before"] == result.optimum_before
        assert row["eval_before_drift"] == result.eval_before[i] and row["eval_after_drift"] == result.eval_after[i]
        assert row["seconds_per_epoch"] == pytest.approx(result.run.seconds_per_epoch / 4)
        assert row["recovery_seconds"] == (None if row["recovery_epochs"] is None
                                           else pytest.approx(row["recovery_epochs"] * row["seconds_per_epoch"]))
        # 0.8 C* of the drifted environment: held-out C/C*, the retrained run's series from its policy right after
        # the drift (epoch 0), a trailing mean over ma_window // eval_every evaluations (at least one)
        ratios = evals / result.optimum_after
        retrained_80 = _first_ma_reaching([0, *(result.run.eval_metrics["eval_epoch"][i] - 20)],
                                          [result.eval_after[i] / result.optimum_after, *ratios[i]], cfg)
        scratch_80 = _first_ma_reaching(result.run.eval_metrics["eval_epoch"][2 + i], ratios[2 + i], cfg)
        for name, epochs in (("recovery_80pct", retrained_80), ("scratch_80pct", scratch_80)):
            assert row[f"{name}_epochs"] == epochs, name
            assert row[f"{name}_seconds"] == (None if epochs is None
                                              else pytest.approx(epochs * row["seconds_per_epoch"]))


def _first_ma_reaching(epochs, ratios, cfg, level=0.8):
    """The 0.8 C* rule written out: the first epoch whose trailing mean over max(1, ma_window // eval_every)
    evaluations (fewer at the start) is >= level."""
    window = max(1, cfg.ma_window // cfg.eval_every)
    ratios = np.asarray(ratios, np.float64)
    for j, epoch in enumerate(epochs):
        if ratios[max(0, j - window + 1):j + 1].mean() >= level:
            return int(epoch)
    return None


def _known_result(cfg, optimum_after=1.1, eval_sum_rate=((1.0, 2.0), (3.0, 4.0), (5.0, 6.0), (7.0, 8.0)),
                  eval_after=(2.0, 2.5)):
    """A RetrainResult with hand-made curves: retrained runs 0 (a ramp 0.5 .. 0.95, then 1.0) and 1 (1.2
    throughout), their scratch runs 2 (0.8) and 3 (0.9); the two points have different hyperparameters.
    Evaluations at epochs 30 and 40 for the retrained runs (drift at 20), 10 and 20 for the scratch runs."""
    ramp = np.concatenate([0.5 + 0.05 * np.arange(10), np.ones(10)])
    sum_rate = np.stack([ramp, np.full(20, 1.2), np.full(20, 0.8), np.full(20, 0.9)])
    run = RunResult(epoch_metrics={"sum_rate": sum_rate},
                    eval_metrics={"eval_sum_rate": np.array(eval_sum_rate),
                                  "eval_epoch": np.array([[30, 40], [30, 40], [10, 20], [10, 20]])},
                    compile_s=0.0, seconds_per_epoch=0.4, chunk_seconds=[], resumed_from_chunk=0, final_state=None,
                    fns=None)
    return RetrainResult(run=run, num_retrained=2, drift_epoch=20, hparams=[HyperParams(), HyperParams(actor_lr=1e-3)],
                         eval_before=np.array([3.0, 3.5]), eval_after=np.array(eval_after), optimum_before=1.5,
                         optimum_after=optimum_after)


def test_recovery_rows_on_known_curves(cfg):
    rows = recovery_rows(_known_result(cfg), cfg.replace(ma_window=1), tolerance=0.02)
    # run 0 against its scratch level 0.8: below 0.98 x 0.8 until the ramp's 0.8 at epoch 6; lost
    # 0.3 + 0.25 + ... + 0.05; the ramp's area over the scratch curve 7.25 + 10 - 16; never within 2% of C* = 1.1
    # run 1 against 0.9: above throughout; gain 0.3 x 20; within 2% of C* from the start
    expected = [
        {"run": 0, "scratch_level": 0.8, "retrained_level": 1.0, "recovery_epochs": 6, "recovery_seconds": 0.6,
         "optimum_recovery_epochs": None, "loss_below_scratch_level": 1.05, "gain_over_scratch": 1.25,
         "eval_final": 2.0, "scratch_eval_final": 6.0, "eval_before_drift": 3.0, "eval_after_drift": 2.0},
        {"run": 1, "scratch_level": 0.9, "retrained_level": 1.2, "recovery_epochs": 0, "recovery_seconds": 0.0,
         "optimum_recovery_epochs": 0, "loss_below_scratch_level": 0.0, "gain_over_scratch": 6.0,
         "eval_final": 4.0, "scratch_eval_final": 8.0, "eval_before_drift": 3.5, "eval_after_drift": 2.5},
    ]
    for row, want in zip(rows, expected, strict=True):
        for name, value in want.items():
            assert row[name] == (None if value is None else pytest.approx(value, abs=1e-9)), (row["run"], name)
        assert row["seconds_per_epoch"] == pytest.approx(0.1) and row["ma_window"] == 1
        assert (row["optimum_before"], row["optimum_after"]) == (1.5, 1.1)
    # the moving average (window 5) is taken before the levels: the ramp's curve lags, run 1's does not
    averaged = recovery_rows(_known_result(cfg), cfg, tolerance=0.02)
    ramp_ma = moving_average(np.concatenate([0.5 + 0.05 * np.arange(10), np.ones(10)]), 5)
    assert averaged[0]["recovery_epochs"] == int(np.flatnonzero(ramp_ma < 0.98 * 0.8)[-1]) + 1 > 6
    assert averaged[1]["recovery_epochs"] == 0 and averaged[1]["gain_over_scratch"] == pytest.approx(6.0)


def test_time_to_80pct_of_the_drifted_optimum_on_known_evaluations(cfg):
    """Held-out C / C*_after: run 0 starts at 0.45 right after the drift, then 0.82, 0.91; run 1 starts at 0.86
    (already there: 0 epochs), then falls; their scratch runs reach 0.45, 0.86 and 0.09, 0.18."""
    from experiments.retrain_report import _milestone_cell, _variant_line

    known = _known_result(cfg, eval_sum_rate=((0.9, 1.0), (0.2, 0.3), (0.5, 0.95), (0.1, 0.2)), eval_after=(0.5, 0.95))
    ratios = np.array([[0.9, 1.0], [0.2, 0.3], [0.5, 0.95], [0.1, 0.2]]) / 1.1
    after = np.array([0.5, 0.95]) / 1.1
    for ma_window, expected in ((20, [(20, None), (0, None)]),  # 2 evaluations: run 0 averages 0.45, 0.64, 0.86
                                (1, [(10, 20), (0, None)])):  # 1 evaluation: the raw series
        c = cfg.replace(ma_window=ma_window)
        rows = recovery_rows(known, c, tolerance=0.02)
        for i, (row, (retrained, scratch)) in enumerate(zip(rows, expected, strict=True)):
            assert (row["recovery_80pct_epochs"], row["scratch_80pct_epochs"]) == (retrained, scratch), ma_window
            assert retrained == _first_ma_reaching([0, 10, 20], [after[i], *ratios[i]], c)
            assert scratch == _first_ma_reaching([10, 20], ratios[2 + i], c)
            for name, epochs in (("recovery_80pct", retrained), ("scratch_80pct", scratch)):
                assert row[f"{name}_seconds"] == (None if epochs is None else pytest.approx(0.1 * epochs)), name
            assert row["optimum_recovery_seconds"] == (None if row["optimum_recovery_epochs"] is None
                                                       else pytest.approx(0.1 * row["optimum_recovery_epochs"]))
    # the report's cells: runs that reached it / runs, mean epochs and device seconds of those
    line = _variant_line(recovery_rows(known, cfg.replace(ma_window=1), tolerance=0.02))
    assert _milestone_cell(line["to_80pct"]) == "2/2 · 5 epochs · 0.50 s"
    assert _milestone_cell(line["scratch_to_80pct"]) == "1/2 · 20 epochs · 2.00 s"
    old = [{k: v for k, v in r.items() if "80pct" not in k} for r in rows]  # rows.json written before the columns
    assert _milestone_cell(_variant_line(old)["to_80pct"]) == "—"


def _run(*args):
    return subprocess.run([sys.executable, "-m", "experiments.retrain", *args], capture_output=True, text=True,
                          timeout=300)


def test_retrain_cli_writes_the_table_and_figures_and_resumes(tmp_path, strict_json, command):
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
    assert strict_json(out) >= 4  # config, rows, run.json, the pre-training's settings.json
    rows = list(csv.DictReader(io.StringIO((out / "retrain.csv").read_text())))
    assert [(r["variant"], r["seed"], r["drift_epoch"]) for r in rows] == [("mlp.designed", "0", "40"),
                                                                          ("mlp.designed", "1", "40")]
    assert all(float(r["eval_after_drift"]) < float(r["eval_before_drift"]) for r in rows)  # 10 dB more noise
    report = (out / "retrain.md").read_text()
    assert "| mlp.designed | 2 |" in report and "noise floors +10 dB" in report
    # both recovery targets, in epochs and device seconds, per run and in the report
    assert {"recovery_epochs", "recovery_seconds", "recovery_80pct_epochs", "recovery_80pct_seconds",
            "scratch_80pct_epochs", "scratch_80pct_seconds"} <= set(rows[0])
    assert "| to 0.8·C* (retrained) | to 0.8·C* (from scratch) |" in report
    # where the greedy policies end, as fractions of the drifted C*, recomputed from the rows
    final = np.mean([float(r["eval_final"]) / float(r["optimum_after"]) for r in rows])
    gap = np.mean([(float(r["eval_final"]) - float(r["scratch_eval_final"])) / float(r["optimum_after"]) for r in rows])
    assert f"| {final:.3f} ± " in report and f"| {gap:+.3f} ± " in report
    epoch_metrics, eval_metrics, _ = read_metrics(out / "mlp.designed" / "retrain.npz")
    assert epoch_metrics["sum_rate"].shape == (4, 20) and eval_metrics["eval_epoch"][:, -1].tolist() == [60, 60, 20, 20]

    again = command("experiments.retrain", *args)  # must not mix with the finished run
    assert again.returncode != 0 and "--resume" in again.stderr
    resumed = _run(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "done earlier: kept" in resumed.stdout and (out / "retrain.md").read_text() == report
    other = command("experiments.retrain", *args[:-2], "--epochs", "40", "--out", str(out), "--resume")
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
def test_retrain_cli_rejects_bad_settings_before_writing(command, tmp_path, args, message):
    proc = command("experiments.retrain", *args, "--preset", "small", "--out", str(tmp_path / "out"))
    assert proc.returncode != 0 and message in proc.stderr
    assert not (tmp_path / "out").exists()
