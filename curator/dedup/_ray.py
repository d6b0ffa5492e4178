"""Ray helpers for dedup: key-partitioned shuffles and Parquet step directories.

Grouping millions of tiny groups with ``groupby(key).map_groups`` would call Python once per group.
Instead rows are shuffled by ``key % partitions`` (Ray Data hash shuffle across workers) and each
partition is grouped with vectorized pyarrow inside one call.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.dedup._columns import PART
from curator.stage import STAGE_CPUS


def n_partitions(n_rows: int, rows_per_partition: int = 200_000) -> int:
    return int(max(1, min(512, -(-n_rows // rows_per_partition))))


def add_partition(table: pa.Table, key_col: str, parts: int) -> pa.Table:
    key = table.column(key_col).to_numpy()
    return table.append_column(PART, pa.array((key % np.uint64(parts)).astype(np.int64)))


def shuffle_apply(ds, key_col: str, parts: int, fn: Callable[[pa.Table], pa.Table]):
    """Shuffle ``ds`` by ``key_col % parts`` and apply ``fn`` to each whole partition (a pa.Table)."""

    def _part(batch: pa.Table) -> pa.Table:
        return add_partition(batch, key_col, parts)

    def _apply(group: pa.Table) -> pa.Table:
        return fn(group.drop_columns([PART]))

    return (
        ds.map_batches(_part, batch_format="pyarrow", num_cpus=STAGE_CPUS)
        .groupby(PART, num_partitions=parts)
        .map_groups(_apply, batch_format="pyarrow", num_cpus=STAGE_CPUS)
    )


def step_dir(work_dir: str | Path, step: str, clear: bool = True) -> Path:
    """``work_dir/<step>/``, emptied first so a rerun replaces the step's output."""
    p = Path(work_dir) / step
    if clear and p.exists():
        shutil.rmtree(p)
    p.mkdir(parents=True, exist_ok=True)
    return p


def read_dir(
    path: str | Path, schema: pa.Schema | None = None, filter_ids: pa.Array | None = None, id_col: str | None = None
) -> pa.Table:
    """Read a step directory's Parquet files on the driver (only small steps: edges, cluster maps).

    With ``filter_ids``, only rows whose ``id_col`` is in ``filter_ids`` are kept (pushed down).
    """
    import pyarrow.dataset as pads

    files = sorted(str(f) for f in Path(path).glob("*.parquet"))
    if not files:
        return schema.empty_table() if schema is not None else pa.table({})
    d = pads.dataset(files, format="parquet", schema=schema)
    flt = pc.field(id_col).isin(filter_ids) if filter_ids is not None else None
    return d.to_table(filter=flt)
