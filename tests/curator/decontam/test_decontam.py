"""Decontamination: index from benchmark JSONL, planted passages caught, clean text not flagged."""

from __future__ import annotations

import json
import random

import pyarrow as pa
import pytest

from curator import schema as S
from curator.decontam import DecontamStage, decontaminate, load_benchmarks
from curator.settings import DecontamSettings

_WORDS = ["".join(random.Random(i).choice("abcdefghijklmnopqrstuvwxyz") for _ in range(7)) for i in range(5000)]


def _sentence(rng, n=30):
    return " ".join(rng.choice(_WORDS) for _ in range(n))


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    rng = random.Random(3)
    d = tmp_path_factory.mktemp("bench")
    qa = d / "mathqa.jsonl"
    mc = d / "mcq.jsonl"
    qa.write_text(
        "\n".join(
            json.dumps(
                {"id": f"q{i}", "question": _sentence(rng, 25), "answer": "It is <<2*3=6>>6 so " + _sentence(rng, 10)}
            )
            for i in range(40)
        )
        + "\n"
    )
    mc.write_text(
        "\n".join(
            json.dumps(
                {"question": _sentence(rng, 12), "options": [_sentence(rng, 3) for _ in range(4)], "answer": "A"}
            )
            for _ in range(40)
        )
        + "\n"
    )
    return [str(qa), str(mc)]


def _docs(bench, rng):
    rows = [json.loads(line) for line in open(bench[0])]
    mcq = [json.loads(line) for line in open(bench[1])]
    ids, texts, expect = [], [], []
    for i in range(30):
        ids.append(f"clean{i}")
        texts.append(_sentence(rng, 150))
        expect.append(None)
    for i in (3, 7):
        ids.append(f"dirty{i}")
        texts.append(_sentence(rng, 60) + " " + rows[i]["question"].upper() + "! " + _sentence(rng, 60))
        expect.append(f"mathqa:q{i}")
    ids.append("dirty_mcq")
    texts.append(_sentence(rng, 40) + " " + mcq[5]["question"] + "\n" + "\n".join(mcq[5]["options"]))
    expect.append("mcq:5")
    return pa.table({S.ID: ids, S.TEXT: texts}), expect


def test_index_fields_and_positions(bench):
    idx = load_benchmarks(bench, ngram=13)
    assert idx.stats["items"] == 80 and idx.labels[0] == "mathqa:q0" and idx.labels[40] == "mcq:0"
    assert "<<" not in idx.texts[0]  # calculator annotations dropped
    assert (idx.hashes[1:] > idx.hashes[:-1]).all()


@pytest.mark.parametrize("confirm", [None, 0.5])
def test_planted_passages_flagged_clean_not(bench, confirm):
    table, expect = _docs(bench, random.Random(5))
    kept, removed, stats = decontaminate(
        table, DecontamSettings(enabled=True, benchmarks=bench, confirm_ratio=confirm, ngram=10 if confirm else 13)
    )
    got = dict(zip(removed.column(S.ID).to_pylist(), removed.column(S.CONTAM_MATCH).to_pylist()))
    assert got == {i: e for i, e in zip(table.column(S.ID).to_pylist(), expect) if e}
    assert stats == {**stats, "in": 33, "out": 30, "dropped": 3, "flagged": 3}
    assert set(removed.column(S.DROP_STAGE).to_pylist()) == {"decontam"}
    assert kept.column(S.CONTAM_MATCH).null_count == kept.num_rows


def test_confirm_ratio_rejects_incidental_overlap(bench):
    rows = [json.loads(line) for line in open(bench[0])]
    rng = random.Random(9)
    # one 13-gram of the item inside a long unrelated page: n-gram hit, but not a copy of the item
    piece = " ".join(rows[1]["question"].split()[:13])
    t = pa.table({S.ID: ["x"], S.TEXT: [_sentence(rng, 100) + " " + piece + " " + _sentence(rng, 100)]})
    assert DecontamStage(benchmarks=bench)(t).column(S.CONTAM_MATCH).to_pylist() == ["mathqa:q1"]
    assert DecontamStage(benchmarks=bench, confirm_ratio=0.5)(t).column(S.CONTAM_MATCH).to_pylist() == [None]


def test_tag_action_keeps_rows(bench):
    table, _ = _docs(bench, random.Random(5))
    kept, removed, stats = decontaminate(table, DecontamSettings(benchmarks=bench, action="tag"))
    assert kept.num_rows == 33 and removed.num_rows == 0 and stats["flagged"] == 3 and stats["dropped"] == 0


def test_index_cache_roundtrip(bench, tmp_path):
    cache = tmp_path / "idx.npz"
    a = load_benchmarks(bench, cache=str(cache))
    b = load_benchmarks(bench, cache=str(cache))
    assert cache.exists() and (a.hashes == b.hashes).all() and a.labels == b.labels


def test_decontaminate_ray(ray_local, bench):
    import ray.data

    table, expect = _docs(bench, random.Random(5))
    ds = ray.data.from_arrow([table.slice(0, 15), table.slice(15)])
    kept, removed, stats = decontaminate(ds, DecontamSettings(benchmarks=bench))
    r = pa.concat_tables([t for t in ray.get(removed.to_arrow_refs()) if t.num_rows])
    assert sorted(r.column(S.CONTAM_MATCH).to_pylist()) == sorted(e for e in expect if e)
    assert stats["in"] == 33 and stats["dropped"] == 3
    assert sum(t.num_rows for t in ray.get(kept.to_arrow_refs())) == 30


def test_lookup_with_presence_table_equals_a_plain_binary_search():
    import numpy as np

    from curator.decontam.index import NgramIndex

    rng = np.random.default_rng(0)
    hashes = np.unique(rng.integers(0, 2**64 - 1, 50_000, dtype=np.uint64, endpoint=True))
    idx = NgramIndex(13, hashes, np.arange(len(hashes), dtype=np.int32), np.zeros(len(hashes), np.int32), [], [])
    query = np.concatenate(
        [
            rng.choice(hashes, 5_000),
            rng.integers(0, 2**64 - 1, 20_000, dtype=np.uint64, endpoint=True),
            hashes[[0, -1]],
        ]
    )
    found, pos = idx.lookup(query)
    want = np.isin(query, hashes)
    assert np.array_equal(found, want) and want.sum() >= 5_002
    assert np.array_equal(hashes[pos[found]], query[found])
    empty = NgramIndex(13, np.zeros(0, np.uint64), np.zeros(0, np.int32), np.zeros(0, np.int32), [], [])
    assert not empty.lookup(query).__getitem__(0).any()
