"""The fused row pass (pipelines.fused): same outputs and counts as one pass per step, derived from the list."""

from __future__ import annotations

import json
from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curator.demo import demo_config
from curator.stage import Filter
from curator.writers import parquet_files
from pipelines.build import STEPS, RowStep, run_build
from pipelines.fused import fused_group


class ShortTextFilter(Filter):
    """A toy filter put among the row steps: drops documents under 400 characters."""

    name: ClassVar[str] = "short_text"

    def keep(self, batch: pa.Table) -> pa.Array:
        return pc.greater_equal(pc.utf8_length(batch.column("text")), 400)

    def reason(self, dropped: pa.Table) -> str:
        return "under 400 chars"


def _steps_with_toy() -> list:
    steps = list(STEPS)
    i = [s.name for s in steps].index("url_filter")
    return steps[:i] + [RowStep("short_text", filter=ShortTextFilter)] + steps[i:]


def _files(out) -> dict:
    """Every output Parquet file (relative path) -> (column names, rows)."""
    result = {}
    for d in ("phase1", "phase2", "quarantine", "rejected"):
        for f in parquet_files(out / d):
            t = pq.read_table(f)
            result[str(f.relative_to(out))] = (t.schema.names, t.to_pylist())
    return result


def _counts(manifest: dict) -> list:
    return [(s["name"], s.get("in"), s.get("out"), s.get("dropped"), s.get("reasons")) for s in manifest["stages"]]


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    root = tmp_path_factory.mktemp("fused")
    result = {}
    for fuse in (False, True):
        cfg = demo_config(root / "in", ray={"executor": "local", "fuse_row_steps": fuse})
        out = root / "out"  # the same path for both (paths are in the rows); the unfused build is moved away
        manifest = run_build(cfg, out, progress=False, log=lambda m: None, steps=_steps_with_toy())
        result[fuse] = (manifest, out.rename(root / f"out-{fuse}"))
    return result


def test_fused_and_unfused_builds_give_identical_outputs_and_counts(builds):
    (m_off, off), (m_on, on) = builds[False], builds[True]
    assert _files(on) == _files(off)
    assert _counts(m_on) == _counts(m_off)
    assert [s["name"] for s in m_on["stages"]] == [s["name"] for s in m_off["stages"]]
    assert m_on["counts_balanced"] and m_off["counts_balanced"]
    fused = [s["name"] for s in m_on["stages"] if s["cost"].get("fused")]
    assert fused == ["annotate", "heuristic_filter", "short_text", "url_filter", "language_filter"]
    assert not any(s["cost"].get("fused") for s in m_off["stages"])
    assert m_on["outputs"]["rejected"]["short_text"]["rows"] > 0
    # only the last fused step's kept rows are written; every step's rejected rows are
    assert not (on / "_work" / "heuristic_filter").exists() and (on / "_work" / "language_filter").exists()
    assert (off / "_work" / "heuristic_filter").exists()


def test_fused_build_costs_match_the_files(builds):
    manifest, out = builds[True]
    by = {s["name"]: s["cost"] for s in manifest["stages"]}
    assert by["annotate"]["bytes_read"] > 0 and by["heuristic_filter"]["bytes_read"] == 0
    for name in ("annotate", "heuristic_filter", "short_text", "url_filter", "language_filter"):
        on_disk = sum(f.stat().st_size for d in ("_work/" + name, "rejected/" + name) for f in parquet_files(out / d))
        assert by[name]["bytes_written"] == on_disk
        assert min(by[name][k] for k in ("wall_s", "cpu_s", "rows_in")) >= 0


def test_group_is_derived_from_the_list_and_can_be_turned_off(tmp_path):
    from curator.settings import config_hash
    from pipelines.context import BuildContext
    from pipelines.runner import enabled_steps
    from pipelines.state import BuildState

    for fuse, expect in ((True, ["annotate", "heuristic_filter", "url_filter", "language_filter"]), (False, [])):
        cfg = demo_config(tmp_path / "in", ray={"executor": "local", "fuse_row_steps": fuse})
        state = BuildState(tmp_path / f"o{fuse}", config_hash(cfg))
        steps = enabled_steps(STEPS, cfg)
        ctx = BuildContext(config=cfg, out=tmp_path / f"o{fuse}", state=state, chash=config_hash(cfg), steps=steps)
        assert [s.name for s in fused_group(steps, 1, ctx)] == expect
        state.mark("annotate", {})  # a resumed pass-per-step build fuses what is left
        assert [s.name for s in fused_group(steps, 2, ctx)] == expect[1:]
        assert json.loads((tmp_path / f"o{fuse}" / "_work" / "state.json").read_text())["steps"]
