"""No record crashes a build or vanishes: every bad record of every input path is quarantined with a reason."""

from __future__ import annotations

import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard
from curator_cli import run_curator

from curator import schema as S
from curator.readers import expand_inputs, read_shard
from curator.settings import InputSettings

TEXT = "Photosynthesis is how green plants turn light into food."


def _read(path, **settings):
    docs, qs = [], []
    for shard in expand_inputs([str(path)]):
        for d, q in read_shard(shard, InputSettings(**settings)):
            docs.append(d)
            qs.append(q)
    return pa.concat_tables(docs) if docs else S.empty(S.INPUT_SCHEMA), pa.concat_tables(qs) if qs else S.empty(
        S.QUARANTINE_SCHEMA
    )


def _lines(rows) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


@pytest.mark.parametrize("field", ["id", "url", "crawl_date", "record_id"])
def test_lone_surrogate_in_any_field_is_quarantined(tmp_path, field):
    path = tmp_path / "s.jsonl"
    path.write_text('{"%s": "x\\ud800y", "text": "%s"}\n{"id": "ok", "text": "%s"}\n' % (field, TEXT, TEXT))
    docs, q = _read(path)
    assert docs.column(S.ID).to_pylist() == ["ok"]
    assert q.column(S.Q_REASON).to_pylist() == ["bad_utf8"]
    assert f"`{field}`" in q.column(S.Q_DETAIL)[0].as_py()
    pq.write_table(q, tmp_path / "q.parquet")  # the quarantine row itself is writable


def test_huge_integer_quarantines_its_line_only(tmp_path):
    path = tmp_path / "h.jsonl"
    path.write_bytes(
        _lines([{"id": "a", "text": TEXT}])
        + b'{"id": 1, "text": "x", "n": '
        + b"9" * 5000
        + b"}\n"
        + _lines([{"id": "b", "text": TEXT}, {"id": "c", "text": TEXT}])
    )
    docs, q = _read(path)
    assert docs.column(S.ID).to_pylist() == ["a", "b", "c"]
    assert q.column(S.Q_REASON).to_pylist() == ["bad_json"] and q.column(S.Q_LOCATION).to_pylist() == ["2"]


def test_parquet_invalid_utf8_cell_quarantines_its_row_only(tmp_path):
    values = [f"{TEXT} {i}".encode() for i in range(5000)]
    values[10] = b"bad \xff byte"
    text = pa.Array.from_buffers(pa.string(), len(values), pa.array(values, pa.binary()).buffers())  # unchecked UTF-8
    path = tmp_path / "u.parquet"
    pq.write_table(pa.table({"text": text, "id": [f"d{i}" for i in range(5000)]}), path)
    docs, q = _read(path)
    assert docs.num_rows == 4999 and "d10" not in set(docs.column(S.ID).to_pylist())
    assert q.column(S.Q_REASON).to_pylist() == ["bad_utf8"] and q.column(S.Q_LOCATION).to_pylist() == ["10"]


def test_wrong_schema_parquet_counts_every_row(tmp_path):
    path = tmp_path / "w.parquet"
    pq.write_table(pa.table({"content": ["a"] * 7}), path)
    docs, q = _read(path, rows_per_part=3)
    assert docs.num_rows == 0 and q.column(S.Q_REASON).to_pylist() == ["wrong_schema"] * 7


def _zst_rows(n):
    return _lines([{"id": f"d{i}", "text": f"{TEXT} {i} " * 5} for i in range(n)])


def test_truncated_zstd_is_detected(tmp_path):
    blob = zstandard.ZstdCompressor().compress(_zst_rows(3000))
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(blob[: len(blob) // 2])
    docs, q = _read(path)
    assert 0 < docs.num_rows < 3000
    assert q.column(S.Q_REASON).to_pylist() == ["truncated_file"]
    assert (
        f"{docs.num_rows} lines" in q.column(S.Q_DETAIL)[0].as_py()
        and "the rest of the file is lost" in q.column(S.Q_DETAIL)[0].as_py()
    )


def test_multi_frame_zstd_reads_every_frame_and_detects_a_cut_frame(tmp_path):
    c = zstandard.ZstdCompressor()
    data = _zst_rows(100)
    half = data.index(b"\n", len(data) // 2) + 1
    frame2 = c.compress(data[half:])
    path = tmp_path / "m.jsonl.zst"
    path.write_bytes(c.compress(data[:half]) + frame2)
    docs, q = _read(path)
    assert docs.num_rows == 100 and q.num_rows == 0
    path.write_bytes(c.compress(data[:half]) + frame2[:-3])
    docs, q = _read(path)
    assert q.column(S.Q_REASON).to_pylist() == ["truncated_file"]


def test_not_gzip_named_gz_is_unreadable(tmp_path):
    path = tmp_path / "fake.jsonl.gz"
    path.write_bytes(_lines([{"text": TEXT}]))
    docs, q = _read(path)
    assert docs.num_rows == 0 and q.column(S.Q_REASON).to_pylist() == ["unreadable_file"]
    assert "not gzip" in q.column(S.Q_DETAIL)[0].as_py()
    (tmp_path / "real.jsonl.gz").write_bytes(gzip.compress(_lines([{"text": TEXT}])))
    docs, q = _read(tmp_path / "real.jsonl.gz")
    assert docs.num_rows == 1 and q.num_rows == 0


def test_utf8_bom_keeps_the_first_record(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + _lines([{"id": "a", "text": TEXT}, {"id": "b", "text": TEXT}]))
    docs, q = _read(path)
    assert docs.column(S.ID).to_pylist() == ["a", "b"] and q.num_rows == 0


def test_build_survives_bad_records(tmp_path):
    """The reproduction of the issue: a surrogate in `id` used to end `curator build` with exit 1, every rerun."""
    src = tmp_path / "r1"
    src.mkdir()
    (src / "s.jsonl").write_text('{"id":"x\\ud800y","text":"%s"}\n{"id":"good","text":"%s"}\n' % (TEXT, TEXT))
    (src / "h.jsonl").write_bytes(b'{"text": "x", "n": ' + b"1" * 5000 + b"}\n")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input:\n  paths: ['{src}']\nray:\n  executor: local\n")
    out = tmp_path / "out"
    r = run_curator("build", cfg, "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts_balanced"]
    assert manifest["quarantine"]["reasons"] == {"bad_utf8": 1, "bad_json": 1}
    ingest = next(s for s in manifest["stages"] if s["name"] == "ingest")
    assert ingest["in"] == 3 and ingest["out"] == 1


def test_discovery_follows_symlinked_dirs_quarantines_broken_links_and_survives_loops(tmp_path):
    """Issue 28 item 8: symlinked subdirectories were skipped, broken links silently, `**` with `.` links hung."""
    d, real = tmp_path / "d", tmp_path / "real"
    (d / "sub").mkdir(parents=True)
    real.mkdir()
    for path in (d / "x.jsonl", d / "sub" / "z.jsonl", real / "y.jsonl"):
        path.write_bytes(_lines([{"text": TEXT}]))
    (d / "linked").symlink_to(real)
    (d / "a").symlink_to(".")
    (d / "b").symlink_to(".")
    (d / "dangling.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    (d / "loop1.jsonl").symlink_to("loop2.jsonl")
    (d / "loop2.jsonl").symlink_to("loop1.jsonl")
    expected = {"x.jsonl", "z.jsonl", "y.jsonl", "dangling.jsonl", "loop1.jsonl", "loop2.jsonl"}
    for pattern in (str(d), f"{d}/**/*.jsonl", f"{d}/**"):
        shards = expand_inputs([pattern])
        assert sorted(s.path.rsplit("/", 1)[1] for s in shards) == sorted(expected), pattern
    for shard in expand_inputs([str(d)]):
        qs = [q for _, q in read_shard(shard, InputSettings())]
        reasons = pa.concat_tables(qs).column(S.Q_REASON).to_pylist() if qs else []
        assert reasons == (["unreadable_file"] if "loop" in shard.path or "dangling" in shard.path else []), shard.path


def test_duplicate_ids_across_shards_are_quarantined_once(tmp_path):
    """Issue 28 item 9: the same id in two shards reached phase1 twice and the manifest said nothing."""
    from pipelines.ingest_ids import quarantine_duplicate_ids

    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_bytes(_lines([{"id": "same", "text": TEXT}, {"id": "a1", "text": TEXT + " a"}]))
    (src / "b.jsonl").write_bytes(
        _lines([{"id": "b1", "text": TEXT + " b"}, {"id": "same", "text": "another text about cells"}])
    )
    pq.write_table(pa.table({"id": ["same", "c1"], "text": ["third copy of the id", TEXT + " c"]}), src / "c.parquet")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"input:\n  paths: ['{src}']\nray:\n  executor: local\n")
    out = tmp_path / "out"
    r = run_curator("build", cfg, "--out", out, "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    ingest = next(s for s in manifest["stages"] if s["name"] == "ingest")
    assert ingest["in"] == 6 and ingest["out"] == 4 and ingest["reasons"] == {"duplicate_id_across_shards": 2}
    assert manifest["counts_balanced"] and manifest["quarantine"]["reasons"] == {"duplicate_id_across_shards": 2}
    q = pq.read_table(out / "quarantine").to_pylist()
    assert sorted(row["source"].rsplit("/", 1)[1] for row in q) == ["b.jsonl", "c.parquet"]
    assert all("a.jsonl" in row["detail"] for row in q)
    ingested = [
        i
        for f in (out / "_work" / "ingest").rglob("part-*.parquet")
        for i in pq.read_table(f).column(S.ID).to_pylist()
    ]
    assert sorted(ingested) == ["a1", "b1", "c1", "same"]
    # run again (as a resumed ingest step does): nothing changes
    shards = expand_inputs([str(src)])
    stats = quarantine_duplicate_ids(out / "_work" / "ingest", out / "_work" / "quarantine", shards, "zstd")
    assert sum(s["quarantined"] for s in stats) == 2 and sum(s["rows"] for s in stats) == 4
    assert pq.read_table(out / "_work" / "quarantine").num_rows == 2


def test_damaged_parquet_row_group_loses_only_its_rows_and_says_how_many(tmp_path):
    table = pa.table({"text": [f"{TEXT} {i}" for i in range(300)], "id": [f"d{i}" for i in range(300)]})
    path = tmp_path / "rg.parquet"
    pq.write_table(table, path, row_group_size=100, compression="none")
    offset = pq.read_metadata(path).row_group(1).column(0).data_page_offset
    blob = bytearray(path.read_bytes())
    blob[offset : offset + 16] = b"\xff" * 16  # the second row group's page header
    path.write_bytes(bytes(blob))
    docs, q = _read(path)
    assert docs.num_rows == 200 and "d250" in set(docs.column(S.ID).to_pylist())  # the third group is still read
    assert q.column(S.Q_REASON).to_pylist() == ["truncated_file"]
    assert "row group 1 damaged, 100 rows lost" in q.column(S.Q_DETAIL)[0].as_py()
