"""Removal: split documents into kept and removed given a cluster map ``(id, kept_id)``.

The cluster map lists every member of every duplicate cluster (the kept document with
``kept_id == id``). Kept rows get ``dup_cluster_id`` = the kept id when they belong to a cluster;
removed rows additionally get ``kept_id``, ``drop_stage`` and ``drop_reason`` (the inspectable side
output). Works on a ``pyarrow.Table`` (:func:`split_table`) and on a Ray dataset
(:func:`split_dataset`, a ``map_batches`` per side, the map broadcast through the object store).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.stage import STAGE_CPUS


def _set_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    if name in table.column_names:
        return table.set_column(table.column_names.index(name), name, values)
    return table.append_column(name, values)


def _lookup(table: pa.Table, cluster_map: pa.Table) -> tuple[pa.Array, pa.Array]:
    """(kept id per row, or null; is-removed mask)."""
    ids = table.column(S.ID).cast(pa.string())
    map_ids = cluster_map.column(S.ID).combine_chunks().cast(pa.string())
    map_kept = cluster_map.column(S.KEPT_ID).combine_chunks().cast(pa.string())
    pos = pc.index_in(ids, value_set=map_ids)
    kept = map_kept.take(pos)  # null where not a member
    if isinstance(kept, pa.ChunkedArray):
        kept = kept.combine_chunks()
    removed = pc.fill_null(pc.not_equal(kept, ids), False)
    if isinstance(removed, pa.ChunkedArray):
        removed = removed.combine_chunks()
    return kept, removed


def kept_rows(table: pa.Table, cluster_map: pa.Table) -> pa.Table:
    """Rows that stay, with ``dup_cluster_id`` set for cluster members (other rows keep their value)."""
    kept, removed = _lookup(table, cluster_map)
    old = (
        table.column(S.DUP_CLUSTER_ID).cast(pa.string())
        if S.DUP_CLUSTER_ID in table.column_names
        else pa.nulls(table.num_rows, pa.string())
    )
    table = _set_column(table, S.DUP_CLUSTER_ID, pc.coalesce(kept, old))
    return table.filter(pc.invert(removed))


def removed_rows(table: pa.Table, cluster_map: pa.Table, stage: str, reason: str) -> pa.Table:
    """Rows that go, with ``dup_cluster_id``/``kept_id`` = the kept document, ``drop_stage``, ``drop_reason``."""
    kept, removed = _lookup(table, cluster_map)
    out = table.filter(removed)
    k = kept.filter(removed)
    n = out.num_rows
    out = _set_column(out, S.DUP_CLUSTER_ID, k)
    out = _set_column(out, S.KEPT_ID, k)
    out = _set_column(out, S.DROP_STAGE, pa.array([stage] * n, pa.string()))
    return _set_column(out, S.DROP_REASON, pa.array([reason] * n, pa.string()))


def split_table(table: pa.Table, cluster_map: pa.Table, stage: str, reason: str) -> tuple[pa.Table, pa.Table]:
    """``(kept, removed)`` of an in-memory table."""
    return kept_rows(table, cluster_map), removed_rows(table, cluster_map, stage, reason)


def split_dataset(ds, cluster_map: pa.Table, stage: str, reason: str, batch_size: int = 4096):
    """``(kept_ds, removed_ds)`` of a Ray dataset; both lazy, each reads ``ds`` once when consumed."""
    import ray

    ref = ray.put(cluster_map)

    def _kept(batch: pa.Table, _ref=ref) -> pa.Table:
        return kept_rows(batch, ray.get(_ref))

    def _removed(batch: pa.Table, _ref=ref) -> pa.Table:
        return removed_rows(batch, ray.get(_ref), stage, reason)

    kw = dict(batch_format="pyarrow", batch_size=batch_size, num_cpus=STAGE_CPUS)
    return ds.map_batches(_kept, **kw), ds.map_batches(_removed, **kw)
