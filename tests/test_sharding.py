"""A sweep sharded over several devices gives the single-device results (4 forced CPU devices)."""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys, jax, numpy as np
    from d2rl_jax.run.distributed import run_sharding
    from d2rl_jax.run.grids import make_grid, sweep_config
    from d2rl_jax.run.sweep import load_metrics, plan_sweep, run_sweep
    assert len(jax.devices()) == 4, jax.devices()
    assert run_sharding(4) is not None and run_sharding(3) is None and run_sharding(1) is None
    cfg, hp = sweep_config("small", epochs=40, chunk=20)
    hp = hp.replace(actor_lr=3e-3, critic_lr=3e-3)
    variants = make_grid("reward_exp", hp, actors=["mlp"], designs=["designed"])
    seeds = list(range(6))
    sharded = plan_sweep("reward_exp", variants, cfg, seeds, budget_bytes=2**30)
    single = plan_sweep("reward_exp", variants, cfg, seeds, budget_bytes=2**30, devices=jax.devices()[:1])
    chunks = sharded.variants[0].chunks
    assert (chunks.chunk_size, chunks.num_chunks, chunks.padded_runs) == (4, 2, 2), chunks
    assert single.variants[0].chunks.num_chunks == 1
    lines = []
    run_sweep(sharded, sys.argv[1] + "/sharded", progress=lines.append)
    run_sweep(single, sys.argv[1] + "/single", progress=None)
    assert any("sharded over 4 devices" in line for line in lines), lines
    (ep_s, ev_s), (ep_1, ev_1) = (load_metrics(sys.argv[1] + d, "mlp.designed") for d in ("/sharded", "/single"))
    for name, values in {**ep_1, **ev_1}.items():
        np.testing.assert_allclose({**ep_s, **ev_s}[name], values, rtol=2e-4, atol=2e-5, err_msg=name)
    print("SHARDED-EQUALS-SINGLE")
""")


def test_sharded_sweep_equals_single_device_sweep(tmp_path):
    env = dict(os.environ)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4").strip()
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "SHARDED-EQUALS-SINGLE" in proc.stdout
