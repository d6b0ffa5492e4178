"""The stage shape and its single adapter to Ray Data ``map_batches``.

A stage is a small callable class over ``pyarrow.Table`` batches:

* ``__init__(**settings)`` is cheap and picklable (it runs on the driver too);
* ``setup()`` loads models and clients, once per Ray actor;
* ``__call__(batch) -> batch`` does the work and must be idempotent.

Stages declare ``input_columns``/``output_columns`` so a pipeline can check, before Ray
starts, that every column a stage needs is produced upstream, and ``resources`` that
say how :func:`apply_stage` should run them (tasks, or an actor pool when ``actors``
is set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa


@dataclass(frozen=True)
class Resources:
    """How a stage runs on Ray.

    Args:
        num_cpus: CPUs reserved per task/actor. Fractional on small machines: two actors at
            ``num_cpus=1`` on a 2-CPU Ray leave nothing for read tasks and hang silently.
        actors: size of the actor pool; ``None`` runs the stage as stateless tasks.
        batch_size: rows per batch handed to ``__call__``.
    """

    num_cpus: float = 0.5
    actors: int | None = None
    batch_size: int = 4096


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

    def __call__(self, batch: pa.Table) -> pa.Table:
        if not self._ready:
            self.setup()
            self._ready = True
        missing = [c for c in self.input_columns if c not in batch.column_names]
        if missing:
            from curator.exceptions import SchemaError

            raise SchemaError(f"stage {self.name!r} needs columns {missing}; batch has {batch.column_names}")
        return self.process(batch)


def check_columns(stages: list[type[Stage]], available: tuple[str, ...]) -> None:
    """Fail before Ray starts if a stage needs a column nobody upstream produces."""
    from curator.exceptions import SchemaError

    have = set(available)
    for st in stages:
        missing = [c for c in st.input_columns if c not in have]
        if missing:
            raise SchemaError(f"stage {st.name!r} needs {missing}, which no earlier stage produces")
        have.update(st.output_columns)


def apply_stage(ds, stage_cls: type[Stage], resources: Resources | None = None, **kwargs: Any):
    """Add ``stage_cls`` to a Ray dataset as one ``map_batches`` call.

    Stateless stages run as tasks (a function wrapper); stages with ``resources.actors``
    run in an actor pool that calls ``setup()`` once per actor. A ``pyarrow.Table`` instead
    of a dataset runs the stage in this process (the local executor).
    """
    if isinstance(ds, pa.Table):  # in-process execution: same stage, no Ray
        return stage_cls(**kwargs)(ds)
    import ray.data

    res = resources or stage_cls.resources
    if res.actors:
        return ds.map_batches(
            stage_cls,
            fn_constructor_kwargs=kwargs,
            compute=ray.data.ActorPoolStrategy(size=res.actors),
            batch_format="pyarrow",
            batch_size=res.batch_size,
            num_cpus=res.num_cpus,
            zero_copy_batch=True,
        )

    def _run(batch: pa.Table, _kwargs=kwargs) -> pa.Table:
        return stage_cls(**_kwargs)(batch)

    return ds.map_batches(_run, batch_format="pyarrow", batch_size=res.batch_size, num_cpus=res.num_cpus, zero_copy_batch=True)
