"""Readers: every input format becomes (documents, quarantine) Arrow tables with declared schemas.

Use :func:`expand_inputs` to find shards and :func:`read_shard` to stream one. Documents
follow :data:`curator.schema.INPUT_SCHEMA`; rejected input follows
:data:`curator.schema.QUARANTINE_SCHEMA` and carries a reason.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from curator.readers.base import Shard, detect_format, expand_inputs
from curator.readers.records import RecordBatcher
from curator.settings import InputSettings

__all__ = ["Shard", "detect_format", "expand_inputs", "read_shard", "READERS"]


def _jsonl(shard, settings, batcher):
    from curator.readers.jsonl import read_jsonl

    return read_jsonl(shard.path, batcher)


def _parquet(shard, settings, batcher):
    from curator.readers.parquet import read_parquet

    return read_parquet(shard.path, batcher)


def _hf(shard, settings, batcher):
    from curator.readers.huggingface import read_hf_dir

    return read_hf_dir(shard.path, settings.hf_split, batcher)


def _hf_hub(shard, settings, batcher):
    from curator.readers.huggingface import read_hf_hub

    return read_hf_hub(shard.path, settings.hf_split, batcher)


def _warc(shard, settings, batcher, extract=None):
    from curator.readers.warc import read_warc

    return read_warc(shard.path, batcher, extract)


def _wet(shard, settings, batcher, extract=None):
    from curator.readers.warc import read_wet

    return read_wet(shard.path, batcher)


# format -> reader(shard, settings, batcher[, extract]); each reader imports its module on first use.
READERS = {"jsonl": _jsonl, "parquet": _parquet, "hf": _hf, "hf-hub": _hf_hub, "warc": _warc, "wet": _wet}


def read_shard(
    shard: Shard, settings: InputSettings | None = None, extract: dict | None = None
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Stream one shard as (documents, quarantine) table pairs of at most ``settings.rows_per_part`` rows.

    ``extract`` (the config's ``extract`` section) tells the WARC reader how to turn HTML into text.
    """
    settings = settings or InputSettings()
    reader = READERS.get(shard.format)
    if reader is None:
        raise ValueError(f"no reader for format {shard.format!r}")
    batcher = RecordBatcher(
        source=shard.path,
        shard_key=shard.key,
        text_field=settings.text_field,
        id_field=settings.id_field,
        url_field=settings.url_field,
        max_doc_bytes=settings.max_doc_bytes,
        rows_per_part=settings.rows_per_part,
    )
    if shard.format in ("warc", "wet"):
        yield from reader(shard, settings, batcher, extract=extract)
    else:
        yield from reader(shard, settings, batcher)
