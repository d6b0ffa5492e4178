"""Exact dedup: text-hash stage, keep policy, in-process and on Ray."""

from __future__ import annotations

import pyarrow as pa

from curator import schema as S
from curator.dedup.exact import TextHashStage, exact_dedup


def _table():
    return pa.table(
        {
            S.ID: ["a", "b", "c", "d", "e", "f", "g"],
            S.TEXT: [
                "Hello World!",
                "hello   world",
                "other text",
                "HELLO, world.",
                "other text",
                "unique one",
                "Hello world",
            ],
            S.EDU_SCORE: pa.array([1.0, 2.0, None, 2.0, None, 3.0, 2.0], pa.float32()),
        }
    )


def test_text_hash_stage_idempotent():
    t = TextHashStage()(_table())
    again = TextHashStage()(t)
    assert t.column(S.TEXT_HASH).equals(again.column(S.TEXT_HASH))
    assert t.column(S.TEXT_HASH).type == pa.uint64()


def test_exact_dedup_table_keep_policy():
    kept, removed, stats = exact_dedup(_table())
    assert stats["in"] == 7 and stats["out"] == 3 and stats["dropped"] == 4
    assert sorted(kept.column(S.ID).to_pylist()) == ["b", "c", "f"]
    # b, d, g tie on score 2.0; b and d are 13 chars, g 11: b wins by smallest id
    rem = {r[S.ID]: r for r in removed.to_pylist()}
    assert rem["a"][S.KEPT_ID] == "b" and rem["d"][S.KEPT_ID] == "b" and rem["g"][S.KEPT_ID] == "b"
    assert rem["e"][S.KEPT_ID] == "c"  # null scores: longer/equal -> smallest id
    assert all(r[S.DROP_STAGE] == "exact_dedup" and r[S.DROP_REASON] == "exact_duplicate" for r in rem.values())
    k = {r[S.ID]: r[S.DUP_CLUSTER_ID] for r in kept.to_pylist()}
    assert k == {"b": "b", "c": "c", "f": None}


def test_exact_dedup_deterministic_under_row_order():
    t = _table()
    k1, _, _ = exact_dedup(t)
    k2, _, _ = exact_dedup(t.take(pa.array([6, 5, 4, 3, 2, 1, 0])))
    assert sorted(k1.column(S.ID).to_pylist()) == sorted(k2.column(S.ID).to_pylist())


def test_exact_dedup_ray(ray_local, tmp_path):
    import ray.data

    t = _table()
    ds = ray.data.from_arrow([t.slice(0, 3), t.slice(3)])
    kept, removed, stats = exact_dedup(ds, work_dir=tmp_path)
    k = pa.concat_tables([t for t in ray.get(kept.to_arrow_refs()) if t.num_rows])
    r = pa.concat_tables([t for t in ray.get(removed.to_arrow_refs()) if t.num_rows])
    assert sorted(k.column(S.ID).to_pylist()) == ["b", "c", "f"]
    assert dict(zip(r.column(S.ID).to_pylist(), r.column(S.KEPT_ID).to_pylist())) == {
        "a": "b",
        "d": "b",
        "g": "b",
        "e": "c",
    }
    assert stats["dropped"] == 4
    assert (tmp_path / "exact_dedup").is_dir()
