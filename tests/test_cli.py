"""Entry points run end to end on tiny settings and reject bad flags with a message naming them."""

import json
import subprocess
import sys

import pytest


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
    assert not list(out.glob(".*.tmp"))  # no temp files left behind


@pytest.mark.parametrize("flag, value", [("--num_states", "0"), ("--preset", "huge")])
def test_baselines_cli_rejects_bad_flags(flag, value):
    proc = _run("experiments.baselines", flag, value)
    assert proc.returncode != 0
    assert flag.lstrip("-") in proc.stderr
