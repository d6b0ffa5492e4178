"""Cost curve: the full build (no teacher) at growing corpus sizes, docs/s and peak memory per step.

For each size the input is synthesized by ``benchmarks/_data.py`` (~2 KB English documents from
../shared/data/web, sentences mixed at random so dedup does not collapse them, 5% planted
near-duplicates), then ``run_build`` runs with the default config (heuristics, default classifier,
exact + fuzzy dedup, thresholds, phases; URL and language filters on; no decontamination benchmark,
no synthesis) in a fresh subprocess. While a step runs, a sampler adds up the proportional set size
(PSS, so shared object-store pages count once) of the build's whole process tree (driver, Raylet,
Ray workers) every 0.25 s; a step's ``peak_mb`` is the highest sum seen, and the size's ``peak_mb`` also covers
Ray's start and what runs between and after the steps (``after_steps_peak_mb``: manifest, report);
``outside_steps_s`` is the wall time outside every step.

Prints ONE JSON line per size (``docs``, ``seconds``, ``docs_per_s``, per-step ``seconds``,
``docs_per_s``, ``peak_mb`` and the manifest's ``cost`` breakdown: wall/CPU seconds, rows/s, bytes
read/written, see :mod:`pipelines.cost`), a per-step table on stderr, and a final summary line:
``exponent`` = slope of log(seconds) over log(docs) between the two largest sizes (1.0 = linear; the
fixed start-up cost makes it < 1 at small sizes), per-step exponents, ``docs_per_core_hour`` and
``mb_per_million_docs`` at the largest size, ``kernel_limit_docs_per_s`` (the sum-of-kernels limit, below)
and ``ratio`` = docs/s at the largest size / that limit (``scale_ratio``: largest / smallest size docs/s).

The sum-of-kernels limit: ``cpus`` / (sum of the per-document costs of the kernels the build runs).
The figures (ms per ~2.5 KB document, one core) are this repository's kernel benchmarks (README table):
heuristics 0.15 (issue 27; the Gopher-style rules of ``bench_vs_datatrove.py``), fastText score 0.04
(``bench_classifier.py``: 18-39k docs/s), language ID 0.05 (``bench_langid.py``: 19.7k docs/s), MinHash
0.08 (``bench_dedup.py``: 12.4k docs/s), decontamination 0.07 (``bench_decontam.py``: 13.4k docs/s; counted
only when the build runs it), parse + write 0.11 (the rest of issue 27's ~2k docs/s per core).

    .venv/bin/python benchmarks/bench_scaling.py [--sizes 10000,100000] [--executor ray|local] [--cpus 2]
    .venv/bin/python benchmarks/bench_scaling.py --sizes 10000,100000,1000000   # 1M: see README (time)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# The child: runs the build, samples the PSS of its process tree per step, prints one JSON line.
CHILD = r"""
import json, os, sys, threading, time
import psutil
from curator.settings import BuildConfig
from pipelines.build import run_build

me = psutil.Process()
current = {"step": "startup"}
peaks = {}

def pss_mb(p):
    try:
        with open(f"/proc/{p.pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0

def sample_once():
    try:
        total = pss_mb(me) + sum(pss_mb(c) for c in me.children(recursive=True))
    except psutil.Error:
        total = 0.0
    s = current["step"]
    peaks[s] = max(peaks.get(s, 0.0), total)

def sample():
    while True:
        sample_once()
        time.sleep(0.25)

threading.Thread(target=sample, daemon=True).start()

def log(msg):  # step boundaries come from run_build's log lines; sample at each so short steps get a figure
    if msg.startswith("[") and "] running" in msg:
        current["step"] = msg[1:msg.index("]")]
        sample_once()
    elif msg.startswith("[") and "] done" in msg:
        sample_once()
        current["step"] = "between"

cfg = BuildConfig.model_validate_json(open(sys.argv[1]).read())
t0 = time.perf_counter()
m = run_build(cfg, sys.argv[2], progress=False, log=log)
seconds = time.perf_counter() - t0
time.sleep(0.3)
steps = {
    s["name"]: {
        "seconds": s.get("seconds"), "in": s.get("in"), "out": s.get("out"),
        "peak_mb": round(peaks.get(s["name"], 0.0), 1), "cost": s.get("cost"),
    }
    for s in m["stages"]
}
print(json.dumps({"build_seconds": round(seconds, 3), "steps": steps,
                  "startup_peak_mb": round(peaks.get("startup", 0.0), 1),
                  "between_peak_mb": round(peaks.get("between", 0.0), 1),
                  "phase1_rows": m["outputs"]["phase1"]["rows"], "phase2_rows": m["outputs"]["phase2"]["rows"]}))
"""


# ms per document on one core (see the module docstring for the commands that measured them)
KERNEL_MS = {
    "heuristics": 0.15,
    "fasttext": 0.04,
    "language_id": 0.05,
    "minhash": 0.08,
    "decontam": 0.07,
    "parse_write": 0.11,
}


def kernel_limit(cpus: int, decontam: bool = False) -> tuple[float, float]:
    """``(ms per document, docs/s on cpus)`` of the sum of the kernels the bench's build runs."""
    ms = sum(v for k, v in KERNEL_MS.items() if decontam or k != "decontam")
    return round(ms, 3), round(cpus * 1000.0 / ms, 1)


def print_breakdown(res: dict) -> None:
    """The per-step cost table of one size, on stderr (stdout keeps its JSON lines)."""
    head = (
        f"{'step':<18}{'wall s':>8}{'CPU s':>8}{'task CPU':>9}{'rows in':>10}{'rows/s':>10}{'MiB in':>8}{'MiB out':>9}"
    )
    lines = [f"-- {res['docs']:,} docs: {res['seconds']:.1f} s, {res['docs_per_s']:,.0f} docs/s", head]
    for name, s in res["steps"].items():
        c = s.get("cost") or {}
        if not c:
            continue
        lines.append(
            f"{name + ('*' if c.get('fused') else ''):<18}{c['wall_s']:>8.2f}{c['cpu_s']:>8.2f}"
            f"{c['cpu_tasks_s']:>9.2f}"
            f"{c['rows_in']:>10,}{c['rows_per_s']:>10,.0f}{c['bytes_read'] / 2**20:>8.1f}"
            f"{c['bytes_written'] / 2**20:>9.1f}"
        )
    total = sum((s.get("cost") or {}).get("wall_s", 0) for s in res["steps"].values())
    lines.append(f"{'steps total':<18}{total:>8.2f}   (* = fused row pass)")
    print("\n".join(lines), file=sys.stderr, flush=True)


def config_for(paths: list[Path], executor: str, cpus: int, fuse: bool | None = None):
    from curator.settings import load_config

    ray = {"executor": executor, "num_cpus": cpus}
    if fuse is not None:
        ray["fuse_row_steps"] = fuse
    return load_config(None, {"name": "bench-scaling", "input": {"paths": [str(p) for p in paths]}, "ray": ray})


def run_size(n: int, tmp: Path, executor: str, cpus: int, shard_docs: int, fuse: bool | None = None) -> dict:
    t = time.perf_counter()
    shards = max(cpus * 2, math.ceil(n / shard_docs))
    paths, _, _ = _data.write_jsonl(tmp / f"input-{n}", n, shards=shards, seed=n)
    gen_s = time.perf_counter() - t
    cfg_path = tmp / f"config-{n}.json"
    cfg_path.write_text(config_for(paths, executor, cpus, fuse).model_dump_json())
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-c", CHILD, str(cfg_path), str(tmp / f"out-{n}")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, RAY_USAGE_STATS_ENABLED="0"),
    )
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"build of {n} documents failed:\n{r.stderr[-4000:]}")
    child = json.loads(r.stdout.strip().splitlines()[-1])
    steps = {}
    for name, s in child["steps"].items():
        docs_in = s["in"] if s["in"] is not None else n
        steps[name] = {**s, "docs_per_s": round(docs_in / s["seconds"], 1) if s.get("seconds") else None}
    return {
        "bench": "scaling",
        "docs": n,
        "input_mb": round(sum(p.stat().st_size for p in paths) / 2**20, 1),
        "shards": shards,
        "executor": executor,
        "cpus": cpus,
        "seconds": round(wall, 3),
        "docs_per_s": round(n / wall, 1),
        # every step, Ray's start and what runs between and after the steps (manifest, report)
        "peak_mb": max([s["peak_mb"] for s in steps.values()] + [child["startup_peak_mb"], child["between_peak_mb"]]),
        "after_steps_peak_mb": child["between_peak_mb"],
        # the process's start, Ray's start, the manifest and the report (wall time outside every step)
        "outside_steps_s": round(wall - sum((s.get("seconds") or 0.0) for s in steps.values()), 1),
        "phase1_rows": child["phase1_rows"],
        "phase2_rows": child["phase2_rows"],
        "generate_seconds": round(gen_s, 1),
        "steps": steps,
    }


def _exponent(n1: int, t1: float, n2: int, t2: float) -> float | None:
    if not (t1 and t2) or n1 == n2:
        return None
    return round(math.log(t2 / t1) / math.log(n2 / n1), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--sizes", default="10000,100000", help="Comma-separated document counts (e.g. 10000,100000,1000000)."
    )
    ap.add_argument("--executor", choices=["ray", "local"], default="ray")
    ap.add_argument("--cpus", type=int, default=2)
    ap.add_argument("--shard-docs", type=int, default=20000, help="Documents per input JSONL shard.")
    ap.add_argument(
        "--fuse", choices=["on", "off"], default=None, help="ray.fuse_row_steps (default: the config default)."
    )
    ap.add_argument("--workdir", default=None, help="Parent of the temp dir (needs ~2.5 KB x docs x 3 free).")
    args = ap.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results = []
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix=f"bench-scale-{n}-", dir=args.workdir) as tmp:
            fuse = None if args.fuse is None else args.fuse == "on"
            res = run_size(n, Path(tmp), args.executor, args.cpus, args.shard_docs, fuse)
        res["load_avg_1m"] = round(os.getloadavg()[0], 2)
        res["kernel_ms_per_doc"], res["kernel_limit_docs_per_s"] = kernel_limit(args.cpus)
        res["of_kernel_limit"] = round(res["docs_per_s"] / res["kernel_limit_docs_per_s"], 3)
        print(json.dumps(res), flush=True)
        print_breakdown(res)
        results.append(res)
    small, big = results[0], results[-1]
    prev = results[-2] if len(results) > 1 else small
    steps = {}
    for name, s in big["steps"].items():
        p = prev["steps"].get(name, {})
        steps[name] = _exponent(prev["docs"], p.get("seconds") or 0, big["docs"], s.get("seconds") or 0)
    summary = {
        "bench": "scaling_summary",
        "sizes": sizes,
        "executor": args.executor,
        "cpus": args.cpus,
        "seconds": [r["seconds"] for r in results],
        "docs_per_s": [r["docs_per_s"] for r in results],
        "peak_mb": [r["peak_mb"] for r in results],
        "exponent": _exponent(prev["docs"], prev["seconds"], big["docs"], big["seconds"]),
        "step_exponents": steps,
        "fuse_row_steps": args.fuse,
        "kernel_ms_per_doc": big["kernel_ms_per_doc"],
        "kernel_limit_docs_per_s": big["kernel_limit_docs_per_s"],
        "ratio": round(big["docs_per_s"] / big["kernel_limit_docs_per_s"], 3),
        "scale_ratio": round(big["docs_per_s"] / small["docs_per_s"], 2),
        "docs_per_core_hour": round(big["docs_per_s"] * 3600 / args.cpus),
        "mb_per_million_docs": round(
            (big["peak_mb"] - small["peak_mb"]) * 1e6 / max(1, big["docs"] - small["docs"]), 1
        )
        if len(results) > 1
        else None,
        "input_mb_per_million_docs": round(big["input_mb"] * 1e6 / big["docs"], 1),
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
