"""Measuring one step on a sample: wall and CPU time, bytes read, peak memory, the cost of writing its output.

The dry run (:mod:`pipelines.dry_run`) and each step's ``measure`` (:mod:`pipelines.steps`) use these; they sit
below both so that steps need not import the dry run.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.settings import BuildConfig


def _rchar() -> int | None:
    """Bytes this process has read through read() syscalls (Linux), or None."""
    try:
        with open("/proc/self/io", "rb") as fh:
            for line in fh:
                if line.startswith(b"rchar:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _rss() -> int:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


@dataclass
class _Measure:
    wall: float = 0.0
    cpu: float = 0.0
    py_peak: int = 0


def _measure(fn: Callable[[], object], memory: bool = False) -> tuple[object, _Measure]:
    """Time ``fn`` (untraced: tracemalloc slows Python code several times); with ``memory``, call it
    a second time under tracemalloc for its peak Python allocation."""
    w, c = time.perf_counter(), time.process_time()
    result = fn()
    m = _Measure(time.perf_counter() - w, time.process_time() - c)
    if memory:
        tracemalloc.start()
        try:
            fn()
            m.py_peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return result, m


def _write_cost(table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[float, _Measure]:
    comp = cfg.output.compression

    def run():
        pq.write_table(
            S.conform(table, S.DOC_SCHEMA),
            tmp / f"w-{time.perf_counter_ns()}.parquet",
            compression=None if comp == "none" else comp,
        )

    _, m = _measure(run)
    return m.wall, m


# --------------------------------------------------------------------------- per-step measurements
# Each takes the sample as the step would see it and returns (what the next step sees, measurements):
# ``in``/``out`` rows, ``seconds`` per sample (work that scales with documents), ``fixed`` seconds
# (model loads, first-call costs), ``py_peak`` bytes, ``model_bytes`` per worker, ``state_per_doc`` bytes.


def _split_and_write(table: pa.Table, keep, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, float]:
    """The kept rows, and the cost of writing them (the dropped rows' write is timed by the caller's measure)."""
    kept = table.filter(keep)
    w_kept, _ = _write_cost(kept, cfg, tmp)
    _write_cost(table.filter(pc.invert(keep)), cfg, tmp)
    return kept, w_kept


def measure_row_step(step, table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, dict]:
    """A row step on the sample: each stage's set-up and first call are fixed costs (the model size is the
    resident memory set-up added), its run and the write of its output scale with documents; then the filter.
    ``kept_write_seconds`` is the part of ``seconds`` spent writing the kept rows, which a step inside a fused
    pass (:mod:`pipelines.fused`) does not write unless it is the pass's last."""
    stages, flt = step.instances(cfg)
    n = table.num_rows
    seconds = fixed = kept_write = 0.0
    py_peak = model_bytes = 0
    batch = 0
    for stage in stages:
        rss0 = _rss()
        _, m_load = _measure(stage.ensure_setup)
        model_bytes += max(0, _rss() - rss0)
        _, m_warm = _measure(lambda t=table, st=stage: st(t.slice(0, 8)))  # first calls pay one-off costs
        table, m = _measure(lambda t=table, st=stage: st(t), memory=True)
        seconds += m.wall
        fixed += m_load.wall + m_warm.wall
        py_peak = max(py_peak, m.py_peak)
        batch = max(batch, stage.resources.batch_size)
    if stages and flt is None:
        kept_write, _ = _write_cost(table, cfg, tmp)
        seconds += kept_write
    if flt is not None:
        _, m_load = _measure(flt.ensure_setup)
        fixed += m_load.wall
        (table, kept_write), m = _measure(lambda t=table: _split_and_write(t, flt.keep(t), cfg, tmp))
        seconds += m.wall
    out = {
        "in": n,
        "out": table.num_rows,
        "seconds": seconds,
        "kept_write_seconds": kept_write,
        "fixed": fixed,
        "py_peak": py_peak,
        "model_bytes": model_bytes,
    }
    if batch:
        out["batch"] = batch
    return table, out


def measure_op(
    op: Callable[[pa.Table, str], tuple], table: pa.Table, cfg: BuildConfig, tmp: Path, **extra
) -> tuple[pa.Table, dict]:
    """A corpus operation ``op(table, run_name) -> (kept, removed, stats)`` on the sample, plus its write: a first
    call on 8 rows is the fixed cost. ``extra`` figures (e.g. ``state_per_doc``) join the result."""
    _, m_warm = _measure(lambda: op(table.slice(0, 8), "warm"))
    (kept, _r, _st), m = _measure(lambda: op(table, "run"), memory=True)
    w, _ = _write_cost(kept, cfg, tmp)
    figures = {"in": table.num_rows, "out": kept.num_rows, "seconds": m.wall + w, "fixed": m_warm.wall}
    return kept, {**figures, "py_peak": m.py_peak, **extra}


def measure_corpus_step(step, table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, dict]:
    """A corpus step's operation on the sample (:func:`measure_op`)."""
    settings = step.settings(cfg)
    return measure_op(lambda t, run: step.op(t, settings, tmp / f"{step.name}-{run}"), table, cfg, tmp)
