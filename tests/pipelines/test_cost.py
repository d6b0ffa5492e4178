"""The per-step cost breakdown (pipelines.cost) in the manifest and the report."""

from __future__ import annotations

import json

import pytest

from curator.writers import parquet_files
from pipelines.cost import COST_FIELDS


def _dir_bytes(d) -> int:
    return sum(f.stat().st_size for f in parquet_files(d)) if d.exists() else 0


def _written(out, name: str) -> int:
    if name == "ingest":
        return _dir_bytes(out / "_work" / "ingest") + _dir_bytes(out / "_work" / "quarantine")
    if name == "write_phases":
        return sum(_dir_bytes(out / d) for d in ("phase1", "phase2", "quarantine"))
    return _dir_bytes(out / "_work" / name) + _dir_bytes(out / "rejected" / name)


def _check(out, manifest: dict) -> None:
    for st in manifest["stages"]:
        cost = st["cost"]
        for k in COST_FIELDS:
            assert cost[k] >= 0, (st["name"], k, cost[k])
        assert cost["cpu_s"] == pytest.approx(cost["cpu_driver_s"] + cost["cpu_tasks_s"], abs=0.002)
        assert cost["rows_in"] == st.get("in", 0) and cost["rows_out"] == st.get("out", 0)
        assert cost["bytes_written"] == _written(out, st["name"]), st["name"]
        assert st["seconds"] == cost["wall_s"]
    by = {s["name"]: s["cost"] for s in manifest["stages"]}
    assert by["ingest"]["bytes_read"] > 0 and by["annotate"]["bytes_read"] > 0
    assert manifest["cost"]["wall_s"] == pytest.approx(sum(c["wall_s"] for c in by.values()), abs=0.01)


@pytest.fixture(scope="module")
def local_build(tmp_path_factory):
    from curator.demo import demo_config
    from pipelines.build import run_build

    root = tmp_path_factory.mktemp("cost")
    cfg = demo_config(root / "in", ray={"executor": "local"})
    return run_build(cfg, root / "out", progress=False, log=lambda m: None), root / "out"


def test_local_build_has_a_cost_breakdown_for_every_step(local_build):
    manifest, out = local_build
    _check(out, manifest)
    assert json.loads((out / "manifest.json").read_text())["stages"] == manifest["stages"]


def test_ray_build_measures_task_cpu(demo_build):
    manifest = json.loads((demo_build / "manifest.json").read_text())
    _check(demo_build, manifest)
    assert sum(s["cost"]["cpu_tasks_s"] for s in manifest["stages"]) > 0


def test_report_shows_the_cost_table(local_build):
    _, out = local_build
    text = (out / "report" / "report.md").read_text()
    assert "## Where the time goes" in text and "| step | wall s | CPU s |" in text
    assert (out / "report" / "cost.png").stat().st_size > 1000
