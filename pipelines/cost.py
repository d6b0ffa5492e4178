"""The cost of each build step: wall and CPU seconds, rows per second, bytes read and written.

:class:`StepMeter` is started by the runner before a step and finished after it; what it measures goes into
the step's stats as ``cost`` (so into ``_work/state.json``, the manifest and the report):

* ``wall_s``: seconds the step took; ``cpu_s`` = ``cpu_driver_s`` (this process, ``time.process_time``) +
  ``cpu_tasks_s`` (CPU time measured inside each Ray task the build launches: file tasks and ingest shards,
  :func:`pipelines.executor.run_tasks`; Ray Data operators are not included);
* ``rows_in`` / ``rows_out`` and ``rows_per_s`` (rows in over wall seconds);
* ``bytes_read``: the Parquet files of the step's input (input files for ingest); ``bytes_written``: the
  Parquet files of the directories the step wrote (``Step.write_dirs``: its ``_work/<step>/`` and
  ``rejected/<step>/`` by default), measured on disk after the step committed.

In a fused row pass (:mod:`pipelines.fused`) the steps share one pass over the files: the pass measures each
step's CPU inside the tasks, the pass's wall seconds are split in proportion to it (``fused: true``), the
first step reads the files and the last writes the kept rows.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from curator.writers import parquet_files
from pipelines.context import BuildContext

COST_FIELDS = (
    "wall_s",
    "cpu_s",
    "cpu_driver_s",
    "cpu_tasks_s",
    "rows_in",
    "rows_out",
    "rows_per_s",
    "bytes_read",
    "bytes_written",
)


def dir_bytes(paths: Iterable[Path]) -> int:
    """Bytes of the Parquet files under ``paths`` (directories or files; missing ones count 0)."""
    total = 0
    for p in paths:
        p = Path(p)
        if p.is_file():
            total += p.stat().st_size
        else:
            total += sum(f.stat().st_size for f in parquet_files(p))
    return total


def cost_entry(wall_s: float, cpu_driver_s: float, cpu_tasks_s: float, stats: dict, read: int, written: int) -> dict:
    """The ``cost`` dict of one step (see the module docstring)."""
    rows_in, rows_out = int(stats.get("in", 0) or 0), int(stats.get("out", 0) or 0)
    return {
        "wall_s": round(max(wall_s, 0.0), 3),
        "cpu_s": round(max(cpu_driver_s, 0.0) + max(cpu_tasks_s, 0.0), 3),
        "cpu_driver_s": round(max(cpu_driver_s, 0.0), 3),
        "cpu_tasks_s": round(max(cpu_tasks_s, 0.0), 3),
        "rows_in": rows_in,
        "rows_out": rows_out,
        "rows_per_s": round(rows_in / wall_s, 1) if wall_s > 0 else 0.0,
        "bytes_read": int(read),
        "bytes_written": int(written),
    }


class StepMeter:
    """Wall, driver-CPU and task-CPU counters around one step (or one fused pass) of ``ctx``."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()
        self.tasks0 = ctx.task_cpu_s

    def wall(self) -> float:
        return time.perf_counter() - self.t0

    def driver_cpu(self) -> float:
        return time.process_time() - self.cpu0

    def tasks_cpu(self) -> float:
        return self.ctx.task_cpu_s - self.tasks0

    def finish(self, stats: dict, read_paths: Iterable[Path], write_paths: Iterable[Path]) -> dict:
        return cost_entry(
            self.wall(), self.driver_cpu(), self.tasks_cpu(), stats, dir_bytes(read_paths), dir_bytes(write_paths)
        )
