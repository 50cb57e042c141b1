"""Run checkpoints and faults: a restore returns exactly what was saved and refuses a state of another shape; a
resume refuses settings other than those the checkpoints were trained with, and falls back from a damaged
checkpoint to the one before; a run whose parameters turn non-finite is named diverged."""

import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from d2rl_jax.config import HyperParams, train_preset
from d2rl_jax.run.checkpoint import (
    CHECKSUM_SUFFIX,
    SETTINGS_FILE,
    RunCheckpointer,
    SettingsMismatch,
    settings_differences,
)
from d2rl_jax.run.runner import run_training
from d2rl_jax.run.summaries import run_rows
from experiments.common import DIVERGED_STATUS, exit_if_diverged


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
    again = run_training(cfg, [0, 1], hp, checkpoint_dir=directory, resume=True, progress=lines.append,
                         fns=result.fns)
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


def _damage(step_dir, rng):
    """What a crash leaves when a checkpoint's rename reached the disk and its contents did not: every data file
    of the step overwritten with 200 random bytes."""
    files = [f for f in step_dir.rglob("*") if f.is_file() and "d" in f.relative_to(step_dir).parts[:-1]]
    assert files, sorted(str(f.relative_to(step_dir)) for f in step_dir.rglob("*"))
    for f in files:
        f.write_bytes(rng.bytes(200))


def test_a_damaged_checkpoint_falls_back_to_the_one_before_and_ends_as_uninterrupted(trained_run, tmp_path):
    """The newest checkpoint is reported in one line (its directory, the reason), deleted, and the one before is
    resumed: the chunk after it is trained again, and the results equal the uninterrupted run's bit for bit. With
    every checkpoint damaged, the run says so and trains from the start, to the same results. Found by the
    checksums written beside each step, or, for a step without them (killed before they were written), by the
    failed restore itself."""
    cfg, hp, directory, result = trained_run
    rng = np.random.default_rng(0)
    for case, damaged_steps, resumed in (("newest", (2,), "resumed from chunk 1/2"),
                                         ("all", (1, 2), "training these runs from the start"),
                                         ("unchecked", (2,), "resumed from chunk 1/2")):
        damaged = tmp_path / case
        shutil.copytree(directory, damaged)
        for step in damaged_steps:
            _damage(damaged / str(step), rng)
            if case == "unchecked":
                (damaged / f"{step}{CHECKSUM_SUFFIX}").unlink()
        lines = []
        again = run_training(cfg, [0, 1], hp, checkpoint_dir=damaged, resume=True, progress=lines.append,
                             fns=result.fns)
        text = [str(line) for line in lines]
        reported = [line for line in text if "does not restore" in line]
        assert [line.split(" does not restore")[0] for line in reported] == [
            f"checkpoint {damaged.absolute() / str(step)}" for step in sorted(damaged_steps, reverse=True)], text
        assert all("falling back to the one before" in line and "\n" not in line for line in reported)
        assert ("differ from the checksums written with them" in reported[0]) == (case != "unchecked"), reported
        assert any(resumed in line for line in text), text
        for name in ("eval_sum_rate", "eval_ratio_to_optimizer"):
            np.testing.assert_array_equal(again.eval_metrics[name], result.eval_metrics[name])
        np.testing.assert_array_equal(again.epoch_metrics["critic_loss"], result.epoch_metrics["critic_loss"])
        # the chunks trained again were saved again: a later resume finds the finished run
        assert sorted(int(p.name) for p in damaged.iterdir() if p.name.isdigit()) == [1, 2]


def test_a_diverged_run_is_named_beside_a_finite_one(trained_run, capsys):
    """Learning rates of 1e8 turn the parameters non-finite in the first update: the run is marked on the progress
    line and by its epoch in the rows, the run beside it in the same program is not; experiments.run's exit."""
    cfg, hp, _, result = trained_run
    lines = []
    run = run_training(cfg, [0, 1], [hp, hp.replace(actor_lr=1e8, critic_lr=1e8)], progress=lines.append,
                       fns=result.fns)
    assert all("DIVERGED: 1/2 runs (epoch 1)" in str(line) for line in lines if "epochs/s" in str(line)), lines
    rows = run_rows(run.epoch_metrics, run.eval_metrics, cfg, 1.0)
    assert [r["diverged_epoch"] for r in rows] == [None, 1]
    assert [r["diverged_epoch"] for r in run_rows(result.epoch_metrics, result.eval_metrics, cfg, 1.0)] == [None] * 2
    np.testing.assert_array_equal(run.eval_metrics["eval_sum_rate"][0], result.eval_metrics["eval_sum_rate"][0])
    exit_if_diverged({"finite": ""})  # nothing diverged: returns
    with pytest.raises(SystemExit) as exited:
        exit_if_diverged({"finite": "", "mlp.designed": "DIVERGED: 1/2 runs (epoch 1)"})
    assert exited.value.code == DIVERGED_STATUS == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error: [mlp.designed] DIVERGED: 1/2 runs (epoch 1): the learner's" in err, err
