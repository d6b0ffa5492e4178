"""The ingest step: input shards -> ``_work/ingest/<shard>/`` Parquet parts plus one quarantine file per shard.

One task per shard (a shard with ``_DONE.json`` is skipped on resume); ids repeated across shards are
quarantined afterwards (:mod:`pipelines.ingest_ids`).
"""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa

from curator import schema as S
from curator.readers import Shard, expand_inputs, read_shard
from curator.writers import atomic_write_json, atomic_write_table, temp_dir_for
from pipelines.context import BuildContext, fault_point
from pipelines.steps.base import stage_stats


def _ingest_shard(
    shard: Shard,
    input_settings: dict,
    out_dir: str,
    quarantine_path: str,
    compression: str,
    extract: dict | None = None,
) -> dict:
    """Read one shard into Parquet parts plus a quarantine file; idempotent (redoes a partial shard)."""
    from curator.settings import InputSettings

    settings = InputSettings.model_validate(input_settings)
    out = Path(out_dir)
    if out.exists():
        shutil.rmtree(out)
    tmp = temp_dir_for(out)
    tmp.mkdir(parents=True)
    rows = 0
    quarantine: list[pa.Table] = []
    for i, (docs, q) in enumerate(read_shard(shard, settings, extract=extract)):
        if docs.num_rows:
            atomic_write_table(docs, tmp / f"part-{i:05d}.parquet", compression=compression)
            rows += docs.num_rows
        if q.num_rows:
            quarantine.append(q)
    qt = pa.concat_tables(quarantine) if quarantine else S.empty(S.QUARANTINE_SCHEMA)
    atomic_write_table(qt, quarantine_path, compression=compression)
    reasons = Counter(qt.column(S.Q_REASON).to_pylist())
    stats = {"shard": shard.path, "rows": rows, "quarantined": qt.num_rows, "reasons": dict(reasons)}
    atomic_write_json(stats, tmp / "_DONE.json")
    os.replace(tmp, out)
    return stats


def quarantine_dir(ctx: BuildContext) -> Path:
    """``_work/quarantine/``: one file per input shard (``write_phases`` commits it to ``OUT/quarantine``)."""
    return ctx.work / "quarantine"


def ingest_reads(ctx: BuildContext, src: Path | None = None) -> list[Path]:
    """The input files (for the step's ``bytes_read``)."""
    return sorted({Path(sh.path) for sh in expand_inputs(ctx.config.input.paths, ctx.config.input.format)})


def ingest_writes(ctx: BuildContext) -> list[Path]:
    """``_work/ingest/`` and the per-shard quarantine files (for the step's ``bytes_written``)."""
    return [ctx.step_dir("ingest"), quarantine_dir(ctx)]


def ingest(ctx: BuildContext, src: Path | None = None) -> dict:
    """Read every pending shard (resumes per shard); records in, documents out, quarantine reasons."""
    from curator.stage import FILE_TASK_CPUS
    from pipelines.executor import cluster_cpus, run_tasks
    from pipelines.ingest_ids import quarantine_duplicate_ids

    cfg = ctx.config
    shards = expand_inputs(cfg.input.paths, cfg.input.format)
    base = ctx.step_dir("ingest")
    qdir = quarantine_dir(ctx)
    qdir.mkdir(parents=True, exist_ok=True)
    pending = [sh for sh in shards if not (base / sh.key / "_DONE.json").exists()]
    done = len(shards) - len(pending)
    extract = cfg.extract.model_dump(mode="json")
    calls = [
        (
            sh,
            cfg.input.model_dump(),
            str(base / sh.key),
            str(qdir / f"{sh.key}.parquet"),
            cfg.output.compression,
            extract,
        )
        for sh in pending
    ]
    bar = _bar(total=len(shards), initial=done, desc="ingest shards", enabled=ctx.progress)
    inflight = None if ctx.local else max(2, int(cluster_cpus()) * 2)
    for _ in run_tasks(ctx, _ingest_shard, calls, num_cpus=FILE_TASK_CPUS, max_inflight=inflight):
        bar.update(1)
        if ctx.local:
            fault_point("ingest:shard")
    bar.close()
    results = quarantine_duplicate_ids(base, qdir, shards, cfg.output.compression)  # ids repeated across shards
    reasons: Counter = Counter()
    for r in results:
        reasons.update(r["reasons"])
    rows = sum(r["rows"] for r in results)
    quarantined = sum(r["quarantined"] for r in results)
    return stage_stats(rows + quarantined, rows, reasons, shards=len(shards), unit="records")


def _bar(total: int, initial: int, desc: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, disable=not enabled, unit="shard", leave=False)
