"""``decontaminate``: tag benchmark overlap, then remove or keep the tagged rows per settings.

Works on a Ray dataset (the stage runs in an actor pool that builds the index once) and on a plain
``pyarrow.Table`` (e.g. synthetic rows). With ``action="remove"`` tagged rows go to the side output
with ``drop_stage="decontam"``, ``drop_reason="benchmark_overlap"``; with ``action="tag"`` every row
stays and the removed side is empty.
"""

from __future__ import annotations

import time

import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.decontam.stage import DecontamStage
from curator.settings import DecontamSettings
from curator.stage import STAGE_CPUS

STAGE = "decontam"
REASON = "benchmark_overlap"


def stage_kwargs(settings: DecontamSettings) -> dict:
    """:class:`DecontamStage` arguments from the ``decontam`` section."""
    return dict(
        benchmarks=list(settings.benchmarks),
        ngram=settings.ngram,
        fields=list(settings.fields),
        confirm_ratio=settings.confirm_ratio,
        index_cache=settings.index_cache,
    )


def split_tagged(table: pa.Table, action: str) -> tuple[pa.Table, pa.Table]:
    """``(kept, removed)`` of tagged rows: ``remove`` drops the rows with a ``contam_match``, ``tag`` keeps all."""
    hit = pc.is_valid(table.column(S.CONTAM_MATCH))
    if action == "tag":
        return table, table.slice(0, 0)
    removed = table.filter(hit)
    n = removed.num_rows
    removed = removed.append_column(S.DROP_STAGE, pa.array([STAGE] * n, pa.string())).append_column(
        S.DROP_REASON, pa.array([REASON] * n, pa.string())
    )
    return table.filter(pc.invert(hit)), removed


def decontam_stats(n_in: int, matches: list[str], action: str, seconds: float) -> dict:
    by_bench: dict[str, int] = {}
    for m in matches:
        b = m.split(":", 1)[0]
        by_bench[b] = by_bench.get(b, 0) + 1
    dropped = len(matches) if action == "remove" else 0
    return {
        "stage": STAGE,
        "in": n_in,
        "out": n_in - dropped,
        "dropped": dropped,
        "flagged": len(matches),
        "action": action,
        "by_benchmark": by_bench,
        "seconds": round(seconds, 3),
    }


def decontaminate_table(
    table: pa.Table, stage: DecontamStage, settings: DecontamSettings
) -> tuple[pa.Table, pa.Table, list[str]]:
    """Tag ``table`` in batches of ``settings.batch_size`` and split it: ``(kept, removed, matches)``."""
    size = settings.batch_size
    tagged = pa.concat_tables([stage(table.slice(i, size)) for i in range(0, max(1, table.num_rows), size)])
    kept, removed = split_tagged(tagged, settings.action)
    return kept, removed, [m for m in tagged.column(S.CONTAM_MATCH).to_pylist() if m is not None]


def decontaminate(ds, settings: DecontamSettings, work_dir=None, index=None):
    """Flag documents overlapping the benchmarks in ``settings`` and remove or tag them.

    The corpus-operation signature ``(data, settings, work_dir) -> (kept, removed, stats)`` shared with
    :func:`curator.dedup.exact.exact_dedup` and :func:`curator.dedup.fuzzy_dedup`.

    Args:
        ds: a Ray dataset or a ``pyarrow.Table`` with ``text``.
        settings: the ``decontam`` section.
        work_dir: unused (the index is cached by ``settings.index_cache``); part of the shared signature.
        index: optional prebuilt :class:`~curator.decontam.index.NgramIndex` (shipped to the actors).

    Returns:
        ``(kept, removed, stats)`` of the same kind as ``ds``; ``stats`` has ``in``, ``out``,
        ``dropped``, ``flagged``, ``by_benchmark``. A Ray dataset is materialized once to count.
    """
    t0 = time.perf_counter()
    kw = stage_kwargs(settings)
    if index is not None:
        kw["index"] = index
    if isinstance(ds, pa.Table):
        kept, removed, matches = decontaminate_table(ds, DecontamStage(**kw), settings)
        return kept, removed, decontam_stats(ds.num_rows, matches, settings.action, time.perf_counter() - t0)

    from curator.stage import Resources, apply_stage

    tagged = apply_stage(
        ds, DecontamStage, Resources(num_cpus=STAGE_CPUS, actors=1, batch_size=settings.batch_size), **kw
    ).materialize()
    n_in = tagged.count()
    hits = tagged.map_batches(
        lambda b: b.filter(pc.is_valid(b.column(S.CONTAM_MATCH))).select([S.CONTAM_MATCH]), batch_format="pyarrow"
    )
    matches = [m for t in hits.iter_batches(batch_format="pyarrow") for m in t.column(S.CONTAM_MATCH).to_pylist()]
    action = settings.action
    kept = tagged.map_batches(lambda b: split_tagged(b, action)[0], batch_format="pyarrow")
    removed = tagged.map_batches(lambda b: split_tagged(b, action)[1], batch_format="pyarrow")
    return kept, removed, decontam_stats(n_in, matches, action, time.perf_counter() - t0)
