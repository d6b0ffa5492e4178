"""The write_phases step: the current document set -> ``OUT/phase1`` (files sized to ``output.target_file_mb``),
its stricter subset (:class:`~pipelines.steps.filters.ScoreThreshold` at ``phase2_min_score``) plus the
synthetic rows -> ``OUT/phase2``, and the ingest quarantine -> ``OUT/quarantine``; each committed atomically.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curator import schema as S
from curator.settings import BuildConfig
from curator.writers import commit_dir, count_rows, parquet_files, temp_dir_for
from pipelines.context import BuildContext
from pipelines.measure import _write_cost
from pipelines.steps.filters import ScoreThreshold
from pipelines.steps.ingest import quarantine_dir


def phase_dirs(ctx: BuildContext) -> list[Path]:
    """``OUT/phase1``, ``OUT/phase2`` and ``OUT/quarantine`` (for the step's ``bytes_written``)."""
    return [ctx.out / "phase1", ctx.out / "phase2", ctx.out / "quarantine"]


def write_phases(ctx: BuildContext, src: Path | None) -> dict:
    from pipelines.executor import file_tasks, read_dir, write_dataset

    cfg = ctx.config
    assert src is not None
    phase2 = ScoreThreshold(cfg.thresholds.phase2_min_score)
    rows_per_file = _rows_per_file(src, cfg.output.target_file_mb)
    # a small phase 1 is re-chunked in the driver: a Ray Data write costs ~10 s fixed on 2 busy cores
    small = count_rows(src) <= cfg.ray.small_input_rows
    write_dataset(read_dir(ctx, src, small=small), ctx.out / "phase1", S.DOC_SCHEMA, cfg, rows_per_file)
    tmp_phase2 = ctx.work / "phase2_web"
    # phase 2's web part: the stricter subset of the (already sized) phase 1 files, file by file
    file_tasks(ctx, ctx.out / "phase1", lambda t: {"phase2": phase2(t)}, {"phase2": (tmp_phase2, S.DOC_SCHEMA)})
    final2 = temp_dir_for(ctx.out / "phase2")
    final2.mkdir(parents=True)
    for i, f in enumerate(parquet_files(tmp_phase2)):
        shutil.copy2(f, final2 / f"part-{i:05d}.parquet")
    for i, f in enumerate(parquet_files(ctx.step_dir("synthesis"))):
        if pq.ParquetFile(f).metadata.num_rows:
            shutil.copy2(f, final2 / f"synthetic-{i:05d}.parquet")
    commit_dir(final2, ctx.out / "phase2", S.DOC_SCHEMA, rename_parts=False)
    # quarantine: one file per input shard, committed as a directory
    qtmp = temp_dir_for(ctx.out / "quarantine")
    qtmp.mkdir(parents=True)
    for f in parquet_files(quarantine_dir(ctx)):
        if pq.ParquetFile(f).metadata.num_rows:
            shutil.copy2(f, qtmp / f.name)
    commit_dir(qtmp, ctx.out / "quarantine", S.QUARANTINE_SCHEMA, rename_parts=False)
    n1, n2 = count_rows(ctx.out / "phase1"), count_rows(ctx.out / "phase2")
    return {
        "phase1_rows": n1,
        "phase2_rows": n2,
        "phase2_web_rows": count_rows(tmp_phase2),
        "rows_per_file": rows_per_file,
    }


def _rows_per_file(src: Path, target_mb: float) -> int:
    files = parquet_files(src)
    rows = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    size = sum(f.stat().st_size for f in files)
    if not rows:
        return 1
    return max(1, int(target_mb * 2**20 / max(1.0, size / rows)))


def measure_write_phases(table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, dict]:
    phase2 = ScoreThreshold(cfg.thresholds.phase2_min_score)(table)
    w1, _ = _write_cost(table, cfg, tmp)
    w2, _ = _write_cost(phase2, cfg, tmp)
    return table, {"in": table.num_rows, "out": table.num_rows, "seconds": w1 + w2, "phase2": phase2.num_rows}
