"""Readers: every format, globs and directories, and every kind of bad input quarantined with a reason."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curator import schema as S
from curator.exceptions import InputError
from curator.readers import expand_inputs, read_shard
from curator.settings import InputSettings

GOOD = [{"id": f"d{i}", "text": f"document number {i} about science", "url": f"http://x/{i}"} for i in range(5)]


def _lines(rows):
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def _read_all(path, **settings):
    docs, qs = [], []
    for shard in expand_inputs([str(path)]):
        for d, q in read_shard(shard, InputSettings(**settings)):
            docs.append(d)
            qs.append(q)
    return pa.concat_tables(docs) if docs else S.empty(S.INPUT_SCHEMA), pa.concat_tables(qs) if qs else S.empty(
        S.QUARANTINE_SCHEMA
    )


@pytest.mark.parametrize("suffix", [".jsonl", ".jsonl.gz", ".jsonl.zst"])
def test_jsonl_formats(tmp_path, suffix):
    data = _lines(GOOD)
    path = tmp_path / f"x{suffix}"
    if suffix.endswith(".gz"):
        data = gzip.compress(data)
    elif suffix.endswith(".zst"):
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    docs, q = _read_all(path)
    assert docs.schema == S.INPUT_SCHEMA
    assert docs.column(S.ID).to_pylist() == [r["id"] for r in GOOD]
    assert docs.column(S.URL).to_pylist()[0] == "http://x/0"
    assert q.num_rows == 0


def test_bad_lines_are_quarantined_with_reasons(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        _lines(GOOD[:1])
        + b"{not json\n"
        + b'{"text": "caf\xe9"}\n'
        + b'{"text": 42}\n'
        + b'{"body": "no text"}\n'
        + b'{"text": "   "}\n'
        + json.dumps({"id": "d0", "text": "duplicate id"}).encode()
        + b"\n"
        + b"[1, 2]\n"
        + json.dumps({"text": "x" * 2000}).encode()
        + b"\n"
        + b"\x00\x01\x02\xff binary garbage\n"
    )
    docs, q = _read_all(path, max_doc_bytes=1000)
    assert docs.column(S.ID).to_pylist() == ["d0"]
    reasons = q.column(S.Q_REASON).to_pylist()
    assert reasons == [
        "bad_json",
        "bad_utf8",
        "non_string_text",
        "missing_text",
        "empty_text",
        "duplicate_id",
        "not_an_object",
        "too_large",
        "bad_utf8",
    ]
    assert q.column(S.Q_LOCATION).to_pylist()[:2] == ["2", "3"]
    assert all(r is not None for r in q.column(S.Q_RAW).to_pylist()[:3])


def test_truncated_gzip_keeps_rows_before_damage(tmp_path):
    rows = [{"id": f"d{i}", "text": "some text " * 50} for i in range(2000)]
    blob = gzip.compress(_lines(rows))
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(blob[: len(blob) // 2])
    docs, q = _read_all(path)
    assert 0 < docs.num_rows < 2000
    assert q.column(S.Q_REASON).to_pylist() == ["truncated_file"]


def test_parquet_and_wrong_schema(tmp_path):
    good = tmp_path / "good.parquet"
    pq.write_table(pa.Table.from_pylist(GOOD), good)
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"content": ["a", "b"]}), bad)
    wrong_type = tmp_path / "wrongtype.parquet"
    pq.write_table(pa.table({"text": [1, 2]}), wrong_type)
    docs, q = _read_all(good)
    assert docs.num_rows == 5 and q.num_rows == 0
    docs, q = _read_all(bad)
    assert docs.num_rows == 0 and q.column(S.Q_REASON).to_pylist() == ["wrong_schema"] * 2  # one per row
    docs, q = _read_all(wrong_type)
    assert q.column(S.Q_REASON).to_pylist() == ["wrong_schema"] * 2


def test_custom_fields_and_missing_ids(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(_lines([{"content": "hello there", "link": "u"}, {"content": "second"}]))
    docs, _ = _read_all(path, text_field="content", url_field="link")
    ids = docs.column(S.ID).to_pylist()
    assert len(set(ids)) == 2 and ids[0].endswith(":1")
    assert docs.column(S.URL).to_pylist() == ["u", None]


def test_hf_datasets_directory(tmp_path):
    import datasets

    ds = datasets.Dataset.from_list(GOOD)
    ds.save_to_disk(str(tmp_path / "hfds"))
    docs, q = _read_all(tmp_path / "hfds")
    assert sorted(docs.column(S.ID).to_pylist()) == sorted(r["id"] for r in GOOD)


def test_globs_directories_and_errors(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "1.jsonl").write_bytes(_lines(GOOD))
    (tmp_path / "a" / "2.parquet").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_text("ignored")
    shards = expand_inputs([str(tmp_path / "a")])
    assert [s.format for s in shards] == ["jsonl", "parquet"]
    assert len(expand_inputs([str(tmp_path / "a" / "*.jsonl")])) == 1
    assert shards[0].key == expand_inputs([str(tmp_path / "a" / "1.jsonl")])[0].key
    with pytest.raises(InputError, match="matched no files"):
        expand_inputs([str(tmp_path / "nothing-*.jsonl")])
    with pytest.raises(InputError, match="does not exist"):
        expand_inputs([str(tmp_path / "missing.jsonl")])
    # an empty (corrupt) parquet file is quarantined, not fatal
    _, q = _read_all(tmp_path / "a" / "2.parquet")
    assert q.column(S.Q_REASON).to_pylist() == ["unreadable_file"]
