"""Fuzzy dedup on planted near-duplicates with known true Jaccard, in process and on Ray."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from curator import schema as S
from curator.dedup import fuzzy_dedup
from curator.dedup.signatures import MinHashSignatureStage, signature_matrix
from curator.settings import FuzzyDedupSettings

from ._planted import corpus, jaccard


@pytest.fixture(scope="module")
def planted():
    return corpus()


def _clusters(kept: pa.Table, removed: pa.Table) -> dict[str, str | None]:
    out = dict(zip(kept.column(S.ID).to_pylist(), kept.column(S.DUP_CLUSTER_ID).to_pylist()))
    out.update(zip(removed.column(S.ID).to_pylist(), removed.column(S.DUP_CLUSTER_ID).to_pylist()))
    return out


def _check(planted_pairs, cl):
    assert any(j >= 0.88 for *_, j, _ in planted_pairs) and any(j <= 0.5 for *_, j, _ in planted_pairs)
    for a, b, j, kind in planted_pairs:
        same = cl[a] is not None and cl[a] == cl[b]
        if j >= 0.88:
            assert same, (a, b, j, kind)
        if j <= 0.6:
            assert not same, (a, b, j, kind)


def test_signature_jaccard_tracks_true_jaccard(planted):
    table, pairs = planted
    sig = MinHashSignatureStage(num_perm=256)(table)
    m = signature_matrix(sig.column("minhash_signature"))
    idx = {i: n for n, i in enumerate(table.column(S.ID).to_pylist())}
    for a, b, j, _ in pairs:
        est = (m[idx[a]] == m[idx[b]]).mean()
        assert abs(est - j) < 0.12


def test_fuzzy_table_clusters_planted_pairs(planted, tmp_path):
    table, pairs = planted
    kept, removed, stats = fuzzy_dedup(table, FuzzyDedupSettings(), tmp_path)
    cl = _clusters(kept, removed)
    _check(pairs, cl)
    # distinct documents are never clustered with each other
    uniques = [i for i in table.column(S.ID).to_pylist() if i.startswith("doc-") and int(i[4:]) >= 30]
    assert all(cl[i] is None for i in uniques)
    assert stats["in"] == table.num_rows and stats["out"] + stats["dropped"] == stats["in"]
    assert kept.num_rows == stats["out"] and removed.num_rows == stats["dropped"]
    # keep policy: the kept member has the highest score in its cluster
    scores = dict(zip(table.column(S.ID).to_pylist(), table.column(S.EDU_SCORE).to_pylist()))
    for r in removed.to_pylist():
        assert r[S.KEPT_ID] == r[S.DUP_CLUSTER_ID] and scores[r[S.KEPT_ID]] >= scores[r[S.ID]]
        assert r[S.DROP_STAGE] == "fuzzy_dedup"
    for step in ("minhash_signatures", "lsh_edges", "clusters"):
        assert any((tmp_path / step).glob("*.parquet"))


def test_fuzzy_keep_policy_deterministic_under_order(planted):
    table, _ = planted
    _, r1, _ = fuzzy_dedup(table, FuzzyDedupSettings())
    _, r2, _ = fuzzy_dedup(table.take(pa.array(list(range(table.num_rows))[::-1])), FuzzyDedupSettings(batch_size=37))
    key = lambda t: sorted(zip(t.column(S.ID).to_pylist(), t.column(S.KEPT_ID).to_pylist()))  # noqa: E731
    assert key(r1) == key(r2)


def test_short_and_empty_documents():
    t = pa.table({S.ID: ["a", "b", "c", "d"], S.TEXT: ["", "", "two words", "two words!"]})
    kept, removed, stats = fuzzy_dedup(t, FuzzyDedupSettings())
    # empty texts are never fuzzy candidates (exact dedup handles them); short identical texts are clustered
    assert removed.column(S.ID).to_pylist() == ["c"] and stats["dropped"] == 1  # "two words!" is longer


def test_fuzzy_ray_matches_table_across_partitions(ray_local, planted, tmp_path):
    import ray.data

    table, _ = planted
    _, r_local, _ = fuzzy_dedup(table, FuzzyDedupSettings())
    expect = sorted(zip(r_local.column(S.ID).to_pylist(), r_local.column(S.KEPT_ID).to_pylist()))
    ds = ray.data.from_arrow([table.slice(i, 30) for i in range(0, table.num_rows, 30)])
    kept, removed, stats = fuzzy_dedup(ds, FuzzyDedupSettings(batch_size=50), tmp_path, partitions=3)
    parts = [t for t in ray.get(removed.to_arrow_refs()) if t.num_rows]
    r = pa.concat_tables(parts)
    k = sum(t.num_rows for t in ray.get(kept.to_arrow_refs()))
    assert sorted(zip(r.column(S.ID).to_pylist(), r.column(S.KEPT_ID).to_pylist())) == expect
    assert k + r.num_rows == table.num_rows == stats["in"]


def test_jaccard_helper_sanity():
    assert jaccard("a b c d e f", "a b c d e f") == 1.0


def test_exact_verification_is_true_shingle_jaccard(planted):
    from curator.dedup import clusters

    table, pairs = planted
    edges = pa.table({"edge_a": [a for a, *_ in pairs], "edge_b": [b for _, b, *_ in pairs]})
    out = clusters.verify_pairs_exact(edges, table, 0.0, ngram=5, seed=42)
    got = dict(
        zip(
            zip(out.column("edge_a").to_pylist(), out.column("edge_b").to_pylist()),
            out.column("shingle_jaccard").to_pylist(),
        )
    )
    for a, b, j, _ in pairs:
        assert got[(a, b)] == pytest.approx(j, abs=1e-9), (a, b)
    # rows are sorted distinct hashes, and pair_jaccard of neighbouring rows equals Python set Jaccard of them
    flat, off = clusters.shingle_sets(table.column(S.TEXT), 5, 42)
    rows = [flat[off[i] : off[i + 1]] for i in range(table.num_rows)]
    assert all(np.all(r[1:] > r[:-1]) for r in rows)
    ia = np.arange(table.num_rows - 1)
    expect = [len(set(rows[i]) & set(rows[i + 1])) / max(1, len(set(rows[i]) | set(rows[i + 1]))) for i in ia]
    np.testing.assert_allclose(clusters.pair_jaccard(flat, off, ia, ia + 1), expect)


def test_verification_modes_and_threads_agree_on_clusters(planted):
    table, pairs = planted
    key = lambda t: sorted(zip(t.column(S.ID).to_pylist(), t.column(S.KEPT_ID).to_pylist()))  # noqa: E731
    _, r1, s1 = fuzzy_dedup(table, FuzzyDedupSettings(batch_size=40))
    from curator.dedup.fuzzy import fuzzy_dedup_table

    _, r2, _ = fuzzy_dedup_table(table, FuzzyDedupSettings(batch_size=40), threads=1)
    _, r3, _ = fuzzy_dedup_table(table, FuzzyDedupSettings(), threads=3)
    assert key(r1) == key(r2) == key(r3)
    k_sig, r_sig, s_sig = fuzzy_dedup(table, FuzzyDedupSettings(verify_exact=False))
    _check(pairs, _clusters(k_sig, r_sig))
    assert s1["verified_pairs"] <= s1["candidate_pairs"] and s_sig["candidate_pairs"] == s1["candidate_pairs"]
