"""Duplicate ids across shards: a document whose id an earlier shard already holds is quarantined.

Within one shard the reader quarantines a repeated id (``duplicate_id``); across shards this runs in
the driver once every shard is ingested. Shards are ordered by path (the order of
:func:`curator.readers.expand_inputs`); the first shard holding an id keeps it, every later document
with that id leaves its shard's parts and is quarantined as ``duplicate_id_across_shards`` (its text
kept as the quarantine row's raw bytes), so ``in = kept + quarantined`` still holds per shard.

Safe to kill at any point and to rerun: a shard's directory (its parts, its ``_DONE.json`` with
updated counts and the removed rows as ``_xdup.parquet``) is swapped in by two renames (a shard left
without its directory is simply ingested again), and each shard's quarantine file is rebuilt from the
reader's rows plus ``_xdup.parquet`` every time.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.readers import Shard
from curator.readers.records import DUPLICATE_ID_ACROSS_SHARDS
from curator.writers import atomic_write_json, atomic_write_table, parquet_files, temp_dir_for

XDUP_FILE = "_xdup.parquet"


def _ids(base: Path, shards: list[Shard]) -> pa.Table:
    """(id, shard number, part file, row) of every ingested document."""
    parts = []
    for k, sh in enumerate(shards):
        for f in parquet_files(base / sh.key):
            ids = pq.read_table(f, columns=[S.ID]).column(S.ID).combine_chunks()
            n = len(ids)
            parts.append(
                pa.table(
                    {
                        "id": ids,
                        "shard": pa.array([k] * n, pa.int32()),
                        "file": pa.array([f.name] * n),
                        "row": pa.array(range(n), pa.int64()),
                    }
                )
            )
    return (
        pa.concat_tables(parts)
        if parts
        else pa.table({"id": pa.array([], pa.string()), "shard": pa.array([], pa.int32())})
    )


def _later_duplicates(ids: pa.Table) -> pa.Table:
    """Rows of ``ids`` whose id a lower-numbered shard holds, with that shard's number as ``first``."""
    if ids.num_rows == 0:
        return ids
    groups = ids.group_by("id").aggregate([("shard", "min"), ("shard", "count")])
    groups = groups.filter(pc.greater(groups.column("shard_count"), 1))
    if groups.num_rows == 0:
        return ids.slice(0, 0)
    joined = ids.join(groups.select(["id", "shard_min"]), "id", join_type="inner")
    return joined.filter(pc.greater(joined.column("shard"), joined.column("shard_min"))).rename_columns(
        [c if c != "shard_min" else "first" for c in joined.column_names]
    )


def _rewrite_shard(shard_dir: Path, dups: pa.Table, first_sources: dict[int, str], compression: str) -> None:
    """Swap in ``shard_dir`` without the rows of ``dups``, with ``_xdup.parquet`` and updated ``_DONE.json``."""
    tmp = temp_dir_for(shard_dir)
    tmp.mkdir(parents=True)
    removed = []
    for f in parquet_files(shard_dir):
        mine = dups.filter(pc.equal(dups.column("file"), f.name))
        if mine.num_rows == 0:
            shutil.copy2(f, tmp / f.name)
            continue
        table = pq.read_table(f)
        rows = set(mine.column("row").to_pylist())
        drop = pa.array([i in rows for i in range(table.num_rows)])
        gone = table.filter(drop)
        firsts = dict(zip(mine.column("row").to_pylist(), mine.column("first").to_pylist()))
        for i, (doc_id, text, source) in zip(
            sorted(rows),
            zip(gone.column(S.ID).to_pylist(), gone.column(S.TEXT).to_pylist(), gone.column(S.SOURCE).to_pylist()),
        ):
            detail = f"id {doc_id!r} is already in an earlier shard ({first_sources[firsts[i]]})"
            removed.append(S.quarantine_row(source, f"id {doc_id}", DUPLICATE_ID_ACROSS_SHARDS, detail, text))
        kept = table.filter(pc.invert(drop))
        if kept.num_rows:
            atomic_write_table(kept, tmp / f.name, compression=compression)
    old = json.loads((shard_dir / "_DONE.json").read_text())
    if (shard_dir / XDUP_FILE).exists():  # a shard rewritten before (a run killed half-way) keeps its earlier rows
        removed = pq.read_table(shard_dir / XDUP_FILE).to_pylist() + removed
    n_new = dups.num_rows
    reasons = dict(old.get("reasons", {}))
    reasons[DUPLICATE_ID_ACROSS_SHARDS] = reasons.get(DUPLICATE_ID_ACROSS_SHARDS, 0) + n_new
    stats = {**old, "rows": old["rows"] - n_new, "quarantined": old["quarantined"] + n_new, "reasons": reasons}
    atomic_write_table(
        pa.Table.from_pylist(removed, schema=S.QUARANTINE_SCHEMA), tmp / XDUP_FILE, compression=compression
    )
    atomic_write_json(stats, tmp / "_DONE.json")
    aside = temp_dir_for(shard_dir)
    os.replace(shard_dir, aside)  # killed between the two renames: the shard has no _DONE.json and is ingested again
    os.replace(tmp, shard_dir)
    shutil.rmtree(aside, ignore_errors=True)


def quarantine_duplicate_ids(base: Path, qdir: Path, shards: list[Shard], compression: str) -> list[dict]:
    """Quarantine later duplicates of ids across ``shards``; return every shard's ``_DONE.json`` stats."""
    dups = _later_duplicates(_ids(base, shards))
    sources = {k: sh.path for k, sh in enumerate(shards)}
    if dups.num_rows:
        for k in sorted(set(dups.column("shard").to_pylist())):
            _rewrite_shard(base / shards[k].key, dups.filter(pc.equal(dups.column("shard"), k)), sources, compression)
    for sh in shards:  # rebuilt every time: idempotent after a kill between a shard's swap and this
        xdup = base / sh.key / XDUP_FILE
        if xdup.exists():
            qpath = qdir / f"{sh.key}.parquet"
            q = pq.read_table(qpath) if qpath.exists() else S.empty(S.QUARANTINE_SCHEMA)
            q = q.filter(pc.not_equal(q.column(S.Q_REASON), DUPLICATE_ID_ACROSS_SHARDS))
            atomic_write_table(
                pa.concat_tables([q, pq.read_table(xdup).cast(S.QUARANTINE_SCHEMA)]), qpath, compression=compression
            )
    return [json.loads((base / sh.key / "_DONE.json").read_text()) for sh in shards]
