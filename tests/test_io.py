import json
from pathlib import Path

import numpy as np
import pytest

from d2rl_jax.run.io import atomic_path, nulls_to_nan, read_json, remove_stale_temporaries, write_json_atomic


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "sub" / "result.json"
    write_json_atomic(path, {"a": 1})
    write_json_atomic(path, {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in path.parent.iterdir()] == ["result.json"]


def test_a_killed_writer_s_temporary_is_removed_on_resume(tmp_path):
    """What a SIGKILL between mkstemp and rename leaves: the temporaries of atomic_path, in any sub-directory, and
    nothing else, are removed."""
    write_json_atomic(tmp_path / "summary.json", {"a": 1})
    kept = tmp_path / "variant" / "chunk_000.json"
    write_json_atomic(kept, [])
    stale = [tmp_path / ".summary.abc123.tmp.csv", tmp_path / "variant" / ".chunk_001.x9.tmp.npz"]
    orbax = tmp_path / "variant" / "checkpoints" / "3" / ".state.tmp.x"  # not ours: left alone
    orbax.parent.mkdir(parents=True)
    for path in (*stale, orbax):
        path.write_text("partial")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [".state.tmp.x", "chunk_000.json",
                                                                          "summary.json"]


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "result.json"
    write_json_atomic(path, {"a": 1})
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        assert tmp.suffix == ".json" and tmp.parent == tmp_path
        tmp.write_text("partial")
        raise RuntimeError("writer died")
    assert json.loads(path.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]


def test_json_is_strict_non_finite_numbers_are_null_and_rows_read_them_back_as_nan(tmp_path):
    """JavaScript's JSON.parse rejects NaN and Infinity: they are written as null. Rows read back a null as NaN,
    except in an event column (an epoch or seconds to a level), where None means the event did not happen."""
    rows = [{"critic_alignment": float("nan"), "ratio": np.float32(np.inf), "epoch_to_80pct": None,
             "seconds_to_50pct": None, "final_sum_rate": np.float32(1.5), "per_seed": (1.0, -np.inf), "n": 3}]
    path = write_json_atomic(tmp_path / "rows.json", rows)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == read_json(path)
    assert read_json(path)[0]["per_seed"] == [1.0, None] and read_json(path)[0]["final_sum_rate"] == 1.5
    back = nulls_to_nan(read_json(path))[0]
    assert np.isnan(back["critic_alignment"]) and np.isnan(back["ratio"]) and back["n"] == 3
    assert back["epoch_to_80pct"] is None and back["seconds_to_50pct"] is None
    (tmp_path / "old.json").write_text('{"a": NaN}')
    with pytest.raises(ValueError, match="old.json: NaN is not JSON"):
        read_json(tmp_path / "old.json")


def test_every_committed_result_is_strict_json(strict_json):
    root = Path(__file__).parent.parent
    assert strict_json(root / "benchmarks" / "results") > 50
    strict_json(root / "docs")
