"""Build report (OUT/report: valid PNG plots and report.md), `curator inspect`, and the build-output readers."""

from __future__ import annotations

import json
import re
import shutil

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from curator import schema as S
from curator.dedup.normalize import normalize_one
from pipelines import build_outputs as B
from pipelines.cli import app
from pipelines.report import PLOTS, write_report

pytestmark = pytest.mark.slow
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _manifest(out) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _inspect(*args: str):
    result = CliRunner().invoke(app, ["inspect", *args], env={"COLUMNS": "220"})
    return result


def test_build_writes_a_report_with_valid_pngs(demo_build):
    report = demo_build / "report"
    m = _manifest(demo_build)
    for name in PLOTS:
        path = report / name
        assert path.read_bytes()[:8] == PNG_MAGIC, name
        with Image.open(path) as im:
            im.verify()
        with Image.open(path) as im:
            assert im.format == "PNG" and im.size[0] >= 400 and im.size[1] >= 150
            assert len(set(im.convert("RGB").getdata())) > 10, f"{name} is blank"
    md = (report / "report.md").read_text()
    assert f"**{m['outputs']['phase1']['rows']:,}**" in md
    for st in m["stages"]:
        if "in" in st:
            assert f"| {st['name']} | {st['in']:,} | {st['out']:,} | {st['dropped']:,} |" in md
    for p in PLOTS:
        assert f"]({p})" in md
    assert "too_few_words" in md and "### " in md  # reasons with examples
    assert not list(demo_build.glob(".report*")), "temporary report directory left behind"


def test_write_report_replaces_the_old_one_and_quotes_the_sampled_texts(demo_build, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(demo_build, out)
    (out / "report" / "stale.txt").write_text("old")
    write_report(out, _manifest(out))
    assert sorted(p.name for p in (out / "report").iterdir()) == sorted([*PLOTS, "report.md"])
    # the report reads texts only for its samples (by file and row): each quoted text is its document's own
    texts = {r["id"]: r["text"] for f in (out / "rejected").rglob("*.parquet") for r in pq.read_table(f).to_pylist()}
    texts.update(
        {r["id"]: r["text"] for f in (out / "phase1").glob("*.parquet") for r in pq.read_table(f).to_pylist()}
    )
    pattern = r"^- (?:\*\*\d\*\* )?`([^`]+)`(?: \(kept instead: `[^`]+`\)| \(score [-\d.]+\))?: (.*)$"
    quoted = re.findall(pattern, (out / "report" / "report.md").read_text(), re.M)
    assert len(quoted) >= 8
    for doc_id, shown in quoted:
        assert " ".join(texts[doc_id].split()).startswith(shown.rstrip("…").rstrip()[:60]), doc_id


def test_inspect_prints_the_manifest_counts(demo_build):
    m = _manifest(demo_build)
    result = _inspect(str(demo_build))
    assert result.exit_code == 0, result.output
    text = result.output
    for st in m["stages"]:
        if "in" in st:
            row = next(line for line in text.splitlines() if f" {st['name']} " in line)
            for key in ("in", "out", "dropped"):
                assert f" {st[key]} " in row, (st["name"], key, row)
    for name in ("phase1", "phase2", "quarantine"):
        row = next(line for line in text.splitlines() if f" {name} " in line and "│" in line)
        assert f" {m['outputs'][name]['rows']} " in row
    for reason, count in m["quarantine"]["reasons"].items():
        assert any(reason in line and f" {count} " in line for line in text.splitlines())


def test_inspect_samples_by_bucket_reason_and_text(demo_build):
    kept = B.kept(demo_build, [S.ID, S.TEXT, S.EDU_INT_SCORE])
    bucket = int(kept.column(S.EDU_INT_SCORE)[0].as_py())
    in_bucket = set(B.bucket_samples(demo_build, bucket, n=10_000).column(S.ID).to_pylist())
    result = _inspect(str(demo_build), "--bucket", str(bucket), "--n", "3")
    assert result.exit_code == 0, result.output
    shown = {i for i in in_bucket if i in result.output}
    assert 1 <= len(shown) <= 3
    assert _inspect(str(demo_build), "--bucket", str(bucket), "--n", "3").output == result.output  # seeded

    too_few = B.dropped(demo_build, [S.ID], stage="heuristic_filter")
    too_few = set(too_few.filter(pc.equal(too_few.column(S.DROP_REASON), "too_few_words")).column(S.ID).to_pylist())
    result = _inspect(str(demo_build), "--dropped-by", "too_few_words", "--n", "2")
    assert result.exit_code == 0 and "heuristic_filter: too_few_words" in result.output
    assert 1 <= sum(i in result.output for i in too_few) <= 2

    result = _inspect(str(demo_build), "--dropped-by", "exact_duplicate", "--n", "2")
    assert "exact_dedup: exact_duplicate" in result.output
    result = _inspect(str(demo_build), "--dropped-by", "no_such_rule")
    assert result.exit_code == 0 and "no document was dropped by 'no_such_rule'" in result.output

    word = kept.column(S.TEXT)[0].as_py().split()[3]
    result = _inspect(str(demo_build), "--search", word, "--n", "2", "--width", "120")
    assert result.exit_code == 0 and word.lower() in result.output.lower()


def test_inspect_refuses_a_directory_without_a_build(tmp_path):
    result = _inspect(str(tmp_path))
    assert result.exit_code == 2
    assert "no manifest.json" in result.output


def test_readers_pair_duplicates_hits_and_seeds(demo_build):
    pairs = B.dedup_pairs(demo_build, "exact_dedup", n=5)
    assert pairs
    for p in pairs:
        assert p["kept"] is not None and p["kept"][S.ID] == p["removed"][S.KEPT_ID]
        assert normalize_one(p["kept"][S.TEXT]) == normalize_one(p["removed"][S.TEXT])
    fuzzy = B.dedup_pairs(demo_build, "fuzzy_dedup", n=5)
    assert all(p["kept"] is not None and p["kept"][S.ID] != p["removed"][S.ID] for p in fuzzy)
    m = _manifest(demo_build)
    hits = B.contamination_hits(demo_build, m)
    if m["config"]["decontam"]["enabled"]:
        assert hits and all(h["benchmark_text"] for h in hits)
        assert "Natalia" in hits[0][S.TEXT] and "Natalia" in hits[0]["benchmark_text"]
    else:
        assert hits == []
    assert B.synthetic_pairs(demo_build) == []  # synthesis is off in the demo
    funnel = B.funnel(m)
    assert funnel[0][1] == m["stages"][0]["in"] and funnel[-1] == ("phase2 corpus", m["outputs"]["phase2"]["rows"])
    assert [c for c in funnel if c[0] == "phase1 corpus"][0][1] == m["outputs"]["phase1"]["rows"]


def test_sample_is_seeded_and_bounded():
    t = pa.table({S.ID: [str(i) for i in range(50)]})
    a, b = B.sample(t, 5, seed=3), B.sample(t, 5, seed=3)
    assert a.column(S.ID).to_pylist() == b.column(S.ID).to_pylist()
    assert len(set(a.column(S.ID).to_pylist())) == 5
    assert B.sample(t, 500).num_rows == 50
    assert B.shorten("word " * 100, 40, around="nothing").endswith("…")
    assert "needle" in B.shorten("hay " * 200 + "needle " + "hay " * 200, 60, around="NEEDLE")
