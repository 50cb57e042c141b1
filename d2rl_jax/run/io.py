"""Result files written atomically: a reader never sees a half-written file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path` to write to; renamed onto `path` when the block succeeds,
    removed when it raises. The suffix is kept, so writers that infer a format from it work."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp's 0600 would make results unreadable to other users
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def remove_stale_temporaries(directory: str | os.PathLike) -> list[Path]:
    """Remove the temporary files `atomic_path` left in `directory` and its sub-directories when a process was
    killed between creating one and renaming it (a SIGKILL runs no cleanup); returns what was removed. Only a
    process that owns the directory may call it (a resume), never beside a writer still running."""
    def foreign(path: Path) -> bool:  # orbax's checkpoints and TensorBoard's events keep files of their own
        return any(part == "checkpoints" or part == "tensorboard" or part.endswith(".ckpt") for part in path.parts)

    removed = [p for p in Path(directory).rglob(".*.tmp*")
               if p.is_file() and not foreign(p.relative_to(directory))]
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return Path(path)


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    return write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    return write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
