"""Result files written atomically (a reader never sees a half-written file), and JSON that strict parsers read.

JSON has no NaN or Infinity: Python's `json` writes them as bare `NaN`/`Infinity` tokens, which JavaScript's
`JSON.parse` and other strict readers reject. Every JSON file of the project goes through `write_json_atomic`,
which writes a non-finite number as `null`; `read_json` parses strictly and, for result rows, `nulls_to_nan`
turns such a null back into NaN (see there which nulls stay None).
"""

from __future__ import annotations

import contextlib
import json
import math
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


def finite_or_null(data: Any) -> Any:
    """`data` (nested dicts, lists, tuples, numbers) with every non-finite float, numpy's included, as None."""
    if isinstance(data, dict):
        return {k: finite_or_null(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [finite_or_null(v) for v in data]
    if isinstance(data, float) or (hasattr(data, "dtype") and getattr(data, "ndim", None) == 0
                                   and data.dtype.kind == "f"):
        return float(data) if math.isfinite(data) else None
    return data


def dumps_json(data: Any) -> str:
    """Strict JSON text (non-finite numbers as null; raises on anything else JSON cannot hold)."""
    return json.dumps(finite_or_null(data), indent=2, sort_keys=True, allow_nan=False) + "\n"


def as_json(data: Any) -> Any:
    """`data` as it reads back from its JSON file: what settings written earlier are compared with."""
    return json.loads(dumps_json(data))


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON (a strict parser rejects it)")


def loads_json(text: str) -> Any:
    """Parse JSON as strictly as JavaScript's JSON.parse: NaN, Infinity and -Infinity are errors."""
    return json.loads(text, parse_constant=_reject_constant)


def read_json(path: str | os.PathLike) -> Any:
    try:
        return loads_json(Path(path).read_text())
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from None


def is_event_column(name: str) -> bool:
    """A column that times an event (an epoch or seconds to a level, chi's rise, a divergence): None there means
    the event did not happen, and stays None when read back."""
    return "epoch" in name or "seconds" in name


def nulls_to_nan(rows: list[dict]) -> list[dict]:
    """Result rows read back from JSON: a null is a non-finite measurement (NaN), except in an event column."""
    return [{k: float("nan") if v is None and not is_event_column(k) else v for k, v in row.items()} for row in rows]


def write_json_atomic(path: str | os.PathLike, data: Any) -> Path:
    return write_text_atomic(path, dumps_json(data))
