"""Corpus steps as file passes (``CorpusStep.files_op``): the same kept and removed rows as the in-driver path."""

from __future__ import annotations

import dataclasses
import json

import pyarrow.parquet as pq

from curator.settings import load_config
from curator.writers import parquet_files
from pipelines.build import STEPS


def _rows(d) -> list:
    """Every row under ``d``, sorted by id (file layout may differ between the two paths)."""
    rows = [r for f in parquet_files(d) for r in pq.read_table(f).to_pylist()]
    return sorted(rows, key=lambda r: r["id"])


def test_dedup_steps_choose_file_passes_between_the_two_limits():
    cfg = load_config(None, {"ray": {"small_input_rows": 1000, "file_pass_max_rows": 5000}})
    exact = next(s for s in STEPS if s.name == "exact_dedup")
    assert [exact.path(cfg, n, local=False) for n in (1000, 1001, 5000, 5001)] == [
        "driver",
        "files",
        "files",
        "ray_data",
    ]
    assert exact.path(cfg, 5001, local=True) == "driver"
    no_file_form = dataclasses.replace(exact, files_op=None)
    assert no_file_form.path(cfg, 2000, local=False) == "ray_data"


def test_file_passes_match_the_driver_path(demo_build):
    """The shared demo build ran the corpus steps in the driver; ``small_input_rows: 0`` sends the same input
    through the file passes (Ray tasks per file; the dedup maps built in the driver)."""
    from curator.demo import demo_config
    from pipelines.build import run_build

    root = demo_build.parent
    cfg = demo_config(root / "input", ray={"small_input_rows": 0})
    out = root / "out-file-pass"
    logs: list[str] = []
    manifest = run_build(cfg, out, progress=False, log=logs.append)
    assert manifest["counts_balanced"]
    dirs = ("phase1", "phase2", "_work/decontam") + tuple(
        f"rejected/{s}" for s in ("exact_dedup", "fuzzy_dedup", "decontam")
    )
    for d in dirs:
        assert _rows(out / d) == _rows(demo_build / d), d
    stages = {s["name"]: s for s in manifest["stages"]}
    driver = {s["name"]: s for s in json.loads((demo_build / "manifest.json").read_text())["stages"]}
    assert driver["fuzzy_dedup"]["execution"] == "driver"
    assert {stages[s]["execution"] for s in ("exact_dedup", "fuzzy_dedup", "decontam")} == {"files"}
    assert stages["decontam"]["dropped"] > 0 and stages["decontam"]["by_benchmark"]
    assert stages["decontam"]["by_benchmark"] == driver["decontam"]["by_benchmark"]
    assert len(parquet_files(out / "_work" / "language_filter")) > 1  # several files, several tasks
    assert stages["exact_dedup"]["dropped"] > 0 and stages["fuzzy_dedup"]["dropped"] > 0
    assert stages["fuzzy_dedup"]["reasons"] == {"near_duplicate": stages["fuzzy_dedup"]["dropped"]}
    # the file pass leaves the same inspectable work files as the driver path
    assert (out / "_work" / "fuzzy_dedup_work" / "clusters" / "cluster_map.parquet").exists()
    assert (out / "_work" / "exact_dedup_work" / "exact_dedup" / "cluster_map.parquet").exists()


def test_file_passes_without_rejected_outputs(demo_build):
    """``output.write_rejected: false``: the file passes write kept rows only, with the same counts."""
    from curator.demo import demo_config
    from pipelines.build import run_build

    root = demo_build.parent
    cfg = demo_config(root / "input", ray={"small_input_rows": 0}, output={"write_rejected": False})
    out = root / "out-file-pass-no-rejected"
    manifest = run_build(cfg, out, progress=False, log=lambda m: None)
    assert manifest["counts_balanced"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "config_hash"} for r in rows]  # noqa: E731
    assert strip(_rows(out / "phase1")) == strip(_rows(demo_build / "phase1"))  # the output section differs
    assert not (out / "rejected" / "fuzzy_dedup").exists() or not parquet_files(out / "rejected" / "fuzzy_dedup")
    stages = {s["name"]: s for s in manifest["stages"]}
    driver = {s["name"]: s for s in json.loads((demo_build / "manifest.json").read_text())["stages"]}
    for name in ("exact_dedup", "fuzzy_dedup", "decontam"):
        assert stages[name]["execution"] == "files"
        assert (stages[name]["in"], stages[name]["out"]) == (driver[name]["in"], driver[name]["out"]), name
