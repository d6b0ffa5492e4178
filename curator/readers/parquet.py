"""Parquet reader: streamed by record batch, schema checked before any row is read.

A shard without the configured text column, or whose text column is not a string type,
is quarantined whole as ``wrong_schema`` (one quarantine row naming what was found).
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from curator.readers.records import TRUNCATED_FILE, UNREADABLE_FILE, WRONG_SCHEMA, RecordBatcher


def read_parquet(path: str, batcher: RecordBatcher) -> Iterator[tuple[pa.Table, pa.Table]]:
    try:
        pf = pq.ParquetFile(path)
    except Exception as exc:
        batcher.quarantine(None, UNREADABLE_FILE, f"not a readable Parquet file: {type(exc).__name__}: {exc}")
        yield from batcher.drain(final=True)
        return
    yield from read_arrow_batches(pf.schema_arrow, (lambda: pf.iter_batches(batch_size=4096)), batcher)


def read_arrow_batches(arrow_schema: pa.Schema, batches, batcher: RecordBatcher) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Shared by the Parquet and Hugging Face readers: validate columns, then rows."""
    names = arrow_schema.names
    tf = batcher.text_field
    if tf not in names:
        batcher.quarantine(None, WRONG_SCHEMA, f"no `{tf}` column (columns: {names[:20]}); set input.text_field")
        yield from batcher.drain(final=True)
        return
    ttype = arrow_schema.field(tf).type
    if not (pa.types.is_string(ttype) or pa.types.is_large_string(ttype)):
        batcher.quarantine(None, WRONG_SCHEMA, f"column `{tf}` has type {ttype}, expected string")
        yield from batcher.drain(final=True)
        return
    cols = [c for c in (tf, batcher.id_field, batcher.url_field, "crawl_date", "record_id") if c in names]
    row = 0
    try:
        for rb in batches():
            data = rb.select(cols).to_pydict() if hasattr(rb, "select") else {c: rb.column(c).to_pylist() for c in cols}
            texts = data[tf]
            ids = data.get(batcher.id_field) or [None] * len(texts)
            urls = data.get(batcher.url_field) or [None] * len(texts)
            for i, text in enumerate(texts):
                if text is None:
                    from curator.readers.records import MISSING_TEXT

                    batcher.quarantine(row, MISSING_TEXT, f"`{tf}` is null")
                else:
                    extra = {k: data[k][i] for k in ("crawl_date", "record_id") if k in data}
                    batcher.add_text(text, ids[i], row, url=urls[i], extra=extra)
                row += 1
                if batcher.full():
                    yield batcher.flush()
    except Exception as exc:
        batcher.quarantine(f"after row {row}", TRUNCATED_FILE, f"{type(exc).__name__}: {exc}")
    yield from batcher.drain(final=True)
