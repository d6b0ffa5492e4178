"""Property-based ingest: random shards never raise and account for every record.

Shards are JSON Lines (plain, gzip, zstd in one or more frames, optionally cut) and Parquet files
with arbitrary content: bytes that are not UTF-8 or not JSON, JSON of any shape in every field,
lone surrogates, integers past Python's digit limit, deep nesting, byte order marks, invalid UTF-8
cells, several row groups, wrong schemas. Each goes through the build's own ingest unit
(:func:`pipelines.build._ingest_shard`: read, write the parts and the quarantine as Parquet), and
``in = kept + quarantined`` must hold with ``in`` counted here, not by the reader: non-blank lines
for JSONL, the footer's row count for Parquet. A cut compressed file must say so in one
``truncated_file`` row that states how many lines were read before the damage.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from curator import schema as S
from curator.readers import Shard
from curator.settings import InputSettings
from pipelines.build import _ingest_shard

EXAMPLES = int(os.environ.get("EDU_CURATOR_PROPERTY_EXAMPLES", "60"))  # bounded for CI; raise it to search harder
PROFILE = settings(
    max_examples=EXAMPLES,
    deadline=5000,
    suppress_health_check=list(HealthCheck),
    database=None,
    derandomize=EXAMPLES == 60,
)

# text with lone surrogates, controls and astral characters
_chars = st.one_of(
    st.characters(), st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), st.sampled_from("\n\r\t\x00\ufeff")
)
_text = st.text(_chars, max_size=40)
_scalar = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), _text)
_value = st.recursive(
    _scalar,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_text, inner, max_size=3)),
    max_leaves=8,
)
_FIELDS = ["text", "id", "url", "crawl_date", "record_id"]


@st.composite
def _json_line(draw) -> bytes:
    kind = draw(st.sampled_from(["record", "record", "record", "huge_int", "nested", "bytes", "value"]))
    if kind == "huge_int":
        field = draw(st.sampled_from(_FIELDS + ["n"]))
        return b'{"text": "x", "%s": %s}' % (field.encode(), b"7" * draw(st.integers(4301, 6000)))
    if kind == "nested":
        depth = draw(st.integers(500, 50_000))
        return b"[" * depth + b"]" * depth
    if kind == "bytes":
        return draw(st.binary(max_size=60)).replace(b"\n", b" ")
    if kind == "value":
        obj = draw(_value)
    else:
        obj = {f: draw(st.one_of(_text, _value)) for f in _FIELDS if draw(st.booleans())}
        if draw(st.booleans()):
            obj["text"] = draw(_text)
    ascii_only = draw(st.booleans())  # False: lone surrogates become bytes that are not UTF-8
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@st.composite
def _jsonl_shard(draw) -> tuple[str, bytes, bytes]:
    """(suffix, file bytes, uncompressed bytes)."""
    lines = draw(st.lists(st.one_of(_json_line(), st.sampled_from([b"", b"  ", b"\r"])), max_size=25))
    data = b"\n".join(lines) + (b"\n" if draw(st.booleans()) else b"")
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data
    codec = draw(st.sampled_from(["", ".gz", ".zst"]))
    if codec == ".gz":
        blob = gzip.compress(data)
    elif codec == ".zst":
        cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
        bounds = [0, *cuts, len(data)]
        c = zstandard.ZstdCompressor(write_checksum=draw(st.booleans()))
        blob = b"".join(c.compress(data[a:b]) for a, b in zip(bounds, bounds[1:]) if b > a or a == 0)
    else:
        blob = data
    return codec, blob, data


def _records_in(data: bytes) -> int:
    """Non-blank lines (a byte order mark before the first one is not content)."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    return sum(1 for line in data.split(b"\n") if line.strip())


def _ingest(path: Path, fmt: str, work: Path) -> tuple[dict, pa.Table]:
    shard = Shard(str(path), fmt)
    stats = _ingest_shard(
        shard, InputSettings(rows_per_part=7).model_dump(), str(work / "out"), str(work / "q.parquet"), "zstd"
    )
    kept = sum(pq.read_metadata(f).num_rows for f in (work / "out").glob("part-*.parquet"))
    assert kept == stats["rows"]
    return stats, pq.read_table(work / "q.parquet")


@PROFILE
@given(shard=_jsonl_shard(), cut=st.one_of(st.none(), st.floats(0.0, 1.0, exclude_max=True)))
def test_jsonl_shards_account_for_every_line(shard, cut):
    codec, blob, data = shard
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / f"s.jsonl{codec}"
        cut_file = bool(codec) and cut is not None and len(blob) > 0
        path.write_bytes(blob[: int(len(blob) * cut)] if cut_file else blob)
        stats, q = _ingest(path, "jsonl", work)
        reasons = q.column(S.Q_REASON).to_pylist()
        assert stats["quarantined"] == q.num_rows
        if not cut_file:
            assert "truncated_file" not in reasons
            assert stats["rows"] + stats["quarantined"] == _records_in(data)
            return
        if int(len(blob) * cut) == 0:  # an empty file is an empty shard
            assert stats["rows"] + stats["quarantined"] == 0
            return
        # cut: every line before the damage is kept or quarantined, and one row says where it stopped
        truncated = [
            d for d, r in zip(q.column(S.Q_DETAIL).to_pylist(), reasons) if r in ("truncated_file", "unreadable_file")
        ]
        others = stats["rows"] + stats["quarantined"] - len(truncated)
        if codec == ".zst" and not truncated:  # cut exactly between two frames: a valid, shorter file
            assert others <= _records_in(data)
            return
        assert len(truncated) == 1, reasons
        m = re.search(r"(\d+) lines \((\d+) bytes\) read before the damage", truncated[0])
        if m:  # lines read before the damage are all accounted for
            lines_read, bytes_read = int(m.group(1)), int(m.group(2))
            assert others == _records_in(data[:bytes_read]) and lines_read <= data.count(b"\n") + 1


@st.composite
def _parquet_table(draw) -> pa.Table:
    n = draw(st.integers(0, 30))
    cells = draw(
        st.lists(
            st.one_of(st.none(), _text.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=20)),
            min_size=n,
            max_size=n,
        )
    )
    text = pa.Array.from_buffers(
        pa.string(), n, pa.array(cells, pa.binary()).buffers(), null_count=-1
    )  # unchecked UTF-8
    columns = {"text": text}
    id_kind = draw(st.sampled_from(["none", "str", "int", "float"]))
    if id_kind == "str":
        columns["id"] = pa.array([draw(_text).encode("utf-8", "replace").decode() for _ in range(n)], pa.string())
    elif id_kind == "int":
        columns["id"] = pa.array(draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=n, max_size=n)), pa.int64())
    elif id_kind == "float":
        columns["id"] = pa.array(draw(st.lists(st.floats(), min_size=n, max_size=n)), pa.float64())
    schema = draw(st.sampled_from(["ok", "ok", "ok", "renamed", "int_text"]))
    if schema == "renamed":
        columns["content"] = columns.pop("text")
    elif schema == "int_text":
        columns["text"] = pa.array(range(n), pa.int64())
    return pa.table(columns)


@PROFILE
@given(table=_parquet_table(), row_group=st.integers(1, 12))
def test_parquet_shards_account_for_every_row(table, row_group):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / "s.parquet"
        pq.write_table(table, path, row_group_size=row_group)
        rows_in = pq.read_metadata(path).num_rows  # the footer, not the reader
        stats, q = _ingest(path, "parquet", work)
        assert "truncated_file" not in q.column(S.Q_REASON).to_pylist()
        assert stats["rows"] + stats["quarantined"] == rows_in


@PROFILE
@given(blob=st.binary(max_size=200), suffix=st.sampled_from([".jsonl", ".jsonl.gz", ".jsonl.zst", ".parquet"]))
def test_arbitrary_bytes_never_raise(blob, suffix):
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        path = work / f"s{suffix}"
        path.write_bytes(blob)
        stats, q = _ingest(path, "parquet" if suffix == ".parquet" else "jsonl", work)
        if suffix == ".jsonl":
            assert stats["rows"] + stats["quarantined"] == _records_in(blob)
        else:
            assert stats["quarantined"] == q.num_rows
