"""Dry run: record counts extrapolated from a sample (plain, gzip, zstd, Parquet shards), and estimates
within 2x of a real build's documents and time."""

from __future__ import annotations

import json

import pytest

from curator.demo import write_mixed_format_shards
from curator.settings import BuildConfig, load_config
from pipelines.build import STEPS
from pipelines.dry_run import estimate, estimate_build


def _write_corpus(root, copies: int = 10) -> tuple[list, int]:
    return write_mixed_format_shards(root, copies)


def test_records_are_extrapolated_from_a_sample(tmp_path):
    paths, truth = _write_corpus(tmp_path / "in")
    cfg = load_config(None, {"input": {"paths": [str(p) for p in paths]}})
    # 4 of 6 shards, >= 60 documents and >= 128 KB each: most are not read to the end
    est = estimate_build(cfg, sample_docs=240, max_shards=4, sample_bytes=128 * 1024)
    assert est.exact_records is False
    assert est.sampled_records < 0.6 * truth
    assert 0.8 * truth <= est.records <= 1.25 * truth, (est.records, truth)
    names = [s.name for s in est.steps]
    assert names == [s.name for s in STEPS if s.enabled(cfg)]
    assert {
        "ingest",
        "annotate",
        "heuristic_filter",
        "exact_dedup",
        "fuzzy_dedup",
        "thresholds",
        "write_phases",
    } <= set(names)
    for prev, nxt in zip(est.steps[1:], est.steps[2:]):
        assert nxt.docs_in == prev.docs_out
        assert nxt.docs_out <= nxt.docs_in
    assert all(s.seconds and s.seconds > 0 and s.peak_memory_bytes > 0 for s in est.steps)
    # the synthetic mix: about a third of the documents fail the heuristics
    hf = est.step("heuristic_filter")
    assert 0.3 < hf.docs_out / hf.docs_in < 0.9


def test_dry_run_counts_match_the_demo_build(demo_build):
    manifest = json.loads((demo_build / "manifest.json").read_text())
    cfg = BuildConfig.model_validate(manifest["config"])
    est = estimate_build(cfg)
    real = {s["name"]: s for s in manifest["stages"]}
    assert est.records == real["ingest"]["in"]  # small shards are read to the end: exact
    for name in ("annotate", "heuristic_filter", "thresholds"):
        got, want = est.step(name).docs_out, real[name]["out"]
        assert want / 2 <= got <= want * 2, (name, got, want)


@pytest.mark.slow
def test_dry_run_extrapolates_a_real_build(ray_local, tmp_path):
    """~23k documents in six shards of four formats: the estimate's records, per-step document counts and
    memory match a real build of the same corpus. How close its *time* comes is a benchmark
    (``benchmarks/bench_dry_run.py``), not a test: timings on a shared 2-core machine are not assertions."""
    from pipelines.build import run_build

    paths, truth = _write_corpus(tmp_path / "in", copies=40)
    cfg = load_config(None, {"name": "dry-run-check", "input": {"paths": [str(p) for p in paths]}})
    est = estimate_build(cfg)  # samples 2,000 documents from 4 of the 6 shards
    assert est.exact_records is False
    assert 0.8 * truth <= est.records <= 1.25 * truth, (est.records, truth)
    manifest = run_build(cfg, tmp_path / "out", progress=False, log=lambda m: None)
    real = {s["name"]: s for s in manifest["stages"]}
    assert [s.name for s in est.steps] == [s["name"] for s in manifest["stages"] if s["name"] in est_names(est)]
    for name in ("annotate", "heuristic_filter", "url_filter"):  # dedup rates of a sample are a lower bound
        got, want = est.step(name).docs_out, real[name]["out"]
        assert want / 2 <= got <= want * 2, (name, got, want)
    peak = max(s.peak_memory_bytes for s in est.steps)
    assert 50 * 2**20 < peak < 8 * 2**30, peak
    assert est.seconds > 0 and all(s.seconds is not None and s.seconds >= 0 for s in est.steps)


def est_names(est) -> set[str]:
    return {s.name for s in est.steps}


def test_estimate_renders_a_table_and_refuses_missing_input(tmp_path):
    from rich.console import Console

    from curator.exceptions import InputError

    paths, _ = _write_corpus(tmp_path / "in", copies=1)
    cfg = load_config(
        None, {"name": "tiny", "input": {"paths": [str(paths[0])]}, "dedup": {"fuzzy": {"enabled": False}}}
    )
    console = Console(record=True, width=200)
    console.print(estimate(cfg, sample_docs=50))
    text = console.export_text()
    for word in ("dry run of tiny", "annotate", "heuristic_filter", "exact_dedup", "peak memory", "total ~"):
        assert word in text
    assert "fuzzy_dedup" not in text
    with pytest.raises(InputError):
        estimate_build(load_config(None, {"input": {"paths": [str(tmp_path / "missing.jsonl")]}}))


def test_fused_row_steps_pay_one_fixed_cost(tmp_path):
    """The build runs annotate .. language_filter as one pass: the estimate charges the pass's fixed cost once."""
    from pipelines.fused import fused_groups
    from pipelines.runner import enabled_steps

    paths, _ = _write_corpus(tmp_path / "in", copies=2)
    url_filter = next(s for s in STEPS if s.name == "url_filter")
    seconds = {}
    for fuse in (True, False):
        cfg = load_config(None, {"input": {"paths": [str(p) for p in paths]}, "ray": {"fuse_row_steps": fuse}})
        groups = fused_groups(enabled_steps(STEPS, cfg), cfg, local=False)
        names = [[s.name for s in g] for g in groups]
        assert names == ([["annotate", "heuristic_filter", "url_filter", "language_filter"]] if fuse else [])
        seconds[fuse] = estimate_build(cfg, sample_docs=400).step("url_filter").seconds
    assert seconds[False] >= url_filter.overhead_s  # a pass of its own: Ray's fixed cost per step
    assert seconds[True] < url_filter.overhead_s / 2  # inside the fused pass: its documents' work only

    # annotate on a Ray Data actor pool is not fused: the pass starts at the heuristics
    cfg = load_config(None, {"input": {"paths": [str(p) for p in paths]}, "classifier": {"execution": "actors"}})
    assert [s.name for s in fused_groups(enabled_steps(STEPS, cfg), cfg, local=False)[0]][0] == "heuristic_filter"
