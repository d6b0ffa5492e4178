"""The stage shape, the filter shape, the CPU policy and the single adapter that runs a stage.

A stage is a small callable class over ``pyarrow.Table`` batches:

* ``__init__(**settings)`` is cheap and picklable (it runs on the driver too);
* ``setup()`` loads models and clients, once per Ray actor (or worker process);
* ``__call__(batch) -> batch`` does the work and must be idempotent.

Stages declare ``input_columns``/``output_columns`` so a pipeline can check, before Ray
starts, that every column a stage needs is produced upstream, and ``resources`` that say
how :func:`run_stage` runs them (tasks, or an actor pool when ``actors`` is set).

A :class:`Filter` is a stage that decides which rows stay: it writes ``keep(batch)`` (a boolean
mask) and ``reason(dropped)`` (why each dropped row went); :meth:`Filter.split` labels the
dropped rows with the step that dropped them, for ``OUT/rejected/<step>/``.

CPU fractions live here and nowhere else (:data:`TASK_CPUS`, :data:`STAGE_CPUS`,
:data:`FILE_TASK_CPUS`, :data:`ACTOR_CPU_SHARE`): with Ray's default of one CPU per task, two actors on a 2-CPU
machine starve the read tasks and hang silently.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

# Ray CPU tokens: plain tasks (reads, writes, row routing) take a quarter CPU, so up to four share a
# core; a stage's tasks take half; an actor pool shares half the cluster's CPUs between its actors.
TASK_CPUS = 0.25
STAGE_CPUS = 0.5
# A pass of plain tasks over a step's Parquet files (the build's row steps and corpus file passes) takes a
# whole CPU per task: as many worker processes as cores, and they stay warm between passes. Ray stops idle
# workers beyond the CPU count within about a second, so quarter-CPU tasks started extra workers that the
# next pass had to start again (measured: 5 s of a 13 s fuzzy dedup of 200k documents on 2 CPUs).
FILE_TASK_CPUS = 1.0
ACTOR_CPU_SHARE = 0.5


@dataclass(frozen=True)
class Resources:
    """How a stage runs on Ray.

    Args:
        num_cpus: CPUs reserved per task/actor (fractional: see the module docstring).
        actors: size of the actor pool; ``None`` runs the stage as stateless tasks.
        batch_size: rows per batch handed to ``__call__``.
        cpu_share: set for an actor pool sized from the cluster: the pool takes this share of the
            cluster's CPUs (``actors`` default: one per CPU); resolved by :func:`run_stage` on Ray.
    """

    num_cpus: float = STAGE_CPUS
    actors: int | None = None
    batch_size: int = 4096
    cpu_share: float | None = None

    def with_(self, **changes: Any) -> Resources:
        """A copy with ``changes`` (e.g. another batch size)."""
        return dataclasses.replace(self, **changes)

    def resolve(self, cluster_cpus: float) -> Resources:
        """Concrete actors and CPUs for a pool declared by ``cpu_share`` on a cluster of ``cluster_cpus``."""
        if self.cpu_share is None:
            return self
        actors = self.actors or max(1, int(cluster_cpus))
        return dataclasses.replace(
            self, actors=actors, num_cpus=max(0.1, cluster_cpus * self.cpu_share / actors), cpu_share=None
        )


def actor_pool(actors: int | None, batch_size: int) -> Resources:
    """An actor pool sharing :data:`ACTOR_CPU_SHARE` of the cluster (``actors`` default: one per CPU)."""
    return Resources(actors=actors or None, batch_size=batch_size, cpu_share=ACTOR_CPU_SHARE)


class Stage:
    """Base class of every batch stage."""

    name: ClassVar[str] = "stage"
    input_columns: ClassVar[tuple[str, ...]] = ()
    output_columns: ClassVar[tuple[str, ...]] = ()
    resources: Resources = Resources()

    def __init__(self, **kwargs: Any) -> None:
        self._ready = False

    def setup(self) -> None:
        """Load heavy state (models, clients). Called once per actor before the first batch."""

    def process(self, batch: pa.Table) -> pa.Table:  # pragma: no cover - abstract
        raise NotImplementedError

    def ensure_setup(self) -> None:
        if not getattr(self, "_ready", False):
            self.setup()
            self._ready = True

    def __call__(self, batch: pa.Table) -> pa.Table:
        self.ensure_setup()
        missing = [c for c in self.input_columns if c not in batch.column_names]
        if missing:
            from curator.exceptions import SchemaError

            raise SchemaError(f"stage {self.name!r} needs columns {missing}; batch has {batch.column_names}")
        return self.process(batch)


class Filter(Stage):
    """A stage that keeps some rows: subclasses write :meth:`keep` and, optionally, :meth:`reason`.

    Used as a plain stage it drops the rows it does not keep; a build step uses :meth:`split`
    to keep the dropped rows, labelled, under ``OUT/rejected/<step>/``.
    """

    name: ClassVar[str] = "filter"

    def keep(self, batch: pa.Table) -> pa.Array:  # pragma: no cover - abstract
        """A boolean mask (no nulls) of the rows to keep."""
        raise NotImplementedError

    def reason(self, dropped: pa.Table) -> pa.Array | str:
        """Why each dropped row was dropped: a string array, or one string for all (default: the filter's name)."""
        return self.name

    def stats(self) -> dict:
        """Extra figures for the manifest (e.g. a blocklist's size); empty by default."""
        return {}

    def process(self, batch: pa.Table) -> pa.Table:
        return batch.filter(self.keep(batch))

    def split(self, batch: pa.Table, step: str) -> tuple[pa.Table, pa.Table]:
        """``(kept rows, dropped rows labelled with drop_stage=step and their drop_reason)``."""
        self.ensure_setup()
        return split_table(batch, self.keep(batch), step, self.reason)


def split_table(table: pa.Table, keep: pa.Array, stage: str, reason) -> tuple[pa.Table, pa.Table]:
    """Return (kept rows, dropped rows labelled with ``drop_stage``/``drop_reason``/``kept_id``).

    ``reason`` is a string for every dropped row or a function of the dropped rows returning one per row.
    """
    from curator import schema as S

    kept = table.filter(keep)
    dropped = table.filter(pc.invert(keep))
    reasons = reason(dropped) if callable(reason) else reason
    if isinstance(reasons, str):
        reasons = pa.repeat(pa.scalar(reasons, pa.string()), dropped.num_rows)
    dropped = S.conform(dropped, S.DOC_SCHEMA)
    dropped = dropped.append_column(S.DROP_STAGE, pa.repeat(pa.scalar(stage, pa.string()), dropped.num_rows))
    dropped = dropped.append_column(S.DROP_REASON, reasons).append_column(
        S.KEPT_ID, pa.nulls(dropped.num_rows, pa.string())
    )
    return kept, dropped


def check_columns(stages: list[type[Stage]], available: tuple[str, ...]) -> None:
    """Fail before Ray starts if a stage needs a column nobody upstream produces."""
    from curator.exceptions import SchemaError

    have = set(available)
    for st in stages:
        missing = [c for c in st.input_columns if c not in have]
        if missing:
            raise SchemaError(f"stage {st.name!r} needs {missing}, which no earlier stage produces")
        have.update(st.output_columns)


class _Bound:
    """An actor body around a pickled stage instance (``setup`` runs once per actor)."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage

    def __call__(self, batch: pa.Table) -> pa.Table:
        return self.stage(batch)


def run_stage(data, stage: type[Stage] | Stage, resources: Resources | None = None, **kwargs: Any):
    """Run ``stage`` over ``data``: the one place that chooses between in-process, Ray tasks and actors.

    Args:
        data: a ``pyarrow.Table`` (runs the stage in this process: the local executor) or a Ray dataset
            (adds one lazy ``map_batches`` call).
        stage: a stage class (built with ``kwargs``) or a stage instance (cheap and picklable).
        resources: overrides the stage's declared ``resources`` (default: the declared ones). A pool
            declared with ``cpu_share`` is sized from the cluster here.

    Stateless stages run as tasks; stages with ``resources.actors`` run in an actor pool that calls
    ``setup()`` once per actor.
    """
    inst = stage(**kwargs) if isinstance(stage, type) else stage
    if isinstance(data, pa.Table):  # in-process execution: same stage, no Ray
        return inst(data)
    import ray
    import ray.data

    res = resources or inst.resources
    if res.cpu_share is not None:
        res = res.resolve(float(ray.cluster_resources().get("CPU", 1.0)))
    if res.actors:
        return data.map_batches(
            _Bound,
            fn_constructor_kwargs={"stage": inst},
            compute=ray.data.ActorPoolStrategy(size=res.actors),
            batch_format="pyarrow",
            batch_size=res.batch_size,
            num_cpus=res.num_cpus,
            zero_copy_batch=True,
        )

    def _run(batch: pa.Table, _stage=inst) -> pa.Table:
        return _stage(batch)

    return data.map_batches(
        _run, batch_format="pyarrow", batch_size=res.batch_size, num_cpus=res.num_cpus, zero_copy_batch=True
    )


def apply_stage(ds, stage_cls: type[Stage], resources: Resources | None = None, **kwargs: Any):
    """Former name of :func:`run_stage` (a stage class and its settings)."""
    return run_stage(ds, stage_cls, resources, **kwargs)
