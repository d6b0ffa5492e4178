"""A build SIGKILLed at any step boundary resumes to exactly the rows of an uninterrupted build."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys

import pyarrow.parquet as pq
import pytest

from curator import schema as S
from curator.demo import demo_config
from curator.writers import parquet_files

pytestmark = pytest.mark.slow

RUN = """
import sys
from curator.settings import BuildConfig
from pipelines.build import run_build
cfg = BuildConfig.model_validate_json(open(sys.argv[1]).read())
run_build(cfg, sys.argv[2], progress=False, log=lambda m: None)
"""
STEPS = [
    "ingest",
    "annotate",
    "heuristic_filter",
    "url_filter",
    "language_filter",
    "exact_dedup",
    "fuzzy_dedup",
    "decontam",
    "thresholds",
    "write_phases",
]
POINTS = ["ingest:shard"] + [f"{s}:{w}" for s in STEPS for w in ("start", "committed")]


def _build(config_path, out, kill: str | None = None) -> int:
    env = dict(os.environ)
    env.pop("EDU_CURATOR_FAULT_KILL", None)
    if kill:
        env["EDU_CURATOR_FAULT_KILL"] = kill
    return subprocess.run([sys.executable, "-c", RUN, str(config_path), str(out)], env=env, timeout=600).returncode


def _rows(out) -> dict[str, list]:
    """Every output row as (id, sha1 of the row), per output directory, as a sorted list (duplicates show)."""
    result = {}
    for d in ["phase1", "phase2", "quarantine"] + [f"rejected/{p.name}" for p in sorted((out / "rejected").iterdir())]:
        rows = []
        for f in parquet_files(out / d):
            for r in pq.read_table(f).to_pylist():
                key = r.get(S.ID) or f"{r.get(S.Q_SOURCE)}#{r.get(S.Q_LOCATION)}"
                r.pop(S.Q_SOURCE, None) if S.ID not in r else None
                rows.append((key, hashlib.sha1(json.dumps(r, sort_keys=True, default=str).encode()).hexdigest()))
        result[d] = sorted(rows)
    return result


def _counts(out) -> list:
    m = json.loads((out / "manifest.json").read_text())
    return [(s["name"], s.get("in"), s.get("out"), s.get("dropped"), s.get("reasons")) for s in m["stages"]]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    cfg = demo_config(root / "in", ray={"executor": "local"})
    cfg_path = root / "config.json"
    cfg_path.write_text(cfg.model_dump_json())
    assert _build(cfg_path, root / "clean") == 0
    return cfg_path, root / "clean"


@pytest.mark.parametrize("point", random.Random(20261122).sample(POINTS, 6))
def test_kill_then_resume_gives_the_clean_build(reference, tmp_path, point):
    cfg_path, clean = reference
    out = tmp_path / "out"
    assert _build(cfg_path, out, kill=point) == -signal.SIGKILL
    assert not (out / "manifest.json").exists()
    assert _build(cfg_path, out) == 0
    assert _rows(out) == _rows(clean)
    assert _counts(out) == _counts(clean)


def test_kill_on_ray_then_resume(reference, tmp_path):
    """The same on the Ray executor (the subprocess starts its own local Ray)."""
    from curator.settings import BuildConfig

    cfg_path, clean = reference
    cfg = BuildConfig.model_validate_json(cfg_path.read_text())
    cfg.ray.executor = "ray"
    cfg.ray.num_cpus = 2
    ray_cfg = tmp_path / "ray.json"
    ray_cfg.write_text(cfg.model_dump_json())
    out = tmp_path / "out"
    assert _build(ray_cfg, out, kill="exact_dedup:committed") == -signal.SIGKILL
    assert _build(ray_cfg, out) == 0
    assert _rows(out) == _rows(clean)
    assert _counts(out) == _counts(clean)


def test_kill_inside_a_dedup_file_pass_on_ray_then_resume(reference, tmp_path):
    """Exact and fuzzy dedup as file passes (``ray.small_input_rows: 0``): killed after the first file of fuzzy
    dedup's split, a rerun redoes the step and gives the clean build's rows (built in the driver path)."""
    from curator.settings import BuildConfig

    cfg_path, clean = reference
    cfg = BuildConfig.model_validate_json(cfg_path.read_text())
    cfg.ray.executor, cfg.ray.num_cpus, cfg.ray.small_input_rows = "ray", 2, 0
    ray_cfg = tmp_path / "ray.json"
    ray_cfg.write_text(cfg.model_dump_json())
    out = tmp_path / "out"
    assert _build(ray_cfg, out, kill="fuzzy_dedup:file") == -signal.SIGKILL
    state = json.loads((out / "_work" / "state.json").read_text())["steps"]
    assert "exact_dedup" in state and "fuzzy_dedup" not in state
    assert _build(ray_cfg, out) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert {s["name"]: s.get("execution") for s in manifest["stages"]}["fuzzy_dedup"] == "files"
    assert _rows(out) == _rows(clean)
    assert _counts(out) == _counts(clean)


@pytest.mark.parametrize("point", ["row_pass:file", "url_filter:start", "heuristic_filter:committed"])
def test_kill_inside_the_fused_row_pass_then_resume(reference, tmp_path, point):
    """The fused row pass (default) is one resume unit: killed inside it, a rerun gives the clean build."""
    cfg_path, clean = reference
    out = tmp_path / "out"
    assert _build(cfg_path, out, kill=point) == -signal.SIGKILL
    state = json.loads((out / "_work" / "state.json").read_text())["steps"]
    assert "annotate" not in state and "language_filter" not in state  # nothing of the group recorded
    assert _build(cfg_path, out) == 0
    assert _rows(out) == _rows(clean)
    assert _counts(out) == _counts(clean)
