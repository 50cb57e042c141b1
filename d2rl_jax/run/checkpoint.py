"""Checkpoints of whole training runs with orbax's `CheckpointManager`.

A checkpoint holds the run state (params, optimizer states, replay buffer, env states, keys,
epoch; a leading run axis when runs are vmapped) and the metrics collected so far, keyed by
the number of completed chunks. Beside each step, `<step>.crc32.json` holds the CRC-32 of every file orbax wrote
for it: a step whose files do not match (a crash that committed a rename but not the contents) is known damaged
without opening it (orbax's failed reads leave hundreds of lines of asyncio tracebacks on stderr) and before it
could restore wrong numbers silently. The state is stored as its flat list of leaves, typed PRNG
keys as their raw key data, and rebuilt from the structure of a template state, so any pytree
(flax structs, optax states, None fields) round-trips exactly.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from d2rl_jax.run.io import as_json, read_json, write_json_atomic

# Beside the step directories: the settings the checkpoints were trained with (JSON), for `--resume`'s check.
SETTINGS_FILE = "settings.json"


class SettingsMismatch(ValueError):
    """A resume with settings other than those the checkpoints were trained with."""


class CheckpointDamaged(ValueError):
    """A checkpoint whose files differ from the checksums written with them, or that fails to restore."""


class CheckpointMismatch(ValueError):
    """A checkpoint that restores, but into a run state of another shape: another configuration wrote it (not
    damage: it is never deleted)."""


def is_prng_key(x: Any) -> bool:
    """A typed PRNG key array (or its shape struct)."""
    return hasattr(x, "dtype") and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


class RunCheckpointer:
    def __init__(self, directory: str | Path, max_to_keep: int = 2):
        self.directory = Path(directory).absolute()
        self._manager = ocp.CheckpointManager(
            self.directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

    def save(self, chunks_done: int, state: Any, metrics: dict[str, Any]) -> None:
        """Every process calls it. With several processes the state's arrays span them (each holds its runs'
        shards): orbax writes each process's shards of every array (its multi-process array checkpointing,
        coordinated by the JAX distributed runtime); the metrics, the same on every process, come from
        process 0. Arrays every process holds whole (one process, or runs the devices do not divide): numpy.
        """
        leaves = [jax.random.key_data(x) if is_prng_key(x) else x for x in jax.tree.leaves(state)]

        def kept(x):  # arrays that span processes (a sharded run axis) stay jax.Arrays for orbax
            return x if isinstance(x, jax.Array) and not x.is_fully_addressable else np.asarray(x)

        item = {"state": {f"{i:05d}": kept(x) for i, x in enumerate(leaves)},
                "metrics": jax.tree.map(np.asarray, metrics)}
        self._manager.save(chunks_done, args=ocp.args.StandardSave(item))
        self._manager.wait_until_finished()
        if jax.process_index() == 0:  # every process's files are written (orbax synchronized the save)
            write_json_atomic(self._checksum_path(chunks_done), _checksums(self.directory / str(chunks_done)))
            kept = {str(step) for step in self._manager.all_steps()}
            for stale in self.directory.glob(f"*{CHECKSUM_SUFFIX}"):  # of steps orbax deleted (max_to_keep)
                if stale.name.removesuffix(CHECKSUM_SUFFIX) not in kept:
                    stale.unlink(missing_ok=True)

    def _checksum_path(self, step: int) -> Path:
        return self.directory / f"{step}{CHECKSUM_SUFFIX}"

    def damage(self, step: int) -> str | None:
        """Why step `step`'s files differ from the checksums written with them; None when they match (or when
        the step has no checksums: written before them, or killed between the save and their write)."""
        path = self._checksum_path(step)
        if not path.exists():
            return None
        want, have = read_json(path), _checksums(self.directory / str(step))
        changed = sorted(f for f in want.keys() | have.keys() if want.get(f) != have.get(f))
        if not changed:
            return None
        return f"{len(changed)} file(s) differ from the checksums written with them, e.g. {changed[0]}"

    def latest(self) -> int | None:
        return self._manager.latest_step()

    def restore(self, template_state: Any, chunks_done: int | None = None) -> tuple[int, Any, dict[str, Any]]:
        """(chunks done, state shaped like `template_state`, metrics) of a saved checkpoint."""
        step = self.latest() if chunks_done is None else chunks_done
        if step is None:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        item = self._manager.restore(step, args=ocp.args.StandardRestore())
        template_leaves, treedef = jax.tree.flatten(template_state)
        saved = [item["state"][k] for k in sorted(item["state"])]
        if len(saved) != len(template_leaves):
            raise CheckpointMismatch(f"checkpoint {self.directory}/{step} has {len(saved)} arrays, the run state "
                                     f"{len(template_leaves)}: it was written by a different configuration")
        leaves = []
        for index, (like, value) in enumerate(zip(template_leaves, saved, strict=True)):
            value = jax.numpy.asarray(value)
            _check_leaf(index, like, value, f"{self.directory}/{step}")
            leaves.append(jax.random.wrap_key_data(value) if is_prng_key(like) else value.astype(like.dtype))
        return step, jax.tree.unflatten(treedef, leaves), item["metrics"]

    def restore_intact(self, template_state: Any, step: int) -> tuple[int, Any, dict[str, Any]]:
        """`restore` of step `step`, checked first against its checksums; `CheckpointDamaged` (one line: the
        reason) when its files differ or the restore fails. A checkpoint of another configuration is not damage:
        `CheckpointMismatch` passes through."""
        reason = self.damage(step)
        if reason:
            raise CheckpointDamaged(reason)
        if not self._checksum_path(step).exists():
            _drop_closed_loop_errors()
        try:
            return self.restore(template_state, step)
        except CheckpointMismatch:
            raise
        except Exception as err:  # tensorstore's, zarr's and orbax's errors share no base class
            raise CheckpointDamaged(f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300]}") from None

    def restore_newest(self, template_state: Any, report: Callable[[str], None] | None = None,
                       agree: Callable[[bool], bool] = bool) -> tuple[int, Any, dict[str, Any]] | None:
        """`restore_intact` of the newest checkpoint that restores; None when none does (or there is none). A
        damaged checkpoint (a file whose rename reached the disk and whose contents did not: power loss, a full
        disk, a preempted machine) is reported in one line naming its directory and the reason, and deleted, so
        that the chunks after the one restored are trained and saved again (orbax would skip saving a step at or
        below its newest). `agree(ok)` is True when every process restored (several processes: each reads its own
        shards, and all must take the same checkpoint)."""
        for step in sorted(self._manager.all_steps(), reverse=True):
            restored, reason = None, "on another process"
            try:
                restored = self.restore_intact(template_state, step)
            except CheckpointDamaged as err:
                reason = str(err)
            if agree(restored is not None):
                return restored
            if report:
                report(f"checkpoint {self.directory / str(step)} does not restore ({reason}): deleted, falling back "
                       "to the one before")
            self._manager.delete(step)
            if jax.process_index() == 0:
                self._checksum_path(step).unlink(missing_ok=True)
        return None

    def close(self) -> None:
        self._manager.close()


def _check_leaf(index: int, like: Any, value: jax.Array, where: str) -> None:
    """A saved array must have its template leaf's shape and dtype kind: the same number of arrays is not
    enough (a (2000, 5) metric restored into a (500, 5) run state would pass unnoticed otherwise)."""
    expected = jax.eval_shape(jax.random.key_data, like) if is_prng_key(like) else like
    if tuple(value.shape) != tuple(expected.shape) or value.dtype.kind != np.dtype(expected.dtype).kind:
        raise CheckpointMismatch(f"checkpoint {where}: array {index} is {value.dtype}{list(value.shape)}, the run "
                                 f"state expects {np.dtype(expected.dtype)}{list(expected.shape)}: it was written by a "
                                 "different configuration")


CHECKSUM_SUFFIX = ".crc32.json"


def _drop_closed_loop_errors() -> None:
    """A failed orbax restore leaves tensorstore callbacks that reach its closed asyncio loop; each would print a
    traceback as an unraisable exception (hundreds of them). Those, and only those, are dropped from then on."""
    previous = sys.unraisablehook
    if getattr(previous, "drops_closed_loop_errors", False):
        return

    def hook(unraisable):
        error = unraisable.exc_value
        if not (isinstance(error, RuntimeError) and str(error) == "Event loop is closed"):
            previous(unraisable)

    hook.drops_closed_loop_errors = True
    sys.unraisablehook = hook


def _checksums(step_dir: Path) -> dict[str, str]:
    """{path relative to the step: CRC-32 of its bytes} of every file of a checkpoint step."""
    out = {}
    for path in sorted(p for p in step_dir.rglob("*") if p.is_file()):
        crc = 0
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                crc = zlib.crc32(chunk, crc)
        out[str(path.relative_to(step_dir))] = f"{crc:08x}"
    return out


def latest_checkpoint(directory: str | Path) -> int | None:
    """The number of chunks of the newest checkpoint in `directory`, None if it holds none. Read from the
    step directories' names (orbax writes a step under a temporary name and renames it when complete), so
    nothing is created and no orbax manager (whose constructor synchronizes processes) is opened."""
    path = Path(directory)
    if not path.is_dir():
        return None
    steps = [int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit()]
    return max(steps) if steps else None


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    """{dotted path: leaf} of nested dicts and lists (JSON-like)."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in _flatten(value, f"{prefix}{key}.").items()}
    if isinstance(tree, list | tuple):
        return {k: v for i, value in enumerate(tree) for k, v in _flatten(value, f"{prefix}{i}.").items()}
    return {prefix[:-1]: tree}


def settings_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """One line per setting that differs ("path: saved X, now Y"), in path order; [] when they agree."""
    saved_flat, now_flat = _flatten(as_json(saved)), _flatten(as_json(now))
    missing = object()
    return [f"{path}: saved {saved_flat.get(path, missing)!r}, now {now_flat.get(path, missing)!r}".replace(
        repr(missing), "(absent)") for path in sorted(saved_flat.keys() | now_flat.keys())
            if saved_flat.get(path, missing) != now_flat.get(path, missing)]


def write_settings(directory: str | Path, settings: dict[str, Any]) -> None:
    write_json_atomic(Path(directory) / SETTINGS_FILE, settings)


def check_settings(directory: str | Path, settings: dict[str, Any]) -> bool:
    """Raise `SettingsMismatch` naming every differing field when the checkpoints in `directory` were trained
    with other settings; False when they carry none (written before settings were stored: unchecked)."""
    path = Path(directory) / SETTINGS_FILE
    if not path.exists():
        return False
    differences = settings_differences(read_json(path), settings)
    if differences:
        shown = "; ".join(differences[:6]) + (f"; and {len(differences) - 6} more" if len(differences) > 6 else "")
        raise SettingsMismatch(f"the checkpoints in {Path(directory).absolute()} were trained with other settings "
                               f"({shown}): resume with the same settings, or write this run elsewhere")
    return True
