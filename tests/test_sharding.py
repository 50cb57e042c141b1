"""The run axis sharded over several devices gives the single-device results (4 forced CPU devices)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import jax, numpy as np
    from d2rl_jax.config import HyperParams, train_preset
    from d2rl_jax.runner import run_sharding, run_training
    assert len(jax.devices()) == 4, jax.devices()
    assert run_sharding(4) is not None and run_sharding(3) is None and run_sharding(1) is None
    cfg = train_preset("small").replace(actor="mlp", num_epochs=40, chunk_epochs=20, eval_every=20)
    hp = HyperParams(actor_lr=3e-3, critic_lr=3e-3)
    lines = []
    sharded = run_training(cfg, [0, 1, 2, 3], hp, progress=lines.append)
    single = run_training(cfg, [0, 1, 2, 3], hp, progress=None, shard=False)
    assert any("sharded over 4 devices" in line for line in lines), lines
    leaf = jax.tree.leaves(sharded.final_state.agent)[0]
    assert len(leaf.sharding.device_set) == 4, leaf.sharding
    for name, values in single.epoch_metrics.items():
        np.testing.assert_allclose(sharded.epoch_metrics[name], values, rtol=2e-4, atol=2e-5, err_msg=name)
    for name, values in single.eval_metrics.items():
        np.testing.assert_allclose(sharded.eval_metrics[name], values, rtol=2e-4, atol=2e-5, err_msg=name)
    print("SHARDED-EQUALS-SINGLE")
""")


def test_sharded_runs_equal_single_device_runs():
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SHARDED-EQUALS-SINGLE" in proc.stdout
