"""Corpus-level operations (exact dedup, fuzzy dedup, decontamination) as :class:`~pipelines.steps.base.CorpusStep`
operations, with what the dry run measures for each.

Every operation has the signature ``op(data, settings, work_dir) -> (kept, removed, stats)``; ``data`` is a
``pyarrow.Table`` or a Ray dataset and the results are of the same kind. Synthesis sends its rows through the
same operations (:mod:`pipelines.steps.synthesis`).
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.settings import BuildConfig
from curator.stage import FILE_TASK_CPUS
from curator.writers import parquet_files
from pipelines.measure import _measure, _write_cost, measure_op
from pipelines.steps.base import _cached


def exact_dedup(data, settings, work_dir: Path):
    from curator.dedup.exact import exact_dedup as op

    return op(data, settings, work_dir)


def fuzzy_dedup(data, settings, work_dir: Path):
    from curator.dedup.fuzzy import fuzzy_dedup as op

    return op(data, settings, work_dir)


def decontaminate(data, settings, work_dir: Path):
    from curator.decontam import decontaminate as op

    return op(data, settings, work_dir)


# --------------------------------------------------------------------------- file passes
# (ctx, src, settings, work_dir) -> (split, stats): per-document work in one Ray task per input file, the
# duplicate map in the driver, then CorpusStep._run_files splits every file by it in a second task per file
# (decontamination needs no first pass: its split tags each file against the benchmark index). A file pass runs
# only on more than ray.small_input_rows rows (CorpusStep.path), so its input holds at least one file.
# Same kept and removed rows as the in-driver table path (tests/pipelines/test_corpus_files.py).

_HASH_META = (S.ID, S.TEXT_HASH, S.EDU_SCORE, S.N_CHARS)
_SIGNATURE_INPUT = (S.ID, S.TEXT, S.EDU_SCORE, S.N_CHARS)


def _read(path: str, columns: tuple[str, ...]) -> pa.Table:
    """``columns`` of one Parquet file (those it has)."""
    names = pq.ParquetFile(path).schema_arrow.names
    return pq.read_table(path, columns=[c for c in columns if c in names])


def _file_hash_meta(path: str) -> pa.Table:
    from curator.dedup.exact import hash_meta

    t = _read(path, _HASH_META)
    if S.TEXT_HASH not in t.column_names or S.N_CHARS not in t.column_names or t.column(S.N_CHARS).null_count:
        t = pq.read_table(path)  # hash or length missing: computed from the text
    return hash_meta(t)


def _file_signatures(path: str, settings, threads: int) -> pa.Table:
    from curator.dedup.fuzzy import table_signatures

    return table_signatures(_read(path, _SIGNATURE_INPUT), settings, threads)


def _file_texts(path: str, ids: pa.Array) -> pa.Table:
    t = _read(path, (S.ID, S.TEXT))
    return t.filter(pc.is_in(t.column(S.ID), value_set=ids))


def _per_file(ctx, src: Path, fn, *args) -> list[pa.Table]:
    """``fn(file, *args)`` for every Parquet file of ``src`` (Ray tasks), results in file order."""
    from pipelines.executor import run_tasks

    files = [str(f) for f in parquet_files(src)]
    calls = [(i, f) for i, f in enumerate(files)]
    out = dict(run_tasks(ctx, lambda i, f: (i, fn(f, *args)), calls, num_cpus=FILE_TASK_CPUS))
    return [out[i] for i in range(len(files))]


def exact_dedup_files(ctx, src: Path, settings, work_dir: Path):
    """Exact dedup's file pass: tasks read ``id, text_hash, edu_score, n_chars`` (never the text)."""
    import time
    from functools import partial

    from curator.dedup import removal
    from curator.dedup._ray import step_dir
    from curator.dedup.exact import REASON, STAGE, dedup_stats, duplicate_map

    t0 = time.perf_counter()
    meta = pa.concat_tables(_per_file(ctx, src, _file_hash_meta))
    cmap = duplicate_map(meta)
    pq.write_table(cmap, step_dir(work_dir, STAGE) / "cluster_map.parquet")
    split = partial(removal.split_table, cluster_map=cmap, stage=STAGE, reason=REASON)
    return split, dedup_stats(meta.num_rows, cmap, time.perf_counter() - t0)


def fuzzy_dedup_files(ctx, src: Path, settings, work_dir: Path):
    """Fuzzy dedup's file pass: tasks compute MinHash signatures; LSH and clusters run in the driver, the
    candidates' texts (exact verification) come back from a second pass that returns those rows only."""
    import time
    from functools import partial

    from curator.dedup import removal
    from curator.dedup.fuzzy import REASON, STAGE, signatures_cluster_map
    from pipelines.executor import cluster_cpus

    t0 = time.perf_counter()
    n_files = len(parquet_files(src))
    threads = min(4, max(1, int(cluster_cpus()) // max(1, n_files)))  # few files: threads share the cores
    sigs = pa.concat_tables(_per_file(ctx, src, _file_signatures, settings, threads))
    timings = {"minhash_signatures": time.perf_counter() - t0}

    def texts_of(ids: pa.Array) -> pa.Table:
        return pa.concat_tables(_per_file(ctx, src, _file_texts, ids))

    cmap, stats = signatures_cluster_map(sigs, settings, texts_of, work_dir, timings, t0)
    split = partial(removal.split_table, cluster_map=cmap, stage=STAGE, reason=REASON)
    return split, stats


class _DecontamSplit:
    """Decontamination of one file (picklable): the stage (its n-gram index loaded once per worker process,
    from ``decontam.index_cache`` when set), then the kept / removed split; the file's matches as info."""

    def __init__(self, settings) -> None:
        self.settings = settings

    def __call__(self, table: pa.Table) -> tuple[pa.Table, pa.Table, list[str]]:
        from curator.decontam.decontaminate import decontaminate_table, stage_kwargs
        from curator.decontam.stage import DecontamStage

        key = ("decontam", self.settings.model_dump_json())
        [stage] = _cached(key, lambda: [DecontamStage(**stage_kwargs(self.settings))])
        return decontaminate_table(table, stage, self.settings)


def decontaminate_files(ctx, src: Path, settings, work_dir: Path):
    """Decontamination's file pass: one task per file tags and splits it (a row operation given the index)."""
    import time

    from curator.decontam.decontaminate import decontam_stats
    from curator.writers import count_rows

    t0, n_in = time.perf_counter(), count_rows(src)

    def stats(matches: list[list[str]]) -> dict:
        return decontam_stats(n_in, [m for ms in matches for m in ms], settings.action, time.perf_counter() - t0)

    return _DecontamSplit(settings), stats


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
