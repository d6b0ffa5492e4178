"""Exact dedup on normalized-text hashes.

* :class:`TextHashStage` adds ``text_hash`` (xxh64 of the normalized word sequence, see
  :func:`curator.dedup.normalize.text_hash`).
* :func:`exact_dedup` groups documents by hash across workers — only ``(id, text_hash, edu_score,
  length)`` travel through the shuffle, never the text — picks each group's winner with the keep
  policy (:mod:`curator.dedup.keep`), and removes the losers in a ``map_batches`` pass
  (:mod:`curator.dedup.removal`). Accepts a Ray dataset or a ``pyarrow.Table``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.dedup import keep, removal
from curator.dedup._columns import DOC_LEN
from curator.dedup.normalize import text_hash
from curator.stage import STAGE_CPUS, Resources, Stage

STAGE = "exact_dedup"
REASON = "exact_duplicate"
CLUSTER_MAP_SCHEMA = pa.schema([pa.field(S.ID, pa.string()), pa.field(S.KEPT_ID, pa.string())])


class TextHashStage(Stage):
    """Adds ``text_hash`` (uint64) computed from ``text``; idempotent."""

    name = "text_hash"
    input_columns = (S.TEXT,)
    output_columns = (S.TEXT_HASH,)
    resources = Resources(num_cpus=STAGE_CPUS, batch_size=4096)

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = seed

    def process(self, batch: pa.Table) -> pa.Table:
        h = text_hash(batch.column(S.TEXT), seed=self.seed)
        if S.TEXT_HASH in batch.column_names:
            return batch.set_column(batch.column_names.index(S.TEXT_HASH), S.TEXT_HASH, h)
        return batch.append_column(S.TEXT_HASH, h)


def hash_meta(batch: pa.Table) -> pa.Table:
    """The columns exact dedup groups (and shuffles on Ray): id, score, length, hash (computed if missing)."""
    if S.TEXT_HASH not in batch.column_names:
        batch = TextHashStage()(batch)
    return keep.keep_columns(batch).append_column(S.TEXT_HASH, batch.column(S.TEXT_HASH))


def duplicate_map(meta: pa.Table) -> pa.Table:
    """Cluster map ``(id, kept_id)`` of all members of hash groups with more than one document."""
    return keep.winners(meta, S.TEXT_HASH)


def dedup_stats(n_in: int, cluster_map: pa.Table, seconds: float) -> dict:
    dropped = int(pc.sum(pc.not_equal(cluster_map.column(S.ID), cluster_map.column(S.KEPT_ID))).as_py() or 0)
    groups = len(pc.unique(cluster_map.column(S.KEPT_ID))) if cluster_map.num_rows else 0
    return {
        "stage": STAGE,
        "in": n_in,
        "out": n_in - dropped,
        "dropped": dropped,
        "duplicate_groups": groups,
        "seconds": round(seconds, 3),
    }


def exact_dedup(ds, settings=None, work_dir: str | Path | None = None, batch_size: int = 4096):
    """Remove exact duplicates (same normalized text), keeping one document per group.

    The corpus-operation signature ``(data, settings, work_dir) -> (kept, removed, stats)`` shared with
    :func:`curator.dedup.fuzzy_dedup` and :func:`curator.decontam.decontaminate`.

    Args:
        ds: a Ray dataset (ideally materialized or read from Parquet: it is read twice) or a
            ``pyarrow.Table`` with ``id`` and ``text`` (and optionally ``text_hash``, ``edu_score``,
            ``n_chars``).
        settings: the ``dedup`` section (exact dedup has no parameters of its own; ignored).
        work_dir: where the cluster map is written (``work_dir/exact_dedup/``); required for Ray.
        batch_size: rows per batch.

    Returns:
        ``(kept, removed, stats)`` of the same kind as ``ds``. ``removed`` rows carry
        ``dup_cluster_id`` = ``kept_id`` = the kept document's id, ``drop_stage="exact_dedup"``,
        ``drop_reason="exact_duplicate"``. ``stats`` has ``in``, ``out``, ``dropped``, ``duplicate_groups``.
    """
    t0 = time.perf_counter()
    if isinstance(ds, pa.Table):
        cmap = duplicate_map(hash_meta(ds))
        if work_dir is not None:
            import pyarrow.parquet as pq

            from curator.dedup._ray import step_dir

            pq.write_table(cmap, step_dir(work_dir, STAGE) / "cluster_map.parquet")
        kept, removed = removal.split_table(ds, cmap, STAGE, REASON)
        return kept, removed, dedup_stats(ds.num_rows, cmap, time.perf_counter() - t0)

    if work_dir is None:
        raise ValueError("exact_dedup on a Ray dataset needs work_dir")
    from curator.dedup._ray import n_partitions, read_dir, shuffle_apply, step_dir

    out = step_dir(work_dir, STAGE)
    meta = ds.map_batches(hash_meta, batch_format="pyarrow", batch_size=batch_size, num_cpus=STAGE_CPUS).materialize()
    n_in = meta.count()
    parts = n_partitions(n_in)
    shuffle_apply(meta, S.TEXT_HASH, parts, duplicate_map).write_parquet(str(out))
    cmap = read_dir(out, CLUSTER_MAP_SCHEMA)
    kept, removed = removal.split_dataset(ds, cmap, STAGE, REASON, batch_size=batch_size)
    return kept, removed, dedup_stats(n_in, cmap, time.perf_counter() - t0)


__all__ = ["TextHashStage", "exact_dedup", "duplicate_map", "hash_meta", "STAGE", "REASON", "DOC_LEN"]
