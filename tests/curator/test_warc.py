"""WARC/WET readers (files written here with warcio, malformed records included) and one end-to-end build."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from warc_fixtures import ENGLISH, GERMAN, page, truncate_gzip, write_warc, write_wet

from curator import schema as S
from curator.readers import Shard, detect_format, expand_inputs, read_shard
from curator.readers.warc import HTTP_STATUS, NO_TEXT, NOT_HTML, gzip_damage, iso_date
from curator.settings import InputSettings


def _read(path: Path, fmt: str, **settings):
    docs, quarantine = [], []
    for d, q in read_shard(Shard(str(path), fmt), InputSettings(**settings)):
        assert d.schema == S.INPUT_SCHEMA and q.schema == S.QUARANTINE_SCHEMA
        docs += d.to_pylist()
        quarantine += q.to_pylist()
    return docs, quarantine


@pytest.fixture
def warc_file(tmp_path):
    pages = [(f"https://learn.example/lesson/{i}", page(t)) for i, t in enumerate(ENGLISH)]
    pages.append(("https://empty.example/", b"<html><body><script>only()</script></body></html>"))
    return write_warc(tmp_path / "crawl-00000.warc.gz", pages)


def test_warc_reader_extracts_html_responses_and_quarantines_the_rest(warc_file):
    assert detect_format(warc_file.name) == "warc"
    docs, quarantine = _read(warc_file, "warc")
    assert [d[S.URL] for d in docs] == [f"https://learn.example/lesson/{i}" for i in range(3)]
    for d, text in zip(docs, ENGLISH):
        assert d[S.CRAWL_DATE] == "2024-04-25"
        assert d[S.RECORD_ID].startswith("urn:uuid:") and d[S.ID] == d[S.RECORD_ID]
        assert text.split(". ")[0] in d[S.TEXT]
        assert (
            "We use cookies" not in d[S.TEXT]
            and "All rights reserved" not in d[S.TEXT]
            and "About us" not in d[S.TEXT]
        )
    reasons = Counter(q[S.Q_REASON] for q in quarantine)
    assert reasons == {NOT_HTML: 1, HTTP_STATUS: 1, "malformed_record": 1, NO_TEXT: 1}
    png = next(q for q in quarantine if q[S.Q_REASON] == NOT_HTML)
    assert "image/png" in png[S.Q_DETAIL] and png[S.Q_RAW].startswith(b"\x89PNG")
    # the warcinfo and request records are not documents and not errors
    assert len(docs) + len(quarantine) == 7


def test_truncated_warc_keeps_records_before_the_damage(warc_file, tmp_path):
    cut = truncate_gzip(warc_file, tmp_path / "cut.warc.gz", keep_fraction=0.8)
    assert gzip_damage(str(cut)) and gzip_damage(str(warc_file)) is None
    docs, quarantine = _read(cut, "warc")
    assert 1 <= len(docs) <= 3
    assert [q[S.Q_REASON] for q in quarantine].count("truncated_file") == 1


def test_not_a_warc_at_all_is_quarantined_not_fatal(tmp_path):
    junk = tmp_path / "junk.warc.gz"
    junk.write_bytes(b"\x1f\x8b\x08\x00garbage that is not deflate data" * 10)
    docs, quarantine = _read(junk, "warc")
    assert docs == [] and [q[S.Q_REASON] for q in quarantine] == ["truncated_file"]


def test_wet_reader_reads_conversion_records(tmp_path):
    wet = write_wet(
        tmp_path / "crawl.warc.wet.gz",
        [
            ("https://a.example/", ENGLISH[0].encode()),
            ("https://b.example/", b"caf\xe9 not utf-8"),
            ("https://c.example/", b"   \n "),
            ("https://d.example/", GERMAN.encode()),
        ],
    )
    assert detect_format(wet.name) == "wet"
    docs, quarantine = _read(wet, "wet")
    assert [d[S.URL] for d in docs] == ["https://a.example/", "https://d.example/"]
    assert docs[0][S.TEXT] == ENGLISH[0] and docs[1][S.TEXT] == GERMAN
    assert {d[S.CRAWL_DATE] for d in docs} == {"2019-07-15"}
    assert sorted(q[S.Q_REASON] for q in quarantine) == ["bad_utf8", "empty_text"]


def test_oversized_documents_are_quarantined(tmp_path):
    wet = write_wet(tmp_path / "big.wet.gz", [("https://a.example/", ("word " * 500).encode())])
    docs, quarantine = _read(wet, "wet", max_doc_bytes=1000)
    assert docs == [] and quarantine[0][S.Q_REASON] == "too_large"


def test_iso_date():
    assert iso_date("2024-04-25T16:24:44Z") == "2024-04-25"
    assert iso_date("not a date") is None and iso_date(None) is None


@pytest.mark.slow
def test_build_from_warc_and_wet_end_to_end(ray_local, tmp_path):
    """WARC + WET in, phase outputs with provenance out; URL and language filters counted in the manifest."""
    from curator.settings import load_config
    from pipelines.build import run_build

    inp = tmp_path / "in"
    inp.mkdir()
    pages = [(f"https://learn.example/lesson/{i}", page(t)) for i, t in enumerate(ENGLISH)]
    pages += [
        ("https://www.pornhub.com/lesson", page(ENGLISH[0] + " Extra words make this page distinct from the first.")),
        ("https://schule.example/", page(GERMAN)),
    ]
    write_warc(inp / "crawl-00000.warc.gz", pages)
    wet_text = " ".join(reversed(ENGLISH)) + " This page comes from a WET file."
    write_wet(
        inp / "crawl-00000.warc.wet.gz",
        [("https://wet.example/1", wet_text.encode()), ("https://wet.example/2", b"\xff\xfe broken")],
    )
    assert [s.format for s in expand_inputs([str(inp)])] == ["warc", "wet"]
    config = load_config(
        None,
        {
            "name": "warc-e2e",
            "input": {"paths": [str(inp)]},
            "heuristics": {"enabled": False},
            "dedup": {"fuzzy": {"enabled": False}},
            "thresholds": {"phase1_min_score": 0.0, "phase2_min_score": 0.0},
        },
    )
    manifest = run_build(config, tmp_path / "out", progress=False, log=lambda m: None)
    assert manifest["counts_balanced"]
    stages = {s["name"]: s for s in manifest["stages"]}
    assert stages["url_filter"]["reasons"] == {"blocked_domain": 1}
    assert stages["url_filter"]["blocklist"]["domains"] > 0
    assert stages["language_filter"]["reasons"] == {"lang:de": 1}
    assert stages["language_filter"]["out"] == 4
    q = manifest["quarantine"]["reasons"]
    assert q["not_html"] == 1 and q["http_status"] == 1 and q["malformed_record"] == 1 and q["bad_utf8"] == 1
    rows = pq.read_table(tmp_path / "out" / "phase1").to_pylist()
    assert sorted(r[S.URL] for r in rows) == sorted(
        [f"https://learn.example/lesson/{i}" for i in range(3)] + ["https://wet.example/1"]
    )
    for r in rows:
        assert r[S.LANGUAGE] == "en" and r[S.LANGUAGE_SCORE] >= 0.5
        assert r[S.RECORD_ID].startswith("urn:uuid:") and r[S.CRAWL_DATE] in ("2024-04-25", "2019-07-15")
    rejected = pq.read_table(tmp_path / "out" / "rejected" / "language_filter").to_pylist()
    assert [(r[S.URL], r[S.DROP_REASON], r[S.LANGUAGE]) for r in rejected] == [
        ("https://schule.example/", "lang:de", "de")
    ]
    assert json.loads((tmp_path / "out" / "manifest.json").read_text())["config"]["language"]["languages"] == ["en"]


def test_extract_settings_reach_the_warc_reader(warc_file):
    """The config's `extract` section is what the reader uses (read_shard passes it through)."""
    shard = Shard(str(warc_file), "warc")
    default = [d for d, _ in read_shard(shard, InputSettings(), extract={})]
    strict = [(d, q) for d, q in read_shard(shard, InputSettings(), extract={"min_chars": 10**6})]
    assert sum(t.num_rows for t in default) == 3
    assert sum(d.num_rows for d, _ in strict) == 0
    assert Counter(r for _, q in strict for r in q.column(S.Q_REASON).to_pylist())[NO_TEXT] >= 3
