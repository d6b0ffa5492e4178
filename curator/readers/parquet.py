"""Parquet reader: streamed by record batch, schema checked before any row is read.

A shard without the configured text column, or whose text column is not a string type, is
quarantined as ``wrong_schema``: one quarantine row per row of the file (the footer's count), so
the shard's rows in still equal rows kept plus rows quarantined. Values are converted column by
column; a cell Python cannot hold (invalid UTF-8 in a string column, say) quarantines its own
row only, as ``bad_utf8`` or ``malformed_record``, never the batch. Row groups are read one at a
time: a damaged one is quarantined as one ``truncated_file`` row saying how many rows were lost,
and reading goes on with the next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from curator.readers.records import (
    BAD_UTF8,
    MALFORMED_RECORD,
    MISSING_TEXT,
    TRUNCATED_FILE,
    UNREADABLE_FILE,
    WRONG_SCHEMA,
    RecordBatcher,
)

BATCH_ROWS = 4096
# (rows in the group, columns -> its record batches): a unit read or lost as a whole
Group = tuple[int, Callable[[list[str]], Iterable[pa.RecordBatch]]]


def read_parquet(path: str, batcher: RecordBatcher) -> Iterator[tuple[pa.Table, pa.Table]]:
    try:
        pf = pq.ParquetFile(path)
        meta = pf.metadata
        groups: list[Group] = [
            (
                meta.row_group(k).num_rows,
                lambda cols, _k=k: pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[_k], columns=cols),
            )
            for k in range(meta.num_row_groups)
        ]
    except Exception as exc:
        batcher.quarantine(None, UNREADABLE_FILE, f"not a readable Parquet file: {type(exc).__name__}: {exc}")
        yield from batcher.drain(final=True)
        return
    yield from read_arrow_groups(pf.schema_arrow, groups, batcher)


def read_arrow_batches(
    arrow_schema: pa.Schema, table: pa.Table, batcher: RecordBatcher
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """An in-memory table (Hugging Face datasets) through the same checks as a Parquet file."""
    yield from read_arrow_groups(
        arrow_schema, [(table.num_rows, lambda cols: table.select(cols).to_batches(max_chunksize=BATCH_ROWS))], batcher
    )


def read_arrow_groups(
    arrow_schema: pa.Schema, groups: list[Group], batcher: RecordBatcher
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Shared by the Parquet and Hugging Face readers: validate columns, then rows, group by group."""
    names = arrow_schema.names
    tf = batcher.text_field
    n_rows = sum(n for n, _ in groups)
    problem = None
    if tf not in names:
        problem = f"no `{tf}` column (columns: {names[:20]}); set input.text_field"
    else:
        ttype = arrow_schema.field(tf).type
        if not (pa.types.is_string(ttype) or pa.types.is_large_string(ttype)):
            problem = f"column `{tf}` has type {ttype}, expected string"
    if problem:
        for row in range(n_rows):  # every row is accounted for, in parts of rows_per_part
            batcher.quarantine(row, WRONG_SCHEMA, problem)
            yield from batcher.drain()
        yield from batcher.drain(final=True)
        return
    cols = [c for c in (tf, batcher.id_field, batcher.url_field, "crawl_date", "record_id") if c in names]
    start = 0
    for k, (group_rows, batches) in enumerate(groups):
        row = start
        try:
            for rb in batches(cols):
                yield from _add_batch(rb, cols, row, batcher)
                row += rb.num_rows
        except Exception as exc:
            lost = start + group_rows - row
            batcher.quarantine(
                f"after row {row}",
                TRUNCATED_FILE,
                f"row group {k} damaged, {lost} rows lost (rows {row}-{start + group_rows - 1}): "
                f"{type(exc).__name__}: {exc}",
            )
        start += group_rows
    yield from batcher.drain(final=True)


def _column(arr) -> tuple[list, dict[int, str]]:
    """Python values of one column, and {row: problem} for cells that cannot be converted (None in values)."""
    try:
        return arr.to_pylist(), {}
    except Exception:  # noqa: BLE001 - find the bad cells one by one
        values, bad = [], {}
        for i in range(len(arr)):
            try:
                values.append(arr[i].as_py())
            except Exception as exc:  # noqa: BLE001
                values.append(None)
                bad[i] = f"{type(exc).__name__}: {str(exc)[:200]}"
        return values, bad


def _add_batch(
    rb: pa.RecordBatch, cols: list[str], first_row: int, batcher: RecordBatcher
) -> Iterator[tuple[pa.Table, pa.Table]]:
    tf = batcher.text_field
    data, bad = {}, {}
    for c in cols:
        data[c], problems = _column(rb.column(rb.schema.get_field_index(c)))
        for i, p in problems.items():
            bad.setdefault(i, (c, p))
    n = rb.num_rows
    texts = data[tf]
    ids = data.get(batcher.id_field) or [None] * n
    urls = data.get(batcher.url_field) or [None] * n
    for i in range(n):
        row = first_row + i
        if i in bad:
            col, p = bad[i]
            batcher.quarantine(
                row, BAD_UTF8 if "UnicodeDecodeError" in p else MALFORMED_RECORD, f"column `{col}`: {p}"
            )
            yield from batcher.drain()
            continue
        text = texts[i]
        if text is None:
            batcher.quarantine(row, MISSING_TEXT, f"`{tf}` is null")
            yield from batcher.drain()
            continue
        extra = {k: data[k][i] for k in ("crawl_date", "record_id") if k in data}
        try:
            batcher.add_text(text, ids[i], row, url=urls[i], extra=extra)
        except Exception as exc:  # noqa: BLE001 - one row must never end the file
            batcher.quarantine(row, MALFORMED_RECORD, f"{type(exc).__name__}: {str(exc)[:200]}")
        yield from batcher.drain()
