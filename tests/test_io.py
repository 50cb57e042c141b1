import json

import pytest

from d2rl_jax.run.io import atomic_path, remove_stale_temporaries, write_json_atomic


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
