"""Corpus-level operations (exact dedup, fuzzy dedup, decontamination) as :class:`~pipelines.steps.base.CorpusStep`
operations, with what the dry run measures for each.

Every operation has the signature ``op(data, settings, work_dir) -> (kept, removed, stats)``; ``data`` is a
``pyarrow.Table`` or a Ray dataset and the results are of the same kind. Synthesis sends its rows through the
same operations (:mod:`pipelines.steps.synthesis`).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from curator.settings import BuildConfig
from pipelines.measure import _measure, _write_cost, measure_op


def exact_dedup(data, settings, work_dir: Path):
    from curator.dedup.exact import exact_dedup as op

    return op(data, settings, work_dir)


def fuzzy_dedup(data, settings, work_dir: Path):
    from curator.dedup.fuzzy import fuzzy_dedup as op

    return op(data, settings, work_dir)


def decontaminate(data, settings, work_dir: Path):
    from curator.decontam import decontaminate as op

    return op(data, settings, work_dir)


# --------------------------------------------------------------------------- dry-run measurements
# (table, config, tmp) -> (kept, figures); see pipelines.dry_run for the figures' meaning.


def measure_exact_dedup(table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, dict]:
    from curator.dedup.exact import exact_dedup as op

    # id, hash, score and length of every document are shuffled and held per partition
    return measure_op(lambda t, _run: op(t), table, cfg, tmp, state_per_doc=64)


def measure_fuzzy_dedup(table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, dict]:
    from curator.dedup.fuzzy import fuzzy_dedup_table, lsh_params

    fz = cfg.dedup.fuzzy
    bands, _rows = lsh_params(fz)
    state = 4 * fz.num_perm + 16 * bands + 64  # signatures + band keys + id per document
    return measure_op(lambda t, _run: fuzzy_dedup_table(t, fz), table, cfg, tmp, state_per_doc=state)


def measure_decontaminate(table: pa.Table, cfg: BuildConfig, tmp: Path) -> tuple[pa.Table, dict]:
    from curator.decontam import decontaminate as op
    from curator.decontam import load_benchmarks

    dc = cfg.decontam
    index, m_idx = _measure(lambda: load_benchmarks(dc.benchmarks, dc.ngram, dc.fields, dc.index_cache))
    (kept, _r, _st), m = _measure(lambda: op(table, dc, index=index), memory=True)
    w, _ = _write_cost(kept, cfg, tmp)
    index_bytes = int(
        index.hashes.nbytes + index.items.nbytes + index.positions.nbytes + sum(len(t) for t in index.texts)
    )
    return kept, {
        "in": table.num_rows,
        "out": kept.num_rows,
        "seconds": m.wall + w,
        "fixed": m_idx.wall,
        "py_peak": m.py_peak,
        "model_bytes": index_bytes,
    }
