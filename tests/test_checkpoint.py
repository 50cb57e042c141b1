"""Run checkpoints: a restore returns exactly what was saved and refuses a state of another shape; a resume
refuses settings other than those the checkpoints were trained with."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.config import HyperParams, train_preset
from d2rl_jax.run.checkpoint import SETTINGS_FILE, RunCheckpointer, SettingsMismatch, settings_differences
from d2rl_jax.run.runner import run_training


def test_restore_refuses_an_array_of_another_shape(tmp_path):
    """The same number of arrays is not enough: each must have its template's shape and dtype kind."""
    state = {"buffer": jnp.zeros((2000, 5)), "key": jax.random.key(0), "step": jnp.zeros((), jnp.int32)}
    checkpointer = RunCheckpointer(tmp_path / "ckpt")
    try:
        checkpointer.save(1, state, {})
        _, restored, _ = checkpointer.restore(state)
        assert restored["buffer"].shape == (2000, 5) and jax.random.key_data(restored["key"]).shape == (2,)
        with pytest.raises(ValueError, match=r"array 0 is float32\[2000, 5\].*expects float32\[500, 5\]"):
            checkpointer.restore({**state, "buffer": jnp.zeros((500, 5))})
        with pytest.raises(ValueError, match="array 2 is int32"):
            checkpointer.restore({**state, "step": jnp.zeros((), jnp.float32)})
    finally:
        checkpointer.close()


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """Two seeds of the small MLP preset trained for two chunks, with checkpoints."""
    cfg = train_preset("small").replace(actor="mlp", num_epochs=4, chunk_epochs=2, eval_every=2)
    directory = tmp_path_factory.mktemp("run") / "checkpoints"
    hp = HyperParams(actor_lr=5e-5)
    result = run_training(cfg, [0, 1], hp, checkpoint_dir=directory, progress=None)
    return cfg, hp, directory, result


@pytest.mark.parametrize("change, field", [
    (lambda cfg, hp, seeds: (cfg, hp.replace(actor_lr=1e-3), seeds), "hyperparams.actor_lr"),
    (lambda cfg, hp, seeds: (cfg.replace(batch_size=cfg.batch_size // 2), hp, seeds), "train_config.batch_size"),
    (lambda cfg, hp, seeds: (cfg, hp, [0, 2]), "seeds.1"),
    (lambda cfg, hp, seeds: (cfg.replace(num_epochs=6), hp, seeds), "train_config.num_epochs"),
])
def test_resume_refuses_changed_settings_naming_the_field(trained_run, change, field):
    """The learning rate lives in the optimizer state: a resume at another rate would record it and keep the
    old one. Every setting that decides the results must match the checkpoints'."""
    cfg, hp, directory, _ = trained_run
    cfg, hp, seeds = change(cfg, hp, [0, 1])
    with pytest.raises(SettingsMismatch, match=rf"\({field}: saved .*, now .*\)"):
        run_training(cfg, seeds, hp, checkpoint_dir=directory, resume=True, progress=None)


def test_resume_with_the_same_settings_continues(trained_run):
    cfg, hp, directory, result = trained_run
    lines = []
    again = run_training(cfg, [0, 1], hp, checkpoint_dir=directory, resume=True, progress=lines.append)
    assert again.resumed_from_chunk == 2 and any("resumed from chunk 2/2" in str(line) for line in lines)
    np.testing.assert_array_equal(again.eval_metrics["eval_sum_rate"], result.eval_metrics["eval_sum_rate"])


def test_unrecorded_checkpoints_beyond_the_configured_chunks_are_refused(trained_run, tmp_path):
    """Checkpoints written before settings were stored are resumed unchecked (with a warning), but a run that
    already holds more chunks than the configuration trains is still refused."""
    cfg, hp, directory, _ = trained_run
    legacy = tmp_path / "legacy"
    shutil.copytree(directory, legacy)
    (legacy / SETTINGS_FILE).unlink()
    lines = []
    with pytest.raises(ValueError, match="holds 2 chunks, more than the 1 this configuration runs"):
        run_training(cfg.replace(num_epochs=2), [0, 1], hp, checkpoint_dir=legacy, resume=True,
                     progress=lines.append)
    assert any("resuming them unchecked" in str(line) for line in lines)


def test_settings_differences_name_each_field():
    saved = {"train_config": {"batch_size": 512, "env": {"K": 6}}, "seeds": [0, 1]}
    now = {"train_config": {"batch_size": 256, "env": {"K": 6}}, "seeds": [0, 1, 2]}
    assert settings_differences(saved, now) == ["seeds.2: saved (absent), now 2",
                                                "train_config.batch_size: saved 512, now 256"]
    assert settings_differences(saved, saved) == []
