"""Sweeps: grids, the memory planner, chunked = unchunked, resume after a kill, figures and reproduction.md."""

import csv
import json
import math
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest

from d2rl_jax.config import REWARD_DESIGNS, ConfigError
from d2rl_jax.env import FullDuplexEnv
from d2rl_jax.run.grids import LEARN_EXP_SETTINGS, RAW_STATE_EXP_POINT, STATE_EXP_DESIGNS, make_grid, sweep_config
from d2rl_jax.run.memory import measured_run_bytes, plan_chunks, run_bytes
from d2rl_jax.run.summaries import select_best_points
from d2rl_jax.run.sweep import load_metrics, plan_sweep, run_sweep
from experiments.sweep_data import SweepData

# Columns that measure wall time: they differ between two runs of the same sweep.
TIMING = {"seconds_per_epoch", "seconds_to_convergence", "chunk_train_s", "steady_chunk_s_per_epoch", "compile_s",
          "seconds_to_50pct", "seconds_to_80pct", "ma_seconds_to_80pct"}
TINY = dict(epochs=20, chunk=10)
# The CLI form of the reference sweeps below: 2 variants and the APG ceiling x 2 seeds, one run per chunk (6 chunks).
CLI_ARGS = ("--grid", "reward_exp", "--preset", "small", "--actor", "mlp", "--designs", "raw,designed",
            "--seeds", "2", "--epochs", "20", "--chunk", "10", "--max_chunk", "1")


def test_grids_are_the_papers():
    state = make_grid("state_exp")
    sweeps = [v for v in state if v.state_exploration and v.reward != "raw"]
    assert [v.reward for v in sweeps] == list(STATE_EXP_DESIGNS)
    assert all(len(v.points) == 30 for v in sweeps)  # M in 0.1..1.0 x eta in {0.001, 0.01, 0.1}
    assert {(p.max_replace_prob, p.replace_rate) for p in sweeps[0].points} == {
        (m / 10, e) for m in range(1, 11) for e in (0.001, 0.01, 0.1)}
    assert {v.name for v in state if not v.state_exploration} == {
        f"diffusion.{d}" for d in (*STATE_EXP_DESIGNS, "raw")}  # the baselines
    assert [v.name for v in make_grid("action_exp")] == ["mlp.designed", "diffusion.designed"]
    assert len(make_grid("reward_exp")) == 5
    narrowed = make_grid("state_exp", M=[0.1, 0.5], eta=[0.01], designs=["gdm"], baselines=False)
    assert [(v.name, len(v.points)) for v in narrowed] == [("diffusion.gdm.state", 2)]
    for kwargs, field in (({"M": [1.5]}, "--M"), ({"eta": []}, "--eta"), ({"designs": ["learned"]}, "--designs")):
        with pytest.raises(ConfigError, match=field):
            make_grid("state_exp", **kwargs)
    retrain = make_grid("retrain_exp")  # actor kinds, the five designs, state exploration on/off
    assert [v.name for v in retrain] == ["mlp.designed", *(f"diffusion.{d}" for d in REWARD_DESIGNS),
                                         "diffusion.designed.state", "diffusion.designed_gdm.state"]
    assert [(p.max_replace_prob, p.replace_rate) for p in retrain[-1].points] == [RAW_STATE_EXP_POINT]
    assert [v.name for v in make_grid("retrain_exp", actors=["mlp"])] == ["mlp.designed"]
    with pytest.raises(ConfigError, match="no variant"):
        make_grid("retrain_exp", actors=["mlp"], designs=["gdm"])


def test_planner_fits_three_runs_in_three_and_a_half_runs_of_memory():
    x = 123_456_789
    plan = plan_chunks(10, x, int(3.5 * x))
    assert (plan.chunk_size, plan.num_chunks, plan.padded_runs) == (3, 4, 2)
    assert plan.chunk_runs(0) == [0, 1, 2] and plan.chunk_runs(3) == [9, 9, 9]  # padded with the last run
    assert plan_chunks(9, x, int(3.5 * x)).padded_runs == 0
    assert plan_chunks(10, x, 100 * x).chunk_size == 10  # all fit: one chunk
    assert plan_chunks(6, x, 100 * x, num_devices=4).chunk_size == 4  # a multiple of the devices
    with pytest.raises(MemoryError, match="MiB"):
        plan_chunks(3, x, x - 1)


@pytest.fixture(scope="module")
def tiny_plan():
    cfg, hp = sweep_config("small", **TINY)
    return cfg, make_grid("reward_exp", hp, actors=["mlp"], designs=["raw", "designed"], references=True)


def test_bytes_per_run_count_the_replay_buffer_exactly(tiny_plan):
    cfg, variants = tiny_plan
    plan = plan_sweep("reward_exp", variants[1:], cfg, [0], budget_bytes=2**30, measure=False)
    env = FullDuplexEnv(cfg.env)
    nbytes = run_bytes(cfg, plan.variants[0].fns)
    # obs + action + reward + done per row, float32, plus the buffer's position and size counters
    row = 4 * (env.observation_size + env.action_size + 2)
    assert cfg.buffer_size * row <= nbytes.replay_buffer <= cfg.buffer_size * row + 64
    assert 2 * nbytes.params <= nbytes.optimizer <= 2 * nbytes.params + 1024  # Adam's two moments
    assert nbytes.total > nbytes.replay_buffer + nbytes.params + nbytes.optimizer


def test_planned_bytes_cover_xla_measured_bytes():
    """The planner reserves XLA's peak of the chunk it compiles (x the margin): at least the peak per run that
    XLA measures for a larger chunk of the same variant, and at most twice it. The analytic estimate alone
    missed this one by 1.6x and the RENPNN designs by 1.9x (docs/sweeps.md; benchmarks/memory_plan.py checks
    every variant of every grid)."""
    cfg, hp = sweep_config("small", epochs=4, chunk=2)
    grid, variant = "reward_exp", "diffusion.raw"  # the estimate: 0.64x of XLA's peak (0.53x with a RENPNN)
    variants = [v for v in make_grid(grid, hp) if v.name == variant]
    plan = plan_sweep(grid, variants, cfg.replace(eval_every=2), [0, 1], budget_bytes=2**34).variants[0]
    assert plan.chunks.chunk_size == 2 and plan.run_bytes.xla_peak is not None
    measured = measured_run_bytes(plan.fns, 3)
    assert measured <= plan.run_bytes.total <= 2 * measured, (plan.run_bytes.to_dict(), measured)
    # the program the planner compiled is the one the runner executes: no second compile for the chunk
    assert len(plan.fns.compiled) == 2


@pytest.fixture(scope="module")
def reference_sweeps(tiny_plan, tmp_path_factory):
    """The tiny sweep run one run per chunk (as the CLI test below runs it) and as one chunk per variant."""
    cfg, variants = tiny_plan
    root = tmp_path_factory.mktemp("reference")
    chunked = plan_sweep("reward_exp", variants, cfg, [0, 1], budget_bytes=2**30, max_chunk=1)
    whole = plan_sweep("reward_exp", variants, cfg, [0, 1], budget_bytes=2**30)
    assert [(v.chunks.chunk_size, v.chunks.num_chunks) for v in chunked.variants] == [(1, 2)] * 3
    assert [(v.chunks.chunk_size, v.chunks.num_chunks) for v in whole.variants] == [(2, 1)] * 3
    rows = run_sweep(chunked, root / "chunked", progress=None, checkpoints=False)
    run_sweep(whole, root / "whole", progress=None, checkpoints=False)
    return root, whole, rows


def test_chunked_execution_equals_one_chunk(reference_sweeps):
    root, whole, rows = reference_sweeps
    assert [(r["variant"], r["seed"]) for r in rows] == [("mlp.raw", 0), ("mlp.raw", 1), ("mlp.designed", 0),
                                                         ("mlp.designed", 1), ("mlp.designed.apg", 0),
                                                         ("mlp.designed.apg", 1)]
    _assert_rows_close(_csv(root / "chunked" / "summary.csv", drop=("chunk",)),
                       _csv(root / "whole" / "summary.csv", drop=("chunk",)))
    for variant in ("mlp.raw", "mlp.designed", "mlp.designed.apg"):
        (ep_c, ev_c), (ep_w, ev_w) = (load_metrics(root / d, variant) for d in ("chunked", "whole"))
        for name in ep_w:
            np.testing.assert_allclose(ep_c[name], ep_w[name], rtol=1e-4, atol=1e-5, err_msg=name)
        for name in ev_w:
            np.testing.assert_allclose(ev_c[name], ev_w[name], rtol=1e-4, atol=1e-5, err_msg=name)
    with pytest.raises(FileExistsError, match="resume"):
        run_sweep(whole, root / "whole", progress=None)


def _assert_rows_close(rows, expected):
    """Equal rows; numbers to float32 round-off (a vmapped program may order a reduction differently)."""
    assert len(rows) == len(expected) and [list(r) for r in rows] == [list(r) for r in expected]
    for row, want in zip(rows, expected, strict=True):
        for key, value in row.items():
            try:
                expected = pytest.approx(float(want[key]), rel=1e-4, abs=1e-6, nan_ok=True)  # NaN: APG has no critic
                assert float(value) == expected, (key, row, want)
            except ValueError:
                assert value == want[key], (key, row, want)


def _csv(path, drop=()):
    """Rows without the wall-time columns (and `drop`): what two runs of one sweep must share."""
    with open(path, newline="") as f:
        return [{k: v for k, v in row.items() if k not in TIMING and k not in drop and k != "chunk_runs"}
                for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def resumed_sweep(tmp_path_factory):
    """The CLI sweep killed (SIGKILL) after its first chunk, then resumed."""
    out = tmp_path_factory.mktemp("resume") / "killed"
    proc = subprocess.Popen([sys.executable, "-m", "experiments.sweep", *CLI_ARGS, "--out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    first = out / "mlp.raw" / "chunk_000.json"
    deadline = time.monotonic() + 240
    while not first.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished_at_kill = len(list(out.glob("*/chunk_*.json")))
    resumed = subprocess.run([sys.executable, "-m", "experiments.sweep", *CLI_ARGS, "--out", str(out), "--resume"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    return out, finished_at_kill, resumed.stdout


def test_resume_after_a_kill_loses_no_run(resumed_sweep, reference_sweeps):
    out, finished_at_kill, stdout = resumed_sweep
    assert 1 <= finished_at_kill < 6  # killed mid-way: some chunks done, some not
    assert "finished earlier: skipped" in stdout
    rows = _csv(out / "summary.csv")
    assert len(rows) == 6
    _assert_rows_close(rows, _csv(reference_sweeps[0] / "chunked" / "summary.csv"))  # the uninterrupted sweep's
    for row in rows:
        # text columns, state exploration's (not run), milestones not reached in 20 epochs, and what APG lacks
        skip = {"variant", "actor", "reward", "learner", "point_label", "chi_rise_epoch", "final_chi", "replacements",
                "epoch_to_50pct", "seconds_to_50pct", "epoch_to_80pct", "seconds_to_80pct", "ma_epoch_to_80pct",
                "ma_seconds_to_80pct", "diverged_epoch"}
        assert row["diverged_epoch"] == ""  # no run diverged
        if row["learner"] == "apg":
            skip |= {"critic_alignment", "critic_error", "critic_grad_weight_sum", "critic_grad_bias_sum"}
        values = [float(v) for k, v in row.items() if k not in skip]
        assert all(math.isfinite(v) for v in values), row
    assert not list(out.glob("*/*.ckpt")) and not list(out.glob("**/.*.tmp*"))  # checkpoints of done chunks go


def test_resume_with_other_settings_is_refused_before_writing(resumed_sweep):
    out = resumed_sweep[0]
    before = {p: p.read_bytes() for p in (out / "plan.json", out / "summary.csv")}
    args = [a if a != "2" else "3" for a in CLI_ARGS]  # --seeds 3
    proc = subprocess.run([sys.executable, "-m", "experiments.sweep", *args, "--out", str(out), "--resume"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "was planned with other settings" in proc.stderr, proc.stderr[-2000:]
    assert {p: p.read_bytes() for p in before} == before


def test_figures_and_reproduction_from_a_tiny_sweep(resumed_sweep, tmp_path):
    out = resumed_sweep[0]
    proc = subprocess.run([sys.executable, "-m", "experiments.figures", "--from", str(out), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("fig4_reward_curves.png", "fig5_reward_gradients.png", "fig6_reward_time.png", "reproduction.md"):
        assert (tmp_path / name).stat().st_size > 0, name
    table = (tmp_path / "reproduction.md").read_text()
    assert "Fig. 6(a)" in table and "not measured" in table and "-58%" in table
    assert "| Fig. 6(a) | GDM R. cuts total time to convergence vs Designed R. | -55% | — | - | not measured |" in table
    raw = next(x for x in table.splitlines() if "and with the MLP actor" in x)
    assert "| plateau test | " in raw and "not measured" not in raw  # the MLP actor's raw and designed runs
    # the per-variant table: mlp.designed's distance to its APG ceiling, from the summary's final C/C*
    rows = _csv(out / "summary.csv")
    ratio = {v: np.mean([float(r["ratio_to_optimizer"]) for r in rows if r["variant"] == v])
             for v in ("mlp.designed", "mlp.designed.apg")}
    line = next(x for x in table.splitlines() if x.startswith("| mlp.designed | 2 |"))
    assert f"| mlp.designed.apg | {ratio['mlp.designed.apg']:.3f} ± " in line
    assert f"| {ratio['mlp.designed.apg'] - ratio['mlp.designed']:.3f} ± " in line


def test_best_point_selection_prefers_final_rate_then_early_convergence():
    # M=1.0 settles earliest but low (a collapsed policy); 0.5 and 0.9 tie on the rate: the earlier one wins
    rows = [{"variant": "v.state", "state_exploration": 1, "M": m, "eta": 0.01, "convergence_epoch": c,
             "final_sum_rate": r} for m, c, r in ((0.1, 50, 1.0), (0.1, 70, 1.0), (0.5, 40, 1.0), (0.5, 80, 3.0),
                                                  (0.9, 60, 1.5), (0.9, 50, 2.5), (1.0, 10, 0.5), (1.0, 10, 0.6))]
    best, rule = select_best_points(rows)
    assert best["v.state"]["M"] == 0.9 and best["v.state"]["convergence_epoch"] == 55
    assert best["v.state"]["final_sum_rate"] == 2.0 and "final held-out sum rate" in rule


def test_sweep_cli_rejects_a_bad_grid_value_before_writing(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "experiments.sweep", "--preset", "small", "--grid", "state_exp",
                           "--M", "0.5,2", "--out", str(tmp_path / "never")], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0 and "--M=(0.5, 2.0) is invalid" in proc.stderr, proc.stderr[-500:]
    assert not (tmp_path / "never").exists()


def test_learn_exp_grid_changes_one_setting_at_a_time():
    grid = make_grid("learn_exp", actors=["mlp"], settings=["default", "apg", "paper_literal", "mmse", "envs_256"])
    assert [v.name for v in grid] == ["mlp.designed.default", "mlp.designed.apg", "mlp.designed.paper_literal",
                                      "mlp.designed.mmse", "mlp.designed.envs_256"]
    base, _ = sweep_config("paper")
    configs = {v.name: v.config(base) for v in grid}
    assert configs["mlp.designed.apg"].learner == "apg" and configs["mlp.designed.mmse"].env.receiver == "mmse"
    literal = configs["mlp.designed.paper_literal"]
    assert (literal.exploration, literal.num_envs, literal.batch_size, literal.critic_updates) == (
        "epsilon_greedy", 16, 256, 1)
    assert configs["mlp.designed.envs_256"].replace(num_envs=base.num_envs) == configs["mlp.designed.default"]
    # the studies rerun from Step 7's learner whatever the presets' defaults are now (16 critic steps, CPQL, ...)
    default = configs["mlp.designed.default"]
    assert (base.critic_updates, base.imitation_target) == (16, "best_of_k")
    assert (default.critic_updates, default.imitation_target, default.eval_mode) == (8, "none", "sample")
    _, hp = sweep_config("paper")
    fair = {v.name: v for v in make_grid("diffusion_exp", hp, settings=["default", "best_noise_free"])}
    assert fair["diffusion.designed.default"].config(base) == default.replace(actor="diffusion")
    assert fair["diffusion.designed.default"].points[0].actor_temperature == 1.0 != hp.actor_temperature
    best = fair["diffusion.designed.best_noise_free"]  # the defaults are the study's best combination
    assert best.config(base) == base.replace(actor="diffusion") and best.points == (hp,)
    assert len(grid[0].points) == 4 and len(grid[1].points) == 1  # the default sweeps std x actor lr
    unswept = make_grid("learn_exp", actors=["mlp"], swept_points=False)
    assert [len(v.points) for v in unswept] == [1] * len(LEARN_EXP_SETTINGS)
    with pytest.raises(ConfigError, match="--settings"):
        make_grid("learn_exp", settings=["bigger"])


def test_sweep_data_takes_a_variant_from_the_sweep_that_finished_it(tmp_path):
    """A variant planned by the first sweep but run by a later one (a study continued in another directory) is read
    from the later one; a variant finished in both from the first."""
    for name, planned, finished in (("a", ["v1", "v2", "v3"], ["v1", "v3"]), ("b", ["v2", "v3"], ["v2", "v3"])):
        (tmp_path / name).mkdir()
        (tmp_path / name / "plan.json").write_text(json.dumps({"variants": [{"name": v, "config": {"dir": name}}
                                                                            for v in planned]}))
        (tmp_path / name / "summary.csv").write_text("variant,point,run\n" + "".join(f"{v},0,0\n" for v in finished))
    data = SweepData([tmp_path / "a", tmp_path / "b"])
    assert data.configs == {"v1": {"dir": "a"}, "v2": {"dir": "b"}, "v3": {"dir": "a"}}
    assert sorted(r["variant"] for r in data.rows) == ["v1", "v2", "v3"]


def test_sweep_data_reads_one_point_of_a_variant_under_an_alias(tmp_path):
    """learn_exp's setting at the preset's point read as `mlp.designed`: its rows (and, through the run indices,
    its metrics) only, under the new name; an alias that names no runs is refused with the points there are."""
    (tmp_path / "plan.json").write_text(json.dumps({"variants": [{"name": "m.s", "config": {"c": 1}}]}))
    (tmp_path / "summary.csv").write_text("variant,point,point_label,run,seed,x\n" + "".join(
        f"m.s,{p},\"lr={lr}\",{2 * p + s},{s},{10 * p + s}\n" for p, lr in enumerate((1, 2)) for s in range(2)))
    data = SweepData([tmp_path], {"mlp.designed": ("m.s", "lr=2")})
    assert not data.has("m.s") and data.configs["mlp.designed"] == {"c": 1}
    assert data.values("mlp.designed", "x").tolist() == [10, 11] and {r["point"] for r in data.rows} == {0}
    from d2rl_jax.run.results import write_metrics

    ratios = np.arange(4, dtype=float)[:, None] * np.ones((4, 3))  # run r's curve is r everywhere
    write_metrics(tmp_path / "m.s" / "chunk_0.npz", {"sum_rate": np.zeros((4, 3))},
                  {"eval_epoch": np.tile([1, 2, 3], (4, 1)), "eval_ratio_to_optimizer": ratios}, np.arange(4))
    np.testing.assert_array_equal(data.eval_curves("mlp.designed")[1][:, 0], [2.0, 3.0])  # runs 2 and 3: lr=2
    with pytest.raises(ValueError, match=r"no such runs .*'lr=1', 'lr=2'"):
        SweepData([tmp_path], {"mlp.designed": ("m.s", "lr=3")})


def test_reward_lr_runs_every_learned_design_at_each_rate():
    grid = make_grid("state_exp", designs=["designed", "gdm"], M=[0.4], eta=[0.01], reward_lr=[5e-5, 1e-3])
    points = {v.name: v.points for v in grid}
    assert [p.reward_lr for p in points["diffusion.gdm.state"]] == [5e-5, 1e-3]
    assert [p.reward_lr for p in points["diffusion.gdm"]] == [5e-5, 1e-3]
    assert len(points["diffusion.designed.state"]) == 1  # no reward network: nothing to sweep
    gdm_state = next(v for v in grid if v.name == "diffusion.gdm.state")
    assert gdm_state.point_label(1) == "M=0.4,eta=0.01,reward_lr=0.001"
    only = make_grid("reward_exp", designs=["designed_mlp"], reward_lr=[1e-3])
    assert [p.reward_lr for p in only[0].points] == [1e-3] and only[0].point_label(0) == "-"
    with pytest.raises(ConfigError, match="--reward_lr"):
        make_grid("reward_exp", reward_lr=[0.0])


def test_learn_exp_sweep_packs_and_reports(tmp_path):
    """The study's path end to end: a tiny learn_exp sweep, packed as on a device, unpacked, tabulated."""
    out = tmp_path / "learn"
    sweep = subprocess.run([sys.executable, "-m", "experiments.sweep", "--grid", "learn_exp", "--preset", "small",
                            "--settings", "default,apg", "--actor", "mlp", "--seeds", "2", "--epochs", "20",
                            "--chunk", "10", "--noswept_points", "--nocheckpoints", "--out", str(out)],
                           capture_output=True, text=True, timeout=300)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    archive = tmp_path / "learn.tar.gz"
    packed = subprocess.run([sys.executable, "-m", "benchmarks.pack_sweep", "--sweep", str(out), "--out",
                             str(archive), "--epoch_metrics", "sum_rate"], capture_output=True, text=True, timeout=120)
    assert packed.returncode == 0, packed.stderr[-3000:]
    unpacked = tmp_path / "unpacked"
    with tarfile.open(archive) as tar:
        tar.extractall(unpacked, filter="data")
    epoch, evals = load_metrics(unpacked / "learn", "mlp.designed.default")
    assert set(epoch) == {"sum_rate"} and "eval_critic_alignment" in evals  # only the kept series travel
    report = subprocess.run([sys.executable, "-m", "experiments.learning_report", "--from", str(unpacked / "learn"),
                             "--epochs", "10,20"], capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stderr[-3000:]
    table = (unpacked / "learn" / "learning.md").read_text()
    assert "| mlp.designed.default | 2 |" in table and "| mlp.designed.apg | 2 |" in table
    assert "C/C* @ 20" in table and (unpacked / "learn" / "learning_curves.png").stat().st_size > 0


def test_state_exp_rows_carry_the_m_and_eta_their_runs_trained_with(tmp_path):
    """Each row's M and eta are its own run's: with the gate open (T huge) chi climbs by eta per epoch to M, so
    the chi curve of the run a row names is min(eta x (epoch - 1), M) for that row's M and eta (0 at epoch 0,
    before the gate is first measured)."""
    cfg, hp = sweep_config("small", epochs=8, chunk=8)
    variants = make_grid("state_exp", hp.replace(gate_threshold=1e9), actors=["mlp"], designs=["designed"],
                         M=[0.2, 0.5], eta=[0.1, 0.25], baselines=False)
    plan = plan_sweep("state_exp", variants, cfg.replace(eval_every=8), [0], budget_bytes=2**34)
    rows = run_sweep(plan, tmp_path / "sweep", progress=None, checkpoints=False)
    assert sorted((r["M"], r["eta"]) for r in rows) == [(0.2, 0.1), (0.2, 0.25), (0.5, 0.1), (0.5, 0.25)]
    epoch_metrics, _ = load_metrics(tmp_path / "sweep", "mlp.designed.state")
    for row in rows:
        chi = epoch_metrics["chi"][row["run"]]
        np.testing.assert_allclose(chi, np.minimum(row["eta"] * np.arange(8), row["M"]), rtol=1e-5, err_msg=row)
        assert row["final_chi"] == pytest.approx(row["M"]) and row["chi_rise_epoch"] == 1


def test_one_point_state_sweep_draws_fig8_curves_and_fig9_times(tmp_path):
    """A state sweep at one (M, eta) point per design (the committed step10-cpu Raw R. sweep) gets Fig. 8's curves
    and Fig. 9's times; the (M, eta) maps and point intervals need two points and are not drawn."""
    from experiments.figures import state_figures

    sweep = Path(__file__).parent.parent / "benchmarks" / "results" / "cpu_reproduction_quick" / "state_exp_raw"
    paths = state_figures(SweepData([sweep]), tmp_path)
    assert sorted(p.name for p in paths) == ["fig8_state_curves.png", "fig9_state_time.png"]
    assert all(p.stat().st_size > 0 for p in paths)


# A sweep written by hand: per variant, per seed (final C, final C/C*, epoch to 0.8 C* by the moving-average rule;
# None: never reached). diffusion.designed has a seed that never reached 0.8 C*; the diffusion APG ceiling is absent.
KNOWN = {"mlp.designed": ([8.0, 8.2, 8.4], [0.80, 0.82, 0.84], [300, 400, 500]),
         "diffusion.designed": ([7.0, 7.2, 7.7], [0.70, 0.72, 0.77], [600, None, 700]),
         "diffusion.raw": ([3.0, 3.1, 3.2], [0.30, 0.31, 0.32], [None, None, None]),
         "mlp.designed.apg": ([9.0, 9.1, 9.5], [0.90, 0.91, 0.95], [50, 60, 50])}


def _known_sweep(directory):
    from d2rl_jax.run.sweep import CSV_COLUMNS
    from experiments.sweep_data import SweepData

    directory.mkdir(parents=True, exist_ok=True)
    config = {"num_epochs": 1000, "ma_window": 100, "eval_every": 50}
    plan = {"variants": [{"name": v, "config": config} for v in KNOWN], "base_config": config}
    (directory / "plan.json").write_text(__import__("json").dumps(plan))
    with open(directory / "summary.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS, restval="", lineterminator="\n")
        writer.writeheader()
        for variant, (rates, ratios, epochs) in KNOWN.items():
            for seed, (rate, ratio, epoch) in enumerate(zip(rates, ratios, epochs, strict=True)):
                writer.writerow({"variant": variant, "run": seed, "point": 0, "point_label": "-", "seed": seed,
                                 "M": 0.0, "eta": 0.0, "state_exploration": 0, "final_sum_rate": rate,
                                 "ratio_to_optimizer": ratio, "convergence_epoch": 100 + 10 * seed,
                                 "seconds_per_epoch": 0.5, "seconds_to_convergence": 0.5 * (100 + 10 * seed),
                                 "ma_epoch_to_80pct": "" if epoch is None else epoch,
                                 "ma_seconds_to_80pct": "" if epoch is None else 0.5 * epoch, "chunk_runs": 3})
    return SweepData([directory])


def test_reproduction_on_known_rows_reports_the_ceiling_distance(tmp_path):
    from experiments.reproduction import ceiling_distance, variant_table

    data = _known_sweep(tmp_path / "known")
    table = "\n".join(variant_table(data))
    # the distance to the APG ceiling: mean(ceiling) - mean(variant), errors in quadrature; none without a ceiling
    d = ceiling_distance(data, "mlp.designed")
    se = lambda x: np.std(x, ddof=1) / np.sqrt(3)  # noqa: E731
    assert d["ceiling"] == "mlp.designed.apg" and d["ratio"][0] == pytest.approx(0.82)
    assert d["distance"][0] == pytest.approx(np.mean(KNOWN["mlp.designed.apg"][1]) - 0.82)
    assert d["distance"][1] == pytest.approx(4.302652729911275 * np.hypot(se(KNOWN["mlp.designed"][1]),
                                                                           se(KNOWN["mlp.designed.apg"][1])))
    assert ceiling_distance(data, "diffusion.designed")["distance"] is None
    assert "| mlp.designed | 3 | 0.820 ± 0.050 | 3/3 (epoch 400) | mlp.designed.apg | 0.920 ± 0.066 " \
           f"| {d['distance'][0]:.3f} ± {d['distance'][1]:.3f} |" in table
    assert "| diffusion.designed | 3 | 0.730 ± 0.090 | 2/3 (epoch 650) | diffusion.designed.apg | — " \
           "| — (ceiling not trained) |" in table


def test_time_panels_show_both_rules_and_never_draw_an_unreached_run_as_zero(tmp_path):
    import matplotlib.pyplot as plt

    from experiments.figures import CONVERGED, REACHED_80, _time_panels
    from experiments.plots import draw_grouped_bars, plot_bar_panels

    data = _known_sweep(tmp_path / "known")
    entries = {"MLP": ("mlp.designed", None), "diffusion": ("diffusion.designed", None), "raw": ("diffusion.raw", None)}
    panels = _time_panels(data, entries, common=False)  # a hand-made summary: no evaluation curves
    total, _ = panels[0]
    np.testing.assert_array_equal(total[REACHED_80]["diffusion"], [300.0, np.nan, 350.0])
    np.testing.assert_array_equal(total[CONVERGED]["MLP"], [50.0, 55.0, 60.0])
    fig, ax = plt.subplots()
    marks = draw_grouped_bars(ax, total, "s", 0)
    heights = [bar.get_height() for bar in ax.patches if bar.get_height() > 0]
    plt.close(fig)
    assert marks == ["not reached 1/3", "not reached 3/3"]  # diffusion: hatched mean of 2; raw: no bar at all
    assert len(heights) == 5 and pytest.approx(325.0) in heights  # 3 + 2 bars, no zero-height bar for raw
    assert plot_bar_panels(panels, "t", tmp_path / "time.png").stat().st_size > 0
