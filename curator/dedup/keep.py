"""The deterministic keep policy shared by exact and fuzzy dedup.

Within a duplicate cluster the kept document is the one with the highest ``edu_score`` (null scores
rank lowest), then the longest text (characters), then the smallest id. The order depends only on
the rows' values, never on batch order or worker count.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.dedup._columns import DOC_LEN


def keep_columns(table: pa.Table) -> pa.Table:
    """``(id, edu_score, doc_len)`` of a document table; missing score -> null, missing length -> computed."""
    n = table.num_rows
    score = (
        table.column(S.EDU_SCORE).cast(pa.float64())
        if S.EDU_SCORE in table.column_names
        else pa.nulls(n, pa.float64())
    )
    if DOC_LEN in table.column_names:
        length = table.column(DOC_LEN).cast(pa.int64())
    elif S.N_CHARS in table.column_names and table.column(S.N_CHARS).null_count == 0:
        length = table.column(S.N_CHARS).cast(pa.int64())
    else:
        length = pc.utf8_length(pc.fill_null(table.column(S.TEXT), "")).cast(pa.int64())
    return pa.table({S.ID: table.column(S.ID).cast(pa.string()), S.EDU_SCORE: score, DOC_LEN: length})


def rank_order(table: pa.Table, group_col: str | None = None) -> np.ndarray:
    """Row indices of ``table`` sorted by (group, keep priority): the first row of each group is kept.

    ``table`` needs ``id``, ``edu_score`` and ``dedup_doc_len`` (see :func:`keep_columns`).
    """
    score = pc.fill_null(table.column(S.EDU_SCORE).cast(pa.float64()), -np.inf)
    t = pa.table({"s": score, "l": table.column(DOC_LEN), "i": table.column(S.ID)})
    keys = [("s", "descending"), ("l", "descending"), ("i", "ascending")]
    if group_col is not None:
        t = t.append_column("g", table.column(group_col))
        keys = [("g", "ascending")] + keys
    return pc.sort_indices(t, sort_keys=keys).to_numpy()


def winners(table: pa.Table, group_col: str) -> pa.Table:
    """For every row of a group with more than one row: ``(id, kept_id)`` where kept_id is the group's winner.

    Groups of one row are omitted (their documents are unique). The winner itself appears with
    ``kept_id == id``.
    """
    if table.num_rows == 0:
        return pa.table({S.ID: pa.array([], pa.string()), S.KEPT_ID: pa.array([], pa.string())})
    order = rank_order(table, group_col)
    t = table.take(order)
    g = t.column(group_col).combine_chunks()
    # group boundaries in sorted order
    gnp = g.to_numpy(zero_copy_only=False)
    start = np.ones(len(gnp), dtype=bool)
    start[1:] = gnp[1:] != gnp[:-1]
    grp_idx = np.cumsum(start) - 1
    first_pos = np.nonzero(start)[0]
    sizes = np.diff(np.append(first_pos, len(gnp)))
    multi = sizes[grp_idx] > 1
    ids = t.column(S.ID).combine_chunks()
    kept = ids.take(pa.array(first_pos[grp_idx]))
    mask = pa.array(multi)
    return pa.table({S.ID: ids.filter(mask), S.KEPT_ID: kept.filter(mask)})
