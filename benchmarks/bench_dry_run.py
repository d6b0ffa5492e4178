"""Benchmark: how close the dry run's time estimate comes to a real build of the same corpus.

~23k synthetic documents (``curator.demo.synthetic_corpus``, 40 seeds) in six shards of four formats (plain,
gzip, zstd JSONL, Parquet): per-document work dominates the fixed costs, as in the builds a dry run is for.
``estimate_build`` samples 2,000 documents from 4 shards; then the real build runs on a local Ray (2 CPUs) and
the bench prints one JSON line: estimated and real seconds, per-step pairs, the load average, and ``ratio`` =
estimate / real (the dry run promises ~2x: 0.5 <= ratio <= 2). A timing, so a benchmark, not a test: the test
suite checks the estimate's records, per-step document counts and memory (tests/pipelines/test_dry_run.py).

    .venv/bin/python benchmarks/bench_dry_run.py [--copies 40] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--copies", type=int, default=40, help="synthetic corpus seeds (40: ~23k documents)")
    ap.add_argument("--rounds", type=int, default=1, help="estimate + build pairs; the median ratio is reported")
    args = ap.parse_args(argv)

    import ray

    from curator.demo import write_mixed_format_shards
    from curator.settings import load_config
    from pipelines.build import run_build
    from pipelines.dry_run import estimate_build

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    rounds = []
    with tempfile.TemporaryDirectory(prefix="bench-dry-run-") as tmp:
        paths, records = write_mixed_format_shards(Path(tmp) / "in", args.copies)
        cfg = load_config(None, {"name": "bench-dry-run", "input": {"paths": [str(p) for p in paths]}})
        for r in range(args.rounds):
            est = estimate_build(cfg)
            manifest = run_build(cfg, Path(tmp) / f"out-{r}", progress=False, log=lambda m: None)
            real = {s["name"]: s.get("seconds") for s in manifest["stages"]}
            rounds.append(
                {
                    "estimate_s": round(est.seconds, 2),
                    "real_s": round(manifest["seconds"], 2),
                    "ratio": round(est.seconds / manifest["seconds"], 3),
                    "contention": est.contention,
                    "load": [round(v, 2) for v in os.getloadavg()],
                    "steps": [(s.name, round(s.seconds or 0, 2), real.get(s.name)) for s in est.steps],
                }
            )
    ratios = sorted(r["ratio"] for r in rounds)
    out = {
        "bench": "dry_run",
        "records": records,
        "ratio": ratios[len(ratios) // 2],
        "within_2x": 0.5 <= ratios[len(ratios) // 2] <= 2,
        "rounds": rounds,
    }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
