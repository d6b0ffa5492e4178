"""How build work runs: in this process (``ray.executor: local``) or on Ray, chosen here and in
:func:`curator.stage.run_stage` only.

* :func:`read_dir` / :func:`read_table`: a committed step directory as a Ray dataset or one table;
* :func:`map_batches` and :func:`write_dataset`: a function over every batch, and an atomic Parquet commit;
* :func:`file_tasks`: one task per Parquet file, each routing its rows to named outputs (row steps);
* :func:`run_tasks`: one task per item with results as they finish (ingest shards).

Plain Ray tasks cost milliseconds where a Ray Data execution costs seconds on 2 CPUs: row routing
uses :func:`file_tasks`, per-document compute can use Ray Data. CPU fractions come from
:mod:`curator.stage`; Ray starts in :func:`pipelines.runtime.init_ray`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curator import schema as S
from curator.settings import BuildConfig
from curator.stage import STAGE_CPUS, TASK_CPUS
from curator.writers import atomic_write_table, commit_dir, parquet_files, temp_dir_for
from pipelines.context import BuildContext
from pipelines.runtime import cluster_cpus, init_ray

__all__ = [
    "TASK_CPUS",
    "cluster_cpus",
    "file_tasks",
    "init_ray",
    "map_batches",
    "read_dir",
    "read_table",
    "run_tasks",
    "write_dataset",
]


def _parquet_args(config: BuildConfig) -> dict:
    comp = config.output.compression
    return {"compression": None if comp == "none" else comp, "row_group_size": config.output.row_group_rows}


def map_batches(ds, fn: Callable[[pa.Table], pa.Table]):
    """``fn`` over every batch: a Ray task per block, or one call on an in-process table."""
    if isinstance(ds, pa.Table):
        return fn(ds)
    return ds.map_batches(fn, batch_format="pyarrow", zero_copy_batch=True, num_cpus=TASK_CPUS)


def write_dataset(
    ds, final: Path, schema: pa.Schema, config: BuildConfig, rows_per_file: int | None = None
) -> list[Path]:
    """Conform every block to ``schema``, write it under a temp dir, commit atomically."""
    tmp = temp_dir_for(final)
    if isinstance(ds, pa.Table):
        tmp.mkdir(parents=True)
        table = S.conform(ds, schema)
        step = rows_per_file or max(1, table.num_rows)
        for i, start in enumerate(range(0, table.num_rows, step)):
            atomic_write_table(
                table.slice(start, step),
                tmp / f"part-{i:05d}.parquet",
                config.output.compression,
                config.output.row_group_rows,
            )
        return commit_dir(tmp, final, schema, compression=config.output.compression)
    ds = map_batches(ds, lambda t, _s=schema: S.conform(t, _s))
    kwargs = _parquet_args(config)
    if rows_per_file:
        kwargs["min_rows_per_file"] = rows_per_file
    ds.write_parquet(str(tmp), ray_remote_args={"num_cpus": TASK_CPUS}, **kwargs)
    return commit_dir(tmp, final, schema, compression=config.output.compression)


def read_table(path: Path) -> pa.Table:
    """A committed step output as one in-process table (small inputs, local executor)."""
    tables = [pq.read_table(f) for f in parquet_files(path)]
    return pa.concat_tables(tables, promote_options="permissive") if tables else S.empty(S.DOC_SCHEMA)


def read_dir(ctx: BuildContext, path: Path, columns: list[str] | None = None, small: bool = False):
    """A step's committed output: a Ray dataset, or one in-process table with the local executor (or ``small``)."""
    if ctx.local or small:
        return read_table(path).select(columns) if columns else read_table(path)
    import ray.data

    files = [str(p) for p in parquet_files(path)]
    return (
        ray.data.read_parquet(files, columns=columns, num_cpus=TASK_CPUS) if files else ray.data.from_arrow(S.empty())
    )


def file_tasks(
    ctx: BuildContext,
    src: Path,
    fn: Callable[[pa.Table], dict[str, pa.Table]],
    outputs: dict[str, tuple[Path, pa.Schema]],
    num_cpus: float = TASK_CPUS,
    after_file: Callable[[int], None] | None = None,
) -> list[dict]:
    """Apply ``fn`` to each Parquet file of ``src`` in its own Ray task and commit every output dir atomically.

    ``fn`` maps a table to ``{output name: table}``; ``outputs`` maps each name to (final dir, schema); an
    output ``fn`` returns but ``outputs`` does not name (e.g. rejected rows with ``write_rejected`` off) is dropped.
    ``fn`` may also return ``"info"`` (anything picklable). Returns, per file in the order they finished,
    ``{"file": its index in src's sorted files, "info": ..., "cpu": CPU s of read + fn, "write_cpu": {output: CPU s
    of its write}}``; ``after_file(n)``
    runs in the driver after the n-th file finished (fault injection).
    """
    files = parquet_files(src)
    tmps = {name: temp_dir_for(final) for name, (final, _) in outputs.items()}
    for t in tmps.values():
        t.mkdir(parents=True)
    schemas = {name: schema for name, (_, schema) in outputs.items()}
    comp, rg = ctx.config.output.compression, ctx.config.output.row_group_rows

    def work(i: int, path: str) -> dict:
        import time

        t0 = time.process_time()
        result = fn(pq.read_table(path))
        info = {"file": i, "info": result.pop("info", None), "write_cpu": {}, "cpu": time.process_time() - t0}
        for name, table in result.items():
            t1 = time.process_time()
            if name in schemas and table.num_rows:
                atomic_write_table(S.conform(table, schemas[name]), tmps[name] / f"part-{i:05d}.parquet", comp, rg)
            info["write_cpu"][name] = time.process_time() - t1
        return info

    infos = []
    for n, info in enumerate(run_tasks(ctx, work, [(i, str(f)) for i, f in enumerate(files)], num_cpus=num_cpus)):
        infos.append(info)
        if after_file is not None:
            after_file(n)
    for name, (final, schema) in outputs.items():
        commit_dir(tmps[name], final, schema, compression=comp)
    return infos


def run_tasks(
    ctx: BuildContext,
    fn: Callable[..., Any],
    calls: Iterable[tuple],
    num_cpus: float = STAGE_CPUS,
    max_inflight: int | None = None,
) -> Iterator[Any]:
    """``fn(*args)`` for every ``args`` in ``calls``: in order in this process, or as Ray tasks (retried twice)
    with at most ``max_inflight`` running (default: all at once); yields each result as it finishes."""
    calls = list(calls)
    if ctx.local:
        for args in calls:
            yield fn(*args)
        return
    import ray

    remote = ray.remote(num_cpus=num_cpus, max_retries=2)(_timed(fn))
    limit = max_inflight or max(1, len(calls))
    queue, refs = list(calls), []
    while queue or refs:
        while queue and len(refs) < limit:
            refs.append(remote.remote(*queue.pop(0)))
        ready, refs = ray.wait(refs, num_returns=1)
        for r in ready:
            cpu, result = ray.get(r)
            ctx.task_cpu_s += cpu
            yield result


def _timed(fn: Callable[..., Any]) -> Callable[..., tuple[float, Any]]:
    """``fn`` returning ``(CPU seconds it took in its worker process, its result)`` (pipelines.cost)."""

    def timed(*args) -> tuple[float, Any]:
        import time

        t0 = time.process_time()
        result = fn(*args)
        return time.process_time() - t0, result

    return timed
