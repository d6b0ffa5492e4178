"""Benchmark: how close the dry run's time estimate comes to a real build of the same corpus.

~23k synthetic documents (``curator.demo.synthetic_corpus``, 40 seeds) in six shards of four formats (plain,
gzip, zstd JSONL, Parquet): per-document work dominates the fixed costs, as in the builds a dry run is for.
``estimate_build`` samples 2,000 documents from 4 shards; then the real build runs on a local Ray (2 CPUs) and
the bench prints one JSON line: estimated and real seconds, per-step pairs, the load average, and ``ratio`` =
estimate / real (the dry run promises ~2x: 0.5 <= ratio <= 2). A timing, so a benchmark, not a test: the test
suite checks the estimate's records, per-step document counts and memory (tests/pipelines/test_dry_run.py).
Each round runs in a fresh process with its own Ray, so that both the estimate and the build start cold (in one
process, later rounds find the models loaded and the Ray workers warm, and time something no build sees).

    .venv/bin/python benchmarks/bench_dry_run.py [--copies 40] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def _round(copies: int, tmp: Path) -> dict:
    """One estimate + build pair in this process, on a local Ray it starts (models and workers cold)."""
    import ray

    from curator.demo import write_mixed_format_shards
    from curator.settings import load_config
    from pipelines.build import run_build
    from pipelines.dry_run import estimate_build

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    paths, records = write_mixed_format_shards(tmp / "in", copies)
    cfg = load_config(None, {"name": "bench-dry-run", "input": {"paths": [str(p) for p in paths]}})
    est = estimate_build(cfg)
    manifest = run_build(cfg, tmp / "out", progress=False, log=lambda m: None)
    real = {s["name"]: s.get("seconds") for s in manifest["stages"]}
    return {
        "records": records,
        "estimate_s": round(est.seconds, 2),
        "real_s": round(manifest["seconds"], 2),
        "ratio": round(est.seconds / manifest["seconds"], 3),
        "contention": est.contention,
        "load": [round(v, 2) for v in os.getloadavg()],
        "steps": [(s.name, round(s.seconds or 0, 2), real.get(s.name)) for s in est.steps],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=40, help="synthetic corpus seeds (40: ~23k documents)")
    ap.add_argument("--rounds", type=int, default=1, help="estimate + build pairs; the median ratio is reported")
    ap.add_argument("--one-round", action="store_true", help=argparse.SUPPRESS)  # the child process of a round
    args = ap.parse_args(argv)

    if args.one_round:
        with tempfile.TemporaryDirectory(prefix="bench-dry-run-") as tmp:
            print(json.dumps(_round(args.copies, Path(tmp))), flush=True)
        return 0
    rounds = []
    for _ in range(args.rounds):  # each round in a fresh process: models, caches and Ray workers start cold
        cmd = [sys.executable, __file__, "--one-round", "--copies", str(args.copies)]
        child = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rounds.append(json.loads(child.stdout.strip().splitlines()[-1]))
    ratios = sorted(r["ratio"] for r in rounds)
    out = {
        "bench": "dry_run",
        "records": rounds[0]["records"],
        "ratio": ratios[len(ratios) // 2],
        "within_2x": 0.5 <= ratios[len(ratios) // 2] <= 2,
        "rounds": [{k: v for k, v in r.items() if k != "records"} for r in rounds],
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
