"""The demo corpus: the shipped real web sample, the planted documents and the shards `curator build` reads."""

from __future__ import annotations

import gzip
import json
from collections import Counter

from curator.demo import CONTAMINATED, demo_documents, web_sample, write_demo_input
from curator.demo_data import SAMPLE


def test_shipped_sample_is_small_real_and_documented():
    assert SAMPLE.stat().st_size < 1_000_000
    rows = web_sample()
    assert len(rows) >= 300
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["text"].strip() and r["url"] for r in rows)
    # provenance per row: only the Apache-2.0 dolma test data, never the classifier's training data
    assert {r["origin"].split(":")[0] for r in rows} == {"dolma_cc_samples", "dolma_warc"}
    readme = (SAMPLE.parent / "README.md").read_text()
    assert "Apache-2.0" in readme and "make_demo_sample.py" in readme
    # real web text: exact duplicates and plenty of non-ASCII (other languages) are part of it
    assert any(n > 1 for n in Counter(r["text"] for r in rows).values())
    assert sum(not r["text"].isascii() for r in rows) > 0.2 * len(rows)


def test_demo_documents_are_the_sample_plus_documented_plants():
    real = {r["id"]: r for r in web_sample()}
    docs = demo_documents(seed=0)
    assert docs == demo_documents(seed=0)
    assert len({d["id"] for d in docs}) == len(docs)
    kinds = Counter(d["kind"] for d in docs)
    assert kinds["contaminated"] == 1 and kinds["near_duplicate"] > 0
    assert kinds["web"] + kinds["contaminated"] == len(real)
    for d in docs:
        if d["kind"] == "web":
            assert d["text"] == real[d["id"]]["text"]
        elif d["kind"] == "contaminated":
            assert d["text"].startswith(real[d["id"]]["text"].rstrip()) and d["text"].endswith(CONTAMINATED)
        else:
            source = d["origin"].rsplit(":", 1)[1]
            assert source in real and d["id"] not in real
            a, b = set(d["text"].split()), set(real[source]["text"].split())
            assert len(a & b) / len(a | b) > 0.8


def test_write_demo_input_adds_the_malformed_lines(tmp_path):
    paths = write_demo_input(tmp_path)
    assert [p.name for p in paths] == ["demo-00.jsonl", "demo-01.jsonl.gz"]
    lines = paths[0].read_bytes().splitlines() + gzip.decompress(paths[1].read_bytes()).splitlines()
    good = 0
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        good += isinstance(row.get("text"), str) and bool(row["text"].strip()) and len(row["text"]) < 100_000
    assert good == len(demo_documents())
    assert len(lines) == good + 5
