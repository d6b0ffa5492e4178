"""Candidate verification and connected components -> the cluster map ``(id, kept_id)``.

* :func:`verify_pairs` estimates each candidate pair's Jaccard as the fraction of equal MinHash values
  and keeps pairs at or above the threshold (drops LSH false positives).
* :func:`cluster_map` joins the verified edges into connected components (scipy
  ``connected_components`` over the members only: edges are few) and picks each component's kept
  document with the keep policy (:mod:`curator.dedup.keep`). Every member gets ``kept_id`` = that
  document's id, which becomes its ``dup_cluster_id``.

Only documents that appear in candidate pairs are ever loaded here, never all signatures.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.dedup import keep
from curator.dedup._columns import DOC_LEN, EDGE_A, EDGE_B, SIGNATURE, SIMILARITY
from curator.dedup.signatures import signature_matrix

CLUSTER_MAP_SCHEMA = pa.schema([pa.field(S.ID, pa.string()), pa.field(S.KEPT_ID, pa.string())])


def edge_members(edges: pa.Table) -> pa.Array:
    """Distinct ids that appear in ``edges``."""
    both = pa.concat_arrays([edges.column(EDGE_A).combine_chunks(), edges.column(EDGE_B).combine_chunks()])
    return pc.unique(both)


def _dedup_ids(members: pa.Table) -> pa.Table:
    """One row per id (first occurrence), so lookups by id are unambiguous."""
    ids = members.column(S.ID).combine_chunks()
    first = pc.index_in(pc.unique(ids), value_set=ids)
    return members.take(first)


def verify_pairs(edges: pa.Table, members: pa.Table, threshold: float) -> pa.Table:
    """Edges whose signature Jaccard is >= ``threshold``, with an ``est_jaccard`` column.

    Args:
        edges: ``(edge_a, edge_b)``.
        members: signature rows (``id``, ``minhash_signature``) of at least every id in ``edges``.
        threshold: minimum estimated Jaccard.
    """
    if edges.num_rows == 0:
        return edges.append_column(SIMILARITY, pa.array([], pa.float64()))
    members = _dedup_ids(members)
    sig = signature_matrix(members.column(SIGNATURE))
    ids = members.column(S.ID).combine_chunks()
    ia = pc.index_in(edges.column(EDGE_A), value_set=ids).to_numpy(zero_copy_only=False)
    ib = pc.index_in(edges.column(EDGE_B), value_set=ids).to_numpy(zero_copy_only=False)
    sim = np.empty(len(ia), dtype=np.float64)
    step = 65536
    for i in range(0, len(ia), step):
        sim[i : i + step] = (sig[ia[i : i + step]] == sig[ib[i : i + step]]).mean(axis=1)
    out = edges.append_column(SIMILARITY, pa.array(sim))
    return out.filter(pc.greater_equal(out.column(SIMILARITY), threshold))


def cluster_map(edges: pa.Table, members: pa.Table) -> pa.Table:
    """``(id, kept_id)`` for every document in a connected component of ``edges``.

    Args:
        edges: ``(edge_a, edge_b)`` (verified or not).
        members: rows with ``id``, ``edu_score``, ``dedup_doc_len`` of at least every id in ``edges``.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if edges.num_rows == 0:
        return CLUSTER_MAP_SCHEMA.empty_table()
    nodes = edge_members(edges)
    a = pc.index_in(edges.column(EDGE_A), value_set=nodes).to_numpy(zero_copy_only=False)
    b = pc.index_in(edges.column(EDGE_B), value_set=nodes).to_numpy(zero_copy_only=False)
    n = len(nodes)
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    members = _dedup_ids(members.select([S.ID, S.EDU_SCORE, DOC_LEN]))
    pos = pc.index_in(nodes, value_set=members.column(S.ID).combine_chunks())
    if pos.null_count:
        raise ValueError("cluster_map: members lack some ids that appear in edges")
    meta = members.take(pos).append_column("component", pa.array(labels.astype(np.int64)))
    return keep.winners(meta, "component").cast(CLUSTER_MAP_SCHEMA)
