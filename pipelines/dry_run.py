"""Dry run: estimate documents, bytes, time and peak memory per build step before anything runs.

:func:`estimate_build` reads a sample of the input (the first ``sample_docs`` records of up to
``max_shards`` shards, spread over the input, through the real readers), runs the real stages on
it in this process (heuristics, text hash, scoring, exact and fuzzy dedup, decontamination,
thresholds, Parquet writes; no Ray), and extrapolates to the whole input:

* **records**: shards read to the end count exactly; Parquet shards count from their metadata;
  the others from the records per input byte of the sampled shards (bytes as stored on disk,
  so compressed shards count right: the bytes the reader consumed come from ``/proc/self/io``).
* **documents per step**: the sample's pass rates (dedup rates in a small sample are a lower
  bound: duplicates spread over shards are rarer in a sample).
* **time**: the measured per-document time of each step times the documents it will see,
  divided by the CPUs that run it, plus Ray's fixed cost per step (starting tasks and actor
  pools, scheduling, committing; measured on a 2-CPU machine), scaled by how contended the
  CPUs are right now (wall time / CPU time of this process while it measured). Row steps the
  build fuses into one pass (:func:`pipelines.fused.fused_groups`) pay the first one's fixed
  cost once, and only the last of them writes its kept rows.
* **peak memory**: per worker, the Arrow bytes and Python allocations of one batch (scaled from
  the sample) plus the worker's base and the model; for dedup and decontamination, the state
  that grows with the corpus (hashes, signatures, index) is added for the whole step.

:func:`estimate` renders the estimate as a ``rich`` table (what ``curator build --dry-run`` prints).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.readers import Shard, expand_inputs, read_shard
from curator.settings import BuildConfig
from pipelines.fused import fused_groups
from pipelines.measure import _rchar
from pipelines.runtime import ray_is_up

# Per-step fixed costs on Ray (``overhead_s``) and whether a step runs in the driver on small inputs
# (``in_driver_when_small``) are declared by the steps (:data:`pipelines.build.STEPS`); these are the shared ones.
RAY_DATA_OVERHEAD_S = 5.0
LOCAL_STEP_OVERHEAD_S = 0.3  # ray.executor: local (reading and committing Parquet in this process)
RAY_START_S = 6.0  # ray.init on a local machine, uncontended
WORKER_BASE_BYTES = 150 * 2**20  # a Ray worker process with pyarrow imported
DEFAULT_SAMPLE_DOCS = 2000
DEFAULT_MAX_SHARDS = 4
DEFAULT_SAMPLE_BYTES = 2**20  # per sampled shard, at least (decompressors read ahead up to 128 KB)


@dataclass
class StepEstimate:
    """Estimate for one build step."""

    name: str
    docs_in: int
    docs_out: int
    bytes_in: int  # Arrow bytes of the documents entering the step
    seconds: float | None  # None: cannot be estimated (teacher-bound synthesis)
    peak_memory_bytes: int
    per_doc_ms: float = 0.0
    note: str = ""


@dataclass
class BuildEstimate:
    """The whole dry-run estimate."""

    shards: int
    input_bytes: int
    records: int  # estimated input records (documents + quarantined)
    sampled_records: int
    sampled_shards: int
    exact_records: bool  # every shard was counted exactly
    contention: float  # wall / CPU time while measuring (1.0: idle CPUs)
    cpus: float
    steps: list[StepEstimate] = field(default_factory=list)
    ray_start_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.ray_start_seconds + sum(s.seconds or 0.0 for s in self.steps)

    @property
    def peak_memory_bytes(self) -> int:
        return max((s.peak_memory_bytes for s in self.steps), default=0)

    def step(self, name: str) -> StepEstimate:
        return next(s for s in self.steps if s.name == name)


# --------------------------------------------------------------------------- measuring


def _shard_bytes(shard: Shard) -> int:
    p = Path(shard.path)
    if p.is_file():
        return p.stat().st_size
    if p.is_dir():
        return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
    return 0


def _preimport(shards: list[Shard]) -> None:
    """Import the readers before measuring, so module reads do not count as input bytes."""
    import gzip  # noqa: F401

    import curator.readers.jsonl  # noqa: F401
    import curator.readers.parquet  # noqa: F401

    try:
        import zstandard  # noqa: F401
    except ImportError:  # pragma: no cover
        pass
    if any(s.format in ("warc", "wet") for s in shards):
        import curator.readers.warc  # noqa: F401


@dataclass
class _ShardSample:
    docs: pa.Table  # the first documents (at most the per-shard sample size)
    records: int  # every record read (documents + quarantined)
    documents: int  # documents among them
    consumed_bytes: int  # bytes of the shard (as stored) read to get them
    exhausted: bool  # the whole shard was read
    seconds: float


def _sample_shard(shard: Shard, cfg: BuildConfig, n: int, min_bytes: int) -> _ShardSample:
    """Read the first ``n`` documents of ``shard`` (and on until ``min_bytes`` of it were consumed, so a
    decompressor's read-ahead is a small error), counting every record; keep only ``n`` documents."""
    settings = cfg.input.model_copy(update={"rows_per_part": max(1, n)})
    size = _shard_bytes(shard)
    before = _rchar()
    t0 = time.perf_counter()
    gen = read_shard(shard, settings)
    docs: list[pa.Table] = []
    kept_rows = rows = quarantined = consumed = 0
    exhausted = False
    while True:
        try:
            d, q = next(gen)
        except StopIteration:
            exhausted = True
            break
        if kept_rows < n:
            docs.append(d.slice(0, n - kept_rows))
            kept_rows += min(d.num_rows, n - kept_rows)
        rows += d.num_rows
        quarantined += q.num_rows
        after = _rchar()
        consumed = (after - before) if (before is not None and after is not None) else 0
        if rows >= n and (consumed >= min_bytes or before is None):
            break
    gen.close()
    seconds = time.perf_counter() - t0
    table = pa.concat_tables(docs) if docs else S.empty(S.INPUT_SCHEMA)
    if exhausted:
        consumed = size
    elif not consumed:
        consumed = int(_guess_consumed(table, shard) * rows / max(1, table.num_rows))
    return _ShardSample(table, rows + quarantined, rows, min(consumed, size) or size, exhausted, seconds)


def _guess_consumed(docs: pa.Table, shard: Shard) -> int:
    """Without /proc/self/io: the sample's text bytes, divided by a typical compression ratio."""
    text_bytes = int(pc.sum(pc.binary_length(docs.column(S.TEXT).cast(pa.binary()))).as_py() or 0)
    ratio = 3.0 if shard.path.lower().endswith((".gz", ".zst", ".zstd")) else 1.0
    return int(text_bytes * 1.2 / ratio)


def _pick(shards: list[Shard], k: int) -> list[Shard]:
    if len(shards) <= k:
        return list(shards)
    step = len(shards) / k
    return [shards[int(i * step)] for i in range(k)]


def _kind(path: str) -> str:
    """Shards of one kind share a records-per-byte rate: same format and compression."""
    name = Path(path).name.lower()
    parts = name.split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 and parts[-1] in ("gz", "zst", "zstd", "bz2", "xz") else parts[-1]


def _parquet_rows(shard: Shard) -> int | None:
    if shard.format != "parquet":
        return None
    try:
        return pq.ParquetFile(shard.path).metadata.num_rows
    except Exception:
        return None


# --------------------------------------------------------------------------- estimating


def _cpus(cfg: BuildConfig) -> float:
    try:
        import ray

        if ray.is_initialized():
            return float(ray.cluster_resources().get("CPU", 1.0))
    except Exception:  # pragma: no cover
        pass
    return float(cfg.ray.num_cpus or os.cpu_count() or 1)


def _contention(cpu: float, wall: float) -> float:
    """How many times slower than an idle CPU this process ran while measuring (>= 1)."""
    if cpu <= 0.05:
        t0w, t0c = time.perf_counter(), time.process_time()
        x = 0
        while time.process_time() - t0c < 0.1:
            for i in range(2000):
                x += i
        cpu, wall = time.process_time() - t0c, time.perf_counter() - t0w
    return max(1.0, wall / max(cpu, 1e-6))


def estimate_build(
    cfg: BuildConfig,
    sample_docs: int = DEFAULT_SAMPLE_DOCS,
    max_shards: int = DEFAULT_MAX_SHARDS,
    sample_bytes: int = DEFAULT_SAMPLE_BYTES,
    steps: list | None = None,
) -> BuildEstimate:
    """Sample the input of ``cfg``, run its stages on the sample in-process and extrapolate (see the module docstring).

    Raises:
        InputError: the configured input cannot be found (same message as the build).
        ModelError: the classifier cannot be loaded.
    """
    from pipelines.build import STEPS
    from pipelines.steps.ingest import ingest

    wall0, cpu0 = time.perf_counter(), time.process_time()
    shards = expand_inputs(cfg.input.paths, cfg.input.format)
    _preimport(shards)
    sizes = {s.path: _shard_bytes(s) for s in shards}
    picked = _pick(shards, max_shards)
    per_shard = max(1, sample_docs // len(picked))
    samples = {s.path: _sample_shard(s, cfg, per_shard, sample_bytes) for s in picked}

    # --- records in the whole input: exact where a shard was read to the end or is Parquet; else
    # records per stored byte, from the shard itself, or from sampled shards of the same kind.
    rates: dict[str, list[int]] = {}
    for path, smp in samples.items():
        r = rates.setdefault(_kind(path), [0, 0])
        r[0] += smp.records
        r[1] += smp.consumed_bytes
    overall = [sum(r[0] for r in rates.values()), sum(r[1] for r in rates.values())]
    records = 0.0
    exact = True
    for s in shards:
        smp = samples.get(s.path)
        rows = _parquet_rows(s)
        if smp is not None and smp.exhausted:
            records += smp.records
        elif rows is not None:
            records += rows
        elif smp is not None:
            records += smp.records * sizes[s.path] / max(1, smp.consumed_bytes)
            exact = False
        else:
            n_rec, n_bytes = rates.get(_kind(s.path), overall)
            records += sizes[s.path] * n_rec / max(1, n_bytes)
            exact = False
    records_i = int(round(records))

    sample_docs_t = pa.concat_tables([smp.docs for smp in samples.values()]) if samples else S.empty(S.INPUT_SCHEMA)
    sampled_records = sum(smp.records for smp in samples.values())
    n_sample = max(1, sample_docs_t.num_rows)
    doc_frac = sum(smp.documents for smp in samples.values()) / max(1, sampled_records)
    read_s = sum(smp.seconds for smp in samples.values())
    avg_doc_bytes = sample_docs_t.nbytes / n_sample
    cpus = _cpus(cfg)

    steps_enabled = [s for s in (STEPS if steps is None else steps) if s.enabled(cfg)]
    measured: dict[str, dict] = {}
    tmp = Path(tempfile.mkdtemp(prefix="curator-dry-run-"))
    try:
        current = sample_docs_t
        for step in steps_enabled:
            result = step.measure(current, cfg, tmp)
            if result is not None:
                current, measured[step.name] = result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    contention = _contention(time.process_time() - cpu0, time.perf_counter() - wall0)
    est = BuildEstimate(
        shards=len(shards),
        input_bytes=sum(sizes.values()),
        records=records_i,
        sampled_records=sampled_records,
        sampled_shards=len(picked),
        exact_records=exact,
        contention=round(contention, 2),
        cpus=cpus,
        ray_start_seconds=0.0 if ray_is_up() else RAY_START_S * contention,
    )
    docs_total = records_i * doc_frac  # documents after ingest (records minus quarantine)
    scale = docs_total / n_sample  # documents in the corpus per sampled document
    local = getattr(cfg.ray, "executor", "ray") == "local"
    if local:  # the same stages in this process: no Ray start, no per-step scheduling, one CPU
        est.ray_start_seconds, cpus, est.cpus = 0.0, 1.0, 1.0
    overhead = {s.name: (LOCAL_STEP_OVERHEAD_S if local else s.overhead_s) * contention for s in steps_enabled}
    # A fused pass pays its first step's fixed cost once (the members' model loads are in their measured
    # ``fixed``), and its members before the last do not write their kept rows.
    not_writing: set[str] = set()
    for group in fused_groups(steps_enabled, cfg, local):
        names = [s.name for s in group]
        overhead.update(dict.fromkeys(names[1:], 0.0))
        not_writing.update(names[:-1])
    prev_out = docs_total
    for step in steps_enabled:
        name = step.name
        if step.fn is ingest:
            parallel = 1.0 if local else max(1.0, min(cpus, len(shards)))
            secs = overhead[name] + read_s * records_i / max(1, sampled_records) / parallel
            batch_bytes = avg_doc_bytes * min(docs_total, cfg.input.rows_per_part)
            est.steps.append(
                StepEstimate(
                    name,
                    records_i,
                    int(round(docs_total)),
                    est.input_bytes,
                    secs,
                    int(WORKER_BASE_BYTES + 3 * batch_bytes) * int(parallel),
                    per_doc_ms=1000 * read_s / max(1, sampled_records),
                    note="records in; documents out",
                )
            )
            continue
        if name == "synthesis":  # teacher-bound
            n = cfg.synthesis.num_samples
            est.steps.append(
                StepEstimate(name, n, n, 0, None, 0, note="teacher-bound: depends on the teacher's throughput")
            )
            continue
        m = measured.get(name)
        if m is None:  # a step the dry run does not sample: documents pass through, fixed cost only
            secs = overhead[name]
            est.steps.append(
                StepEstimate(
                    name,
                    int(round(prev_out)),
                    int(round(prev_out)),
                    int(avg_doc_bytes * prev_out),
                    secs,
                    WORKER_BASE_BYTES * max(1, int(cpus)),
                    note="not sampled: documents assumed kept",
                )
            )
            continue
        d_in, d_out = m["in"] * scale, m["out"] * scale
        prev_out = d_out
        per_doc = (m["seconds"] - (m.get("kept_write_seconds", 0.0) if name in not_writing else 0.0)) / max(1, m["in"])
        path = step.path(cfg, int(d_in), local)
        in_driver = local or path == "driver"
        fixed = overhead[name]
        if path == "ray_data":
            fixed = RAY_DATA_OVERHEAD_S * contention
        secs = fixed + m.get("fixed", 0.0) + per_doc * d_in / (1.0 if in_driver else max(1.0, cpus))
        batch_rows = min(d_in, m.get("batch", 4096))
        worker = (
            WORKER_BASE_BYTES
            + m.get("model_bytes", 0)
            + 3 * avg_doc_bytes * batch_rows
            + m.get("py_peak", 0) * batch_rows / max(1, m["in"])
        )
        peak = worker * max(1, int(cpus)) + m.get("state_per_doc", 0) * d_in
        note = "documents in; sample dedup rate (a lower bound)" if "dedup" in name else ""
        if "phase2" in m:
            note = f"phase1 {int(round(d_out)):,}, phase2 {int(round(m['phase2'] * scale)):,} (web)"
        est.steps.append(
            StepEstimate(
                name,
                int(round(d_in)),
                int(round(d_out)),
                int(avg_doc_bytes * d_in),
                secs,
                int(peak),
                per_doc_ms=1000 * per_doc,
                note=note,
            )
        )
    return est


def render(est: BuildEstimate, title: str = "dry run"):
    """The estimate as a ``rich`` table."""
    from rich.table import Table

    how = (
        "counted exactly"
        if est.exact_records
        else f"extrapolated from {est.sampled_records:,} sampled records in {est.sampled_shards} shard(s)"
    )
    table = Table(
        title=f"{title}: {est.shards} shard(s), {_bytes(est.input_bytes)} input, ~{est.records:,} records ({how})",
        caption=(
            f"total ~{_secs(est.seconds)} (incl. Ray start {_secs(est.ray_start_seconds)}), "
            f"peak memory ~{_bytes(est.peak_memory_bytes)}; "
            f"{est.cpus:g} CPUs, CPU contention x{est.contention:g} now. Estimates, within ~2x; nothing was written."
        ),
    )
    for col in ("step", "docs in", "docs out", "bytes in", "ms/doc", "time", "peak memory", "note"):
        table.add_column(col, justify="left" if col in ("step", "note") else "right")
    for s in est.steps:
        table.add_row(
            s.name,
            f"{s.docs_in:,}",
            f"{s.docs_out:,}",
            _bytes(s.bytes_in),
            f"{s.per_doc_ms:.3f}",
            "?" if s.seconds is None else _secs(s.seconds),
            _bytes(s.peak_memory_bytes) if s.peak_memory_bytes else "-",
            s.note,
        )
    return table


def estimate(cfg: BuildConfig, sample_docs: int = DEFAULT_SAMPLE_DOCS, max_shards: int = DEFAULT_MAX_SHARDS):
    """What ``curator build --dry-run`` prints: :func:`estimate_build` rendered as a ``rich.table.Table``."""
    return render(estimate_build(cfg, sample_docs, max_shards), title=f"dry run of {cfg.name}")


def _bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"  # pragma: no cover


def _secs(s: float) -> str:
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.1f} h"
