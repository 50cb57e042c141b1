"""Entry points run end to end on tiny settings and reject bad flags with a message naming them."""

import json
import subprocess
import sys

import numpy as np
import pytest

from d2rl_jax.run.results import read_metrics
from d2rl_jax.run.retrain import read_run_info
from d2rl_jax.run.statistics import convergence_epoch, moving_average
from d2rl_jax.run.tensorboard import read_scalars


def _run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def test_baselines_cli_writes_results(tmp_path):
    out = tmp_path / "baselines"
    proc = _run("experiments.baselines", "--preset", "small", "--num_states", "8", "--optimizer_restarts", "2",
                "--optimizer_steps", "10", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "optimizer C*" in proc.stdout and "upper bound R'" in proc.stdout
    data = json.loads((out / "baselines.json").read_text())
    rates = data["sum_rate_bit_per_s_per_hz"]
    assert rates["heuristic (MRT + MMSE)"]["mean"] <= rates["upper bound R'"]["mean"]
    assert rates["optimizer C*"]["ratio_to_optimizer"] == pytest.approx(1.0)
    assert not list(out.glob(".*.tmp*"))  # no temp files left behind


@pytest.mark.parametrize("flag, value", [("--num_states", "0"), ("--preset", "huge")])
def test_baselines_cli_rejects_bad_flags(command, flag, value):
    proc = command("experiments.baselines", flag, value)
    assert proc.returncode != 0
    assert flag.lstrip("-") in proc.stderr


def test_run_cli_trains_plots_and_resumes(tmp_path, strict_json, command):
    out = tmp_path / "run"
    args = ("experiments.run", "--preset", "small", "--actor", "mlp", "--epochs", "100", "--chunk", "50",
            "--eval_every", "50", "--seeds", "2", "--reward", "designed_mlp", "--state_exp", "--M", "0.3",
            "--eta", "0.05", "--T", "1e9", "--critic_updates", "2", "--policy_delay", "2", "--out", str(out))
    proc = _run(*args)
    assert proc.returncode == 0, proc.stderr
    assert "critic cos" in proc.stdout and "C/C*" in proc.stdout  # the progress line reads learning
    variant = "mlp.designed_mlp.state"  # named as in the sweep grids
    for name in ("config.json", "summary.json", "summary.txt", "sum_rate.png", "ma_reward.png", "learning.png",
                 "critic.png", "eval_sum_rate.png", "chi.png", f"{variant}/metrics.npz",
                 "mlp.designed.apg/metrics.npz"):
        assert (out / name).stat().st_size > 0, name
    config = json.loads((out / "config.json").read_text())
    assert config["train_config"]["reward"] == "designed_mlp" and config["train_config"]["state_exploration"]
    assert config["train_config"]["critic_updates"] == 2
    # the APG ceiling beside it, as in every grid: the designed reward, no state exploration
    apg = config["variants"]["mlp.designed.apg"]
    assert apg["learner"] == "apg" and apg["reward"] == "designed" and not apg["state_exploration"]
    everything = json.loads((out / "summary.json").read_text())
    assert set(everything["variants"]) == {variant, "mlp.designed.apg"}
    assert everything["variants"]["mlp.designed.apg"]["learner"] == "apg"
    assert -1 <= everything["variants"][variant]["final_critic_alignment"] <= 1
    assert set(everything["references"]) == {"C* (optimizer)", "R' (upper bound)", "heuristic (MRT + MMSE)",
                                             "random actions"}
    assert config["hyperparams"]["max_replace_prob"] == 0.3 and config["hyperparams"]["replace_rate"] == 0.05
    assert config["hyperparams"]["gate_threshold"] == 1e9  # --T, the alias of --gate_threshold
    summary = json.loads((out / "summary.json").read_text())["variants"][variant]
    assert summary["seeds"] == 2 and summary["seconds_per_epoch_per_run"] > 0
    # the convergence epochs are DESIGN §8's rule on the saved curves (the real environment's MA sum rate)
    epochs, evals, _ = read_metrics(out / variant / "metrics.npz")
    ma = moving_average(epochs["real_sum_rate"], config["train_config"]["ma_window"])
    expected = [convergence_epoch(ma[i], config["train_config"]["convergence_tolerance"]) for i in range(2)]
    assert summary["convergence_epoch_per_seed"] == expected and summary["convergence_epoch"] == np.mean(expected)
    assert summary["chi_rise_epoch_per_seed"] == [1, 1] and summary["final_chi"] == pytest.approx(0.3)
    assert summary["replacements"] > 0
    assert summary["final_eval_reward"] == pytest.approx(float(np.mean(evals["eval_reward"][:, -1])))
    # TensorBoard: every run's per-epoch and per-evaluation scalars, as in metrics.npz
    for seed in (0, 1):
        scalars = read_scalars(out / "tensorboard" / variant / f"seed_{seed}")
        for tag, values in (("train/sum_rate", epochs["sum_rate"]), ("train/chi", epochs["chi"]),
                            ("train/critic_loss", epochs["critic_loss"]), ("eval/ratio_to_optimizer",
                                                                           evals["eval_ratio_to_optimizer"])):
            steps = [step for step, _ in scalars[tag]]
            expected_steps = list(range(1, 101)) if tag.startswith("train") else [50, 100]
            assert steps == expected_steps, tag
            np.testing.assert_allclose([v for _, v in scalars[tag]], values[seed], rtol=1e-6, err_msg=tag)
        assert [step for step, _ in scalars["time/seconds_per_epoch"]] == [50, 100]
    resumed = _run(*args, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from chunk 2/2" in resumed.stdout
    assert strict_json(out) == 10  # config, summary; per variant run.json, settings.json and two checksum files
    assert json.loads((out / "summary.json").read_text())["variants"][variant]["final_eval_sum_rate"] == \
        pytest.approx(summary["final_eval_sum_rate"])
    config_before = (out / "config.json").read_text()
    again = command(*args[:-2], "--out", str(out), "--seeds", "3")  # a new run must not overwrite or mix with it
    assert again.returncode != 0 and "already holds checkpoints" in again.stderr and "--resume" in again.stderr
    assert (out / "config.json").read_text() == config_before
    # a resume at another learning rate would record it and keep the optimizer state's: refused, nothing rewritten
    changed = command(*args, "--resume", "--actor_lr", "7e-4")
    assert changed.returncode != 0 and "hyperparams.actor_lr: saved" in changed.stderr, changed.stderr[-2000:]
    assert (out / "config.json").read_text() == config_before
    # its runs can be retrained after a drift: run.json describes them for `experiments.retrain --from`
    # (the loading itself is tested on the retrain command's own pre-training, the same checkpoint layout)
    cfg, seeds, hps = read_run_info(out / variant)
    assert json.loads(json.dumps(cfg.to_dict())) == {**config["train_config"], "actor": "mlp"}
    assert seeds == [0, 1] and [hp.to_dict() for hp in hps] == [config["hyperparams"]] * 2
    assert (out / variant / "checkpoints").is_dir()


# (--actor transformer: test_every_cli_rejects_a_bad_flag_in_one_line_and_writes_nothing)
@pytest.mark.parametrize("args, flag", [(("--epochs", "0"), "epochs"),
                                        (("--actor", "mlp", "--apg_reference", "diffusion"), "--apg_reference"),
                                        (("--learner", "apg", "--reward", "gdm"), "learner='apg'"),
                                        (("--critic_updates", "4", "--policy_delay", "3"), "--critic_updates"),
                                        (("--epochs", "75", "--chunk", "50"), "num_epochs"),
                                        (("--reward", "learned"), "reward"),
                                        (("--M", "1.5"), "max_replace_prob=1.5 is invalid: must be in [0.0, 1.0] "
                                                         "(flag --M)")])
def test_run_cli_rejects_bad_flags(command, args, flag):
    proc = command("experiments.run", "--preset", "small", *args)
    assert proc.returncode != 0
    assert flag in proc.stderr


def test_gate_range_cli_reports_both_gates(tmp_path):
    out = tmp_path / "gate"
    proc = _run("experiments.gate_range", "--preset", "small", "--epochs", "40", "--chunk", "20", "--seeds", "1",
                "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads((out / "gate_range.json").read_text())
    series = np.load(out / "gate_range.npz")
    for gate in ("reconstruction", "eps_loss"):
        levels, values = data["levels"][gate], series[gate]
        assert values.shape == (1, 40) and levels["1.00"]["epoch"] == 39
        assert levels["1.00"]["mean"] == pytest.approx(float(values[0, 39]))
        assert levels["0.05"]["mean"] == pytest.approx(float(values[0, 1]))
        assert levels["min_over_run"] == pytest.approx(float(np.nanmin(values)))
    # the SENPNN learns: both gate quantities fall over the run (measured: reconstruction 17.55 -> 17.26,
    # eps-loss 1.137 -> 1.117 in 40 epochs)
    assert series["reconstruction"][0, -1] < series["reconstruction"][0, 1] - 0.1
    assert series["eps_loss"][0, -1] < series["eps_loss"][0, 1] - 0.01
    # the small preset steps T = 256 >= batch environments per epoch: the SENPNN trains from the first epoch on
    assert data["levels"]["eps_loss"]["0.05"]["mean"] > 0
    assert (out / "gate_range.png").stat().st_size > 0 and "paper T = 0.0005" in (out / "gate_range.txt").read_text()


@pytest.mark.parametrize("module, args, flag", [
    ("experiments.run", ("--actor", "transformer"), "--actor"),
    ("experiments.sweep", ("--grid", "nonsense"), "--grid"),
    ("experiments.retrain", ("--drift", "noise", "--actor", "transformer"), "--actor"),
    ("experiments.figures", ("--from", "no_such_sweep"), "--from"),
    ("experiments.learning_report", ("--from", "no_such_sweep"), "--from"),
    ("experiments.baselines", ("--preset", "huge"), "--preset"),
    ("experiments.gate_range", ("--preset", "huge"), "--preset"),
])
def test_every_cli_rejects_a_bad_flag_in_one_line_and_writes_nothing(command, tmp_path, module, args, flag):
    proc = command(module, *args, "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and proc.stdout == "", (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{module}: error: ") and flag in lines[0], proc.stderr
    assert not (tmp_path / "out").exists()
