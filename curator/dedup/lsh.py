"""LSH banding: band keys per document, and candidate pairs from documents sharing a key.

:func:`band_keys` turns a signature table into rows ``(lsh_key, id)``, one per band of every
non-empty document, where ``lsh_key`` hashes the band index and the band's ``rows`` MinHash values
(numpy, vectorized). :func:`candidate_pairs` groups key rows (a whole shuffle partition, or a whole
table locally) with pyarrow and emits pairs ``(edge_a, edge_b)``, ``edge_a < edge_b``: all pairs in
buckets up to ``max_bucket_pairs`` documents, a star from the smallest id in larger buckets (enough for
connected components; verification then sees the star edges only). On Ray, rows are shuffled by
``lsh_key % partitions`` so buckets are grouped across workers and no node holds all keys.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.dedup._columns import EDGE_A, EDGE_B, LSH_KEY, N_SHINGLES, SIGNATURE
from curator.dedup.normalize import _mix
from curator.dedup.signatures import signature_matrix

KEY_SCHEMA = pa.schema([pa.field(LSH_KEY, pa.uint64()), pa.field(S.ID, pa.string())])
EDGE_SCHEMA = pa.schema([pa.field(EDGE_A, pa.string()), pa.field(EDGE_B, pa.string())])

_MUL = np.uint64(0x9E3779B97F4A7C15)


def band_keys(sig_table: pa.Table, bands: int, rows: int) -> pa.Table:
    """``(lsh_key, id)`` rows: ``bands`` per document with at least one shingle."""
    if sig_table.num_rows == 0:
        return KEY_SCHEMA.empty_table()
    sig = signature_matrix(sig_table.column(SIGNATURE))[:, : bands * rows].astype(np.uint64)
    n = sig.shape[0]
    with np.errstate(over="ignore"):
        acc = np.broadcast_to(np.arange(1, bands + 1, dtype=np.uint64) * _MUL, (n, bands)).copy()
        banded = sig.reshape(n, bands, rows)
        for j in range(rows):
            acc = _mix(acc * _MUL + banded[:, :, j])
    ok = sig_table.column(N_SHINGLES).to_numpy() > 0
    ids = (
        sig_table.column(S.ID).combine_chunks()
        if isinstance(sig_table.column(S.ID), pa.ChunkedArray)
        else sig_table.column(S.ID)
    )
    doc_idx = np.repeat(np.nonzero(ok)[0], bands)
    return pa.Table.from_arrays(
        [pa.array(acc[ok].reshape(-1), pa.uint64()), ids.take(pa.array(doc_idx))], schema=KEY_SCHEMA
    )


def candidate_pairs(keys: pa.Table, max_bucket_pairs: int = 50) -> pa.Table:
    """Pairs of documents sharing an LSH key, deduplicated, ``edge_a < edge_b``."""
    if keys.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    counts = keys.group_by(LSH_KEY).aggregate([(S.ID, "count")])
    multi = counts.filter(pc.greater(counts.column(f"{S.ID}_count"), 1)).column(LSH_KEY)
    if len(multi) == 0:
        return EDGE_SCHEMA.empty_table()
    shared = keys.filter(pc.is_in(keys.column(LSH_KEY), value_set=multi.combine_chunks()))
    buckets = shared.group_by(LSH_KEY).aggregate([(S.ID, "distinct")])
    a: list[str] = []
    b: list[str] = []
    for members in buckets.column(f"{S.ID}_distinct").to_pylist():
        members = sorted(members)
        if len(members) < 2:
            continue
        if len(members) <= max_bucket_pairs:
            for x, y in combinations(members, 2):
                a.append(x)
                b.append(y)
        else:
            a.extend([members[0]] * (len(members) - 1))
            b.extend(members[1:])
    return dedup_edges(pa.Table.from_arrays([pa.array(a, pa.string()), pa.array(b, pa.string())], schema=EDGE_SCHEMA))


def dedup_edges(edges: pa.Table) -> pa.Table:
    """Distinct edges, sorted (deterministic output)."""
    if edges.num_rows == 0:
        return EDGE_SCHEMA.empty_table()
    d = edges.group_by([EDGE_A, EDGE_B]).aggregate([])
    d = d.select([EDGE_A, EDGE_B])
    return d.take(pc.sort_indices(d, sort_keys=[(EDGE_A, "ascending"), (EDGE_B, "ascending")])).cast(EDGE_SCHEMA)
