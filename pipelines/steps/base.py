"""The three kinds of build step, and what the runner derives from a step's place in the list.

* :class:`RowStep`: stages that add columns, then an optional :class:`~curator.stage.Filter`, applied
  file by file (one Ray task per Parquet file, or in this process). Kept rows go to ``_work/<name>/``,
  dropped rows to ``rejected/<name>/`` with ``drop_stage=<name>`` and the filter's reason.
* :class:`CorpusStep`: an operation over the whole document set with one signature,
  ``op(data, settings, work_dir) -> (kept, removed, stats)`` (exact dedup, fuzzy dedup, decontamination), and
  optionally its file-pass form ``files_op`` for large inputs on Ray.
* :class:`Step`: anything else (ingest, synthesis, tokens, write phases) with its own ``run``.

A step that ``produces`` documents (row and corpus steps, ingest) commits them to ``_work/<name>/``; the
next step's input is the previous producing step's output (:func:`inputs`). Stages and filters are
listed as factories: a class (built with ``from_config(config)`` when it has one, else with no arguments)
or a function ``config -> instance``.

Each step also says how the dry run measures it (:meth:`Step.measure`, run on a sample in this process)
and its fixed cost on Ray (``overhead_s``), so the dry run and progress reporting read the same list.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from curator import schema as S
from curator.settings import BuildConfig
from curator.stage import FILE_TASK_CPUS, Filter, Stage
from curator.writers import count_rows, parquet_files
from pipelines.context import BuildContext, fault_point
from pipelines.measure import measure_corpus_step, measure_row_step

Factory = Callable[[BuildConfig], Any] | type
DEFAULT_OVERHEAD_S = 5.0  # a step the list gives no figure for (seconds on Ray, 2 CPUs)


def build(factory: Factory, config: BuildConfig):
    """An instance from a stage/filter factory (see the module docstring)."""
    if isinstance(factory, type):
        make = getattr(factory, "from_config", None)
        return make(config) if make is not None else factory()
    return factory(config)


def stage_stats(n_in: int, n_out: int, reasons: dict | None = None, **extra) -> dict:
    """The manifest entry of a step: rows in, out, dropped and the drop reasons (plus ``extra``)."""
    return {"in": n_in, "out": n_out, "dropped": n_in - n_out, "reasons": dict(reasons or {}), **extra}


def reason_counts(directory: Path, column: str = S.DROP_REASON) -> dict:
    """``{reason: rows}`` of a committed rejected directory, most frequent first."""
    counts: Counter = Counter()
    for f in parquet_files(directory):
        counts.update(pq.read_table(f, columns=[column]).column(column).to_pylist())
    return {str(k): v for k, v in counts.most_common()}


def routed_stats(ctx: BuildContext, name: str, src: Path, dst: Path, wrote_rejected: bool, **extra) -> dict:
    """Stats of a step that routed ``src`` into ``dst`` and (maybe) ``rejected/<name>/``."""
    n_in, n_out = count_rows(src), count_rows(dst)
    reasons = reason_counts(ctx.rejected_dir(name)) if wrote_rejected else {}
    if not reasons and n_in != n_out:
        reasons = {name: n_in - n_out}
    return stage_stats(n_in, n_out, reasons, **extra)


@dataclass(frozen=True)
class Step:
    """A build step with its own ``run`` (``fn(ctx, src) -> stats``)."""

    name: str
    fn: Callable[[BuildContext, Path | None], dict] | None = None
    enabled: Callable[[BuildConfig], bool] = lambda c: True
    overhead_s: float = DEFAULT_OVERHEAD_S
    produces: bool = False  # commits a document set to _work/<name>/ that the next step reads
    in_driver_when_small: bool = False  # inputs <= ray.small_input_rows run in the driver (dry run: no Ray Data cost)
    measure_fn: Callable[..., tuple[pa.Table, dict]] | None = None
    # what the step reads and writes, for its cost (pipelines.cost); default: its input, its own directories
    read_paths: Callable[[BuildContext, Path | None], list[Path]] | None = None
    write_dirs: Callable[[BuildContext], list[Path]] | None = None

    def path(self, config: BuildConfig, rows: int, local: bool) -> str | None:
        """How a step with ``in_driver_when_small`` runs ``rows`` input rows: ``driver`` (one table in this
        process) or ``ray_data`` (a Ray Data job); ``None`` for other steps."""
        if not self.in_driver_when_small:
            return None
        return "driver" if local or rows <= config.ray.small_input_rows else "ray_data"

    def reads(self, ctx: BuildContext, src: Path | None) -> list[Path]:
        """The files or directories the step reads (``bytes_read``)."""
        if self.read_paths is not None:
            return self.read_paths(ctx, src)
        return [src] if src is not None else []

    def writes(self, ctx: BuildContext) -> list[Path]:
        """The directories the step writes (``bytes_written``)."""
        if self.write_dirs is not None:
            return self.write_dirs(ctx)
        return (
            [ctx.step_dir(self.name), ctx.rejected_dir(self.name)] if self.produces else [ctx.rejected_dir(self.name)]
        )

    def run(self, ctx: BuildContext, src: Path | None) -> dict:
        assert self.fn is not None, f"step {self.name!r} has nothing to run"
        return self.fn(ctx, src)

    def measure(self, table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, dict] | None:
        """Run the step on a sample in this process for the dry run: ``(what the next step sees, figures)``,
        or ``None`` when it cannot be sampled (see :mod:`pipelines.dry_run`)."""
        return self.measure_fn(table, cfg, tmp) if self.measure_fn is not None else None


_PROCESS_STAGES: dict = {}


def _cached(key, make: Callable[[], list]) -> list:
    """The same stage instances for every file a worker process handles (models load once per process)."""
    if key not in _PROCESS_STAGES:
        _PROCESS_STAGES[key] = make()
    return _PROCESS_STAGES[key]


def apply_stages(table: pa.Table, stages: list[Stage], batch_rows: int) -> pa.Table:
    """``stages`` in order over ``table`` in slices of ``batch_rows`` (one slice for an empty table)."""
    if not stages:
        return table
    parts = []
    for start in range(0, max(table.num_rows, 1), batch_rows):
        t = table.slice(start, batch_rows)
        for stage in stages:
            t = stage(t)
        parts.append(t)
    return pa.concat_tables(parts) if len(parts) > 1 else parts[0]


class _RouteFile:
    """The per-file body of a row step (picklable): stages in slices of ``batch_rows``, then the filter."""

    def __init__(self, key: tuple, name: str, stages: list[Stage], flt: Filter | None, batch_rows: int) -> None:
        self.key, self.name, self.stages, self.flt, self.batch_rows = key, name, stages, flt, batch_rows

    def __call__(self, table: pa.Table) -> dict[str, pa.Table]:
        stages, flt = _cached(self.key, lambda: [self.stages, self.flt])
        table = apply_stages(table, stages, self.batch_rows)
        if flt is None:
            return {"kept": table}
        kept, dropped = flt.split(table, self.name)
        return {"kept": kept, "dropped": dropped}


@dataclass(frozen=True)
class RowStep(Step):
    """Stages (column annotators) and an optional filter over every row, file by file.

    Args:
        stages: stage factories, applied in order (slices of ``batch_rows``).
        filter: a :class:`~curator.stage.Filter` factory; ``None``: the step only annotates.
        task_cpus: Ray CPUs per file task (default :data:`~curator.stage.FILE_TASK_CPUS`: one task per core).
        ray_data: ``config -> bool``: run the stages as one Ray Data job (declared resources, actor pools)
            instead of file tasks (only without a filter; the local executor always uses files).
    """

    stages: Sequence[Factory] = ()
    filter: Factory | None = None
    batch_rows: int = 8192
    task_cpus: float = FILE_TASK_CPUS
    ray_data: Callable[[BuildConfig], bool] | None = None
    produces: bool = True
    overhead_s: float = 1.0

    def instances(self, config: BuildConfig) -> tuple[list[Stage], Filter | None]:
        return [build(f, config) for f in self.stages], (
            build(self.filter, config) if self.filter is not None else None
        )

    def on_ray_data(self, ctx: BuildContext, flt: Filter | None | bool = False) -> bool:
        """Whether the step runs as one Ray Data job (then it is not fused: :mod:`pipelines.fused`)."""
        return self.ray_data_job(ctx.config, ctx.local, flt)

    def ray_data_job(self, config: BuildConfig, local: bool, flt: Filter | None | bool = False) -> bool:
        """:meth:`on_ray_data` from the configuration alone (the dry run has no build context)."""
        has_filter = self.filter is not None if flt is False else flt is not None
        return not has_filter and not local and self.ray_data is not None and bool(self.ray_data(config))

    def cache_key(self, ctx: BuildContext) -> tuple:
        """The key of this step's stage instances in a worker process (models load once per process)."""
        return (self.name, ctx.chash, *(_qualname(f) for f in (*self.stages, self.filter)))

    def run(self, ctx: BuildContext, src: Path | None) -> dict:
        from curator.stage import run_stage
        from pipelines.executor import file_tasks, read_dir, write_dataset

        assert src is not None, f"row step {self.name!r} needs an input"
        stages, flt = self.instances(ctx.config)
        dst = ctx.step_dir(self.name)
        if self.on_ray_data(ctx, flt):
            ds = read_dir(ctx, src)
            for stage in stages:
                ds = run_stage(ds, stage)
            write_dataset(ds, dst, S.DOC_SCHEMA, ctx.config)
            return stage_stats(count_rows(dst), count_rows(dst))
        outputs = {"kept": (dst, S.DOC_SCHEMA)}
        write_rejected = flt is not None and ctx.config.output.write_rejected
        if write_rejected:
            outputs["dropped"] = (ctx.rejected_dir(self.name), S.REJECTED_SCHEMA)
        route = _RouteFile(self.cache_key(ctx), self.name, stages, flt, self.batch_rows)
        file_tasks(ctx, src, route, outputs, num_cpus=self.task_cpus)
        if flt is None:
            n = count_rows(dst)
            return stage_stats(n, n)
        return routed_stats(ctx, self.name, src, dst, write_rejected, **flt.stats())

    def measure(self, table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, dict]:
        return measure_row_step(self, table, cfg, tmp)


@dataclass(frozen=True)
class CorpusStep(Step):
    """An operation over the whole document set: ``op(data, settings, work_dir) -> (kept, removed, stats)``.

    ``data`` is one ``pyarrow.Table`` (local executor, or at most ``ray.small_input_rows`` rows: the driver is
    faster than a Ray Data job there) or a Ray dataset; ``settings`` is ``settings(config)``; ``work_dir`` is
    ``_work/<name>_work/``. Removed rows are relabelled ``drop_stage=<name>``. A step with ``files_op`` runs
    inputs above ``ray.small_input_rows`` and up to ``ray.file_pass_max_rows`` as file passes instead (Ray tasks
    per Parquet file, no Ray Data job); :meth:`path` makes that choice for the run and the dry run.
    """

    op: Callable[[Any, Any, Path], tuple[Any, Any, dict]] | None = None
    settings: Callable[[BuildConfig], Any] = lambda c: None
    produces: bool = True
    in_driver_when_small: bool = True
    overhead_s: float = 0.1
    # the file-pass form of ``op`` (pipelines.steps.corpus): ``(ctx, src, settings, work_dir) -> (split, stats)``
    # with ``split(table) -> (kept, removed[, info])`` applied to each input file in a Ray task; ``stats`` is a
    # dict, or a function of the files' infos (in file order) that returns it
    files_op: Callable[..., tuple[Callable[[pa.Table], tuple], dict | Callable[[list], dict]]] | None = None

    def path(self, config: BuildConfig, rows: int, local: bool) -> str:
        """Also ``files`` (file passes, :attr:`files_op`) above ``ray.small_input_rows`` up to
        ``ray.file_pass_max_rows``."""
        path = super().path(config, rows, local)
        if path == "ray_data" and self.files_op is not None and rows <= config.ray.file_pass_max_rows:
            return "files"
        return path

    def run(self, ctx: BuildContext, src: Path | None) -> dict:
        from pipelines.executor import map_batches, read_dir, write_dataset

        assert src is not None and self.op is not None
        path = self.path(ctx.config, count_rows(src), ctx.local)
        if path == "files":
            return {**self._run_files(ctx, src), "execution": path}
        data = read_dir(ctx, src, small=path == "driver")
        kept, removed, stats = self.op(data, self.settings(ctx.config), ctx.scratch_dir(self.name))
        dst = ctx.step_dir(self.name)
        write_dataset(kept, dst, S.DOC_SCHEMA, ctx.config)
        wrote = ctx.config.output.write_rejected and removed is not None
        if wrote:
            write_dataset(
                map_batches(removed, _relabel(self.name)), ctx.rejected_dir(self.name), S.REJECTED_SCHEMA, ctx.config
            )
        return {**self._routed(ctx, src, wrote, stats), "execution": path}

    def _run_files(self, ctx: BuildContext, src: Path) -> dict:
        """The file-pass form: ``files_op`` decides, then one task per file splits it (no Ray Data job)."""
        from pipelines.executor import file_tasks

        split, stats = self.files_op(ctx, src, self.settings(ctx.config), ctx.scratch_dir(self.name))
        wrote = ctx.config.output.write_rejected
        outputs = {"kept": (ctx.step_dir(self.name), S.DOC_SCHEMA)}
        if wrote:
            outputs["removed"] = (ctx.rejected_dir(self.name), S.REJECTED_SCHEMA)
        after = lambda n: fault_point(f"{self.name}:file")  # noqa: E731 (after each file is split)
        infos = file_tasks(ctx, src, _SplitFile(split, self.name), outputs, num_cpus=FILE_TASK_CPUS, after_file=after)
        if callable(stats):
            stats = stats([f["info"] for f in sorted(infos, key=lambda f: f["file"])])
        return self._routed(ctx, src, wrote, stats)

    def _routed(self, ctx: BuildContext, src: Path, wrote: bool, stats: dict | None) -> dict:
        """The step's counts read from its committed outputs, with the operation's own figures beside them."""
        details = {k: v for k, v in (stats or {}).items() if k not in ("in", "out", "dropped")}
        return routed_stats(ctx, self.name, src, ctx.step_dir(self.name), wrote, **details)

    def measure(self, table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, dict]:
        if self.measure_fn is not None:
            return self.measure_fn(table, cfg, tmp)
        return measure_corpus_step(self, table, cfg, tmp)


class _SplitFile:
    """A corpus step's ``split`` over one file: kept rows, removed rows relabelled ``drop_stage=<step>``, and as
    ``info`` whatever ``split`` returned beside them (or ``None``)."""

    def __init__(self, split: Callable[[pa.Table], tuple], name: str) -> None:
        self.split, self.name = split, name

    def __call__(self, table: pa.Table) -> dict:
        kept, removed, *extra = self.split(table)
        return {"kept": kept, "removed": _relabel(self.name)(removed), "info": extra[0] if extra else None}


def _relabel(name: str) -> Callable[[pa.Table], pa.Table]:
    def fn(t: pa.Table) -> pa.Table:
        t = S.conform(t, S.REJECTED_SCHEMA)
        i = t.schema.get_field_index(S.DROP_STAGE)
        return t.set_column(i, S.DROP_STAGE, pa.repeat(pa.scalar(name, pa.string()), t.num_rows))

    return fn


def _qualname(factory) -> str:
    return f"{getattr(factory, '__module__', '')}.{getattr(factory, '__qualname__', repr(factory))}"


def inputs(steps: Sequence[Step]) -> dict[str, str | None]:
    """``{step: the producing step whose output it reads}`` (``None`` for the first)."""
    last, result = None, {}
    for s in steps:
        result[s.name] = last
        if s.produces:
            last = s.name
    return result


def check_names(steps: Sequence[Step]) -> None:
    """Step names are directory names and ``drop_stage`` values: unique, plain."""
    seen = set()
    for s in steps:
        if s.name in seen or not s.name.replace("_", "").isalnum():
            raise ValueError(f"step name {s.name!r} is repeated or not a plain identifier")
        seen.add(s.name)
