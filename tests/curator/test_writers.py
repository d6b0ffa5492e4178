"""Writers: atomic files and directories, deterministic part names, empty outputs still readable."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curator import schema as S
from curator.exceptions import OutputError
from curator.writers import (
    atomic_write_json,
    atomic_write_table,
    commit_dir,
    count_rows,
    file_info,
    parquet_files,
    temp_dir_for,
)


def _table(ids):
    return S.conform(pa.table({S.ID: ids, S.TEXT: [f"t{i}" for i in ids]}))


def test_atomic_write_leaves_no_partial_file(tmp_path, monkeypatch):
    path = tmp_path / "x.parquet"
    atomic_write_table(_table(["a"]), path)
    assert pq.read_table(path).num_rows == 1

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", boom)
    with pytest.raises(OutputError, match="No space left"):
        atomic_write_table(_table(["b", "c"]), path)
    # the old file is intact and no temp file is left behind
    assert pq.read_table(path).column(S.ID).to_pylist() == ["a"]
    assert sorted(os.listdir(tmp_path)) == ["x.parquet"]


def test_commit_dir_renames_parts_deterministically(tmp_path):
    final = tmp_path / "phase1"
    tmp = temp_dir_for(final)
    tmp.mkdir()
    pq.write_table(_table(["m", "n"]), tmp / "zzz.parquet")
    pq.write_table(_table(["a", "b"]), tmp / "yyy.parquet")
    pq.write_table(_table([]), tmp / "empty.parquet")
    files = commit_dir(tmp, final, S.DOC_SCHEMA)
    assert [f.name for f in files] == ["part-00000.parquet", "part-00001.parquet"]
    assert pq.read_table(files[0]).column(S.ID).to_pylist() == ["a", "b"]
    assert not tmp.exists() and count_rows(final) == 4
    info = file_info(files[0], tmp_path)
    assert info["rows"] == 2 and len(info["sha256"]) == 64 and info["path"] == "phase1/part-00000.parquet"
    # replacing an existing directory
    tmp2 = temp_dir_for(final)
    tmp2.mkdir()
    commit_dir(tmp2, final, S.DOC_SCHEMA)
    files = parquet_files(final)
    assert len(files) == 1 and pq.read_table(files[0]).schema == S.DOC_SCHEMA and count_rows(final) == 0


def test_atomic_json(tmp_path):
    p = atomic_write_json({"a": 1}, tmp_path / "m.json")
    assert p.read_text().strip().startswith("{")
    assert [x.name for x in tmp_path.iterdir()] == ["m.json"]
