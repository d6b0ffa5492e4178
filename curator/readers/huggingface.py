"""Hugging Face ``datasets`` input: a local dataset directory, or a hub dataset id.

A directory written by ``Dataset.save_to_disk`` is opened with ``load_from_disk``; a hub id
(``hf:NAME`` in the config) is streamed with ``load_dataset(NAME, split=..., streaming=True)``
and needs network access to the hub, which tests here do not have.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from curator.readers.parquet import read_arrow_batches
from curator.readers.records import MALFORMED_RECORD, UNREADABLE_FILE, RecordBatcher


def read_hf_dir(path: str, split: str, batcher: RecordBatcher) -> Iterator[tuple[pa.Table, pa.Table]]:
    import datasets

    try:
        ds = datasets.load_from_disk(path)
        if isinstance(ds, datasets.DatasetDict):
            ds = ds[split] if split in ds else ds[next(iter(ds))]
    except Exception as exc:
        batcher.quarantine(None, UNREADABLE_FILE, f"not a readable datasets directory: {type(exc).__name__}: {exc}")
        yield from batcher.drain(final=True)
        return
    table = ds.data.table if hasattr(ds.data, "table") else ds.with_format("arrow")[:]
    yield from read_arrow_batches(table.schema, table, batcher)


def read_hf_hub(name: str, split: str, batcher: RecordBatcher) -> Iterator[tuple[pa.Table, pa.Table]]:
    import datasets

    try:
        ds = datasets.load_dataset(name, split=split, streaming=True)
    except Exception as exc:
        batcher.quarantine(None, UNREADABLE_FILE, f"cannot open hub dataset {name!r}: {type(exc).__name__}: {exc}")
        yield from batcher.drain(final=True)
        return
    for i, record in enumerate(ds):
        try:
            batcher.add(record, i)
        except Exception as exc:  # noqa: BLE001 - one record must never end the dataset
            batcher.quarantine(i, MALFORMED_RECORD, f"{type(exc).__name__}: {str(exc)[:200]}")
        yield from batcher.drain()
    yield from batcher.drain(final=True)
