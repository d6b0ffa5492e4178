"""The fuzzy-dedup workflow: signatures -> LSH buckets -> clusters -> removal.

:func:`fuzzy_dedup` composes the step modules. On Ray each step writes Parquet under
``work_dir/<step>/`` (``minhash_signatures``, ``lsh_edges``, ``clusters``) and the next step reads it,
so each can be rerun or inspected:

1. ``minhash_signatures`` — :class:`~curator.dedup.signatures.MinHashSignatureStage` in ``map_batches``.
2. ``lsh_edges`` — band keys (``map_batches``), shuffled by ``key % partitions`` across workers, each
   partition grouped with pyarrow into candidate pairs.
3. ``clusters`` — signatures of the documents in candidate pairs only (a distributed filter), pair
   verification (by default the true shingle Jaccard, from the texts of those documents only, a second
   distributed filter), connected components, keep policy -> ``cluster_map.parquet`` ``(id, kept_id)``.
4. removal — ``map_batches`` over the input with the cluster map broadcast.

On a ``pyarrow.Table`` the same functions run in process (``work_dir`` optional).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.dedup import clusters, lsh, removal
from curator.dedup._columns import EDGE_A, EDGE_B, N_SHINGLES, SIGNATURE
from curator.dedup.params import expected_error_rates, resolve_bands_rows
from curator.dedup.signatures import MinHashSignatureStage
from curator.settings import FuzzyDedupSettings
from curator.stage import STAGE_CPUS

STAGE = "fuzzy_dedup"
REASON = "near_duplicate"
STEPS = ("minhash_signatures", "lsh_edges", "clusters")


def lsh_params(settings: FuzzyDedupSettings) -> tuple[int, int]:
    """``(bands, rows)`` for ``settings`` (chosen from the threshold unless both are set)."""
    return resolve_bands_rows(
        settings.threshold, settings.num_perm, settings.bands, settings.rows, settings.fp_weight, settings.fn_weight
    )


def signature_stage(settings: FuzzyDedupSettings) -> MinHashSignatureStage:
    return MinHashSignatureStage(num_perm=settings.num_perm, ngram=settings.ngram, seed=settings.seed)


def _finish(settings, n_in, candidates, verified, cmap, bands, rows, timings, t0) -> dict:
    dropped = int(pc.sum(pc.not_equal(cmap.column(S.ID), cmap.column(S.KEPT_ID))).as_py() or 0) if cmap.num_rows else 0
    rates = expected_error_rates(settings.threshold, bands, rows)
    return {
        "stage": STAGE,
        "in": n_in,
        "out": n_in - dropped,
        "dropped": dropped,
        "clusters": len(pc.unique(cmap.column(S.KEPT_ID))) if cmap.num_rows else 0,
        "candidate_pairs": candidates.num_rows,
        "verified_pairs": verified.num_rows,
        "bands": bands,
        "rows": rows,
        "threshold": settings.threshold,
        "expected_fp_rate": round(rates["fp_rate"], 4),
        "expected_fn_rate": round(rates["fn_rate"], 4),
        "seconds": {**{k: round(v, 3) for k, v in timings.items()}, "total": round(time.perf_counter() - t0, 3)},
    }


def _verify(cand: pa.Table, sigs: pa.Table | None, settings: FuzzyDedupSettings, texts_of) -> pa.Table:
    """Verified candidate pairs per ``settings`` (``verify``, ``verify_exact``).

    ``texts_of(ids)`` returns ``(id, text)`` rows of at least those ids (called only for exact
    verification). With exact verification ``est_jaccard`` is still recorded, unfiltered.
    """
    if not settings.verify:
        return cand
    if not settings.verify_exact or cand.num_rows == 0:
        return clusters.verify_pairs(cand, sigs, settings.threshold)
    with_est = clusters.verify_pairs(cand, sigs, 0.0)
    return clusters.verify_pairs_exact(
        with_est, texts_of(clusters.edge_members(cand)), settings.threshold, settings.ngram, settings.seed
    )


def _default_threads() -> int:
    # The hashing kernels release the GIL: on the 2-core development machine 2 threads computed
    # signatures of 20k documents 1.5x faster than one (0.76 s vs 1.1 s). More than 4 is untested.
    import os

    return max(1, min(4, os.cpu_count() or 1))


def table_signatures(table: pa.Table, settings: FuzzyDedupSettings, threads: int | None = None) -> pa.Table:
    """Signature table of an in-memory table, batches computed on ``threads`` threads (row order kept).

    The compiled hashing loops, Arrow compute and rensa release the GIL for most of the work; the
    default is one thread per core, at most 4. Signatures do not depend on how rows are batched.
    Batches are at most ``settings.batch_size`` rows, and the batch count is a multiple of
    ``threads`` so the threads get equal shares.
    """
    stage = signature_stage(settings)
    n = table.num_rows
    threads = _default_threads() if threads is None else max(1, threads)
    if n == 0:
        return stage(table)
    n_batches = -(-n // settings.batch_size)
    n_batches = -(-n_batches // threads) * threads if n >= threads * 256 else n_batches
    size = -(-n // n_batches)
    slices = [table.slice(i, size) for i in range(0, n, size)]
    if threads == 1 or len(slices) == 1:
        parts = [stage(b) for b in slices]
    else:
        stage(table.slice(0, 0))  # setup once, before the threads share the stage
        with ThreadPoolExecutor(threads) as pool:
            parts = list(pool.map(stage, slices))
    return pa.concat_tables(parts)


def fuzzy_dedup_table(
    table: pa.Table, settings: FuzzyDedupSettings, work_dir: str | Path | None = None, threads: int | None = None
):
    """In-process fuzzy dedup of a ``pyarrow.Table``; returns ``(kept, removed, stats)``.

    ``threads``: signature threads (default: one per core, at most 4; see :func:`table_signatures`);
    the output does not depend on it.
    """
    t0 = time.perf_counter()
    sigs = table_signatures(table, settings, threads)
    timings = {STEPS[0]: time.perf_counter() - t0}
    cmap, stats = signatures_cluster_map(
        sigs,
        settings,
        lambda ids: table.filter(pc.is_in(table.column(S.ID), value_set=ids)),
        work_dir,
        timings,
        t0,
    )
    kept, removed = removal.split_table(table, cmap, STAGE, REASON)
    return kept, removed, stats


def signatures_cluster_map(
    sigs: pa.Table,
    settings: FuzzyDedupSettings,
    texts_of,
    work_dir: str | Path | None = None,
    timings: dict[str, float] | None = None,
    t0: float | None = None,
) -> tuple[pa.Table, dict]:
    """LSH, verification and clusters of a whole signature table, in process: ``(cluster_map, stats)``.

    ``texts_of(ids)`` returns ``(id, text)`` rows of at least those ids (exact verification only). With
    ``work_dir`` the steps' tables are written to ``work_dir/<step>/`` as on Ray. ``timings`` (seconds of
    earlier steps) and ``t0`` (when the operation began) feed the stats.
    """
    t0 = time.perf_counter() if t0 is None else t0
    timings = dict(timings or {})
    bands, rows = lsh_params(settings)
    t = time.perf_counter()
    cand = lsh.candidate_pairs(lsh.band_keys(sigs, bands, rows), settings.max_bucket_pairs)
    timings[STEPS[1]] = time.perf_counter() - t
    t = time.perf_counter()
    verified = _verify(cand, sigs, settings, texts_of)
    cmap = clusters.cluster_map(verified.select([EDGE_A, EDGE_B]), sigs)
    timings[STEPS[2]] = time.perf_counter() - t
    if work_dir is not None:
        from curator.dedup._ray import step_dir

        pq.write_table(sigs, step_dir(work_dir, STEPS[0]) / "part-0.parquet")
        pq.write_table(cand, step_dir(work_dir, STEPS[1]) / "part-0.parquet")
        d = step_dir(work_dir, STEPS[2])
        pq.write_table(verified, d / "edges.parquet")
        pq.write_table(cmap, d / "cluster_map.parquet")
    return cmap, _finish(settings, sigs.num_rows, cand, verified, cmap, bands, rows, timings, t0)


# --- Ray steps (each reads the previous step's directory) ----------------------------------------


def compute_signatures(ds, settings: FuzzyDedupSettings, work_dir: str | Path) -> Path:
    """Step 1: write signatures of ``ds`` to ``work_dir/minhash_signatures/``."""
    from curator.dedup._ray import step_dir

    out = step_dir(work_dir, STEPS[0])
    kw = dict(num_perm=settings.num_perm, ngram=settings.ngram, seed=settings.seed)

    def _sig(batch: pa.Table, _kw=kw) -> pa.Table:
        return MinHashSignatureStage(**_kw)(batch)

    ds.map_batches(_sig, batch_format="pyarrow", batch_size=settings.batch_size, num_cpus=STAGE_CPUS).write_parquet(
        str(out)
    )
    return out


def compute_edges(work_dir: str | Path, settings: FuzzyDedupSettings, partitions: int | None = None) -> Path:
    """Step 2: band keys shuffled by key across workers -> candidate pairs in ``work_dir/lsh_edges/``."""
    import ray.data

    from curator.dedup._ray import n_partitions, shuffle_apply, step_dir

    bands, rows = lsh_params(settings)
    sig_dir = Path(work_dir) / STEPS[0]
    out = step_dir(work_dir, STEPS[1])
    sigs = ray.data.read_parquet(str(sig_dir), columns=[S.ID, N_SHINGLES, SIGNATURE])
    if partitions is None:
        import pyarrow.dataset as pads

        partitions = n_partitions(pads.dataset(str(sig_dir), format="parquet").count_rows() * bands)

    def _keys(batch: pa.Table, _b=bands, _r=rows) -> pa.Table:
        return lsh.band_keys(batch, _b, _r)

    def _pairs(part: pa.Table, _m=settings.max_bucket_pairs) -> pa.Table:
        return lsh.candidate_pairs(part, _m)

    keys = sigs.map_batches(_keys, batch_format="pyarrow", batch_size=settings.batch_size, num_cpus=STAGE_CPUS)
    shuffle_apply(keys, lsh.LSH_KEY, partitions, _pairs).write_parquet(str(out))
    return out


def _rows_with_ids(ds, ids: pa.Array) -> pa.Table:
    """``(id, text)`` rows of a Ray dataset whose id is in ``ids`` (a distributed filter; few rows come back)."""
    import ray

    ref = ray.put(ids)

    def _pick(batch: pa.Table, _ref=ref) -> pa.Table:
        batch = batch.select([S.ID, S.TEXT])
        return batch.filter(pc.is_in(batch.column(S.ID), value_set=ray.get(_ref)))

    parts = ray.get(ds.map_batches(_pick, batch_format="pyarrow", num_cpus=STAGE_CPUS).to_arrow_refs())
    parts = [p for p in parts if p.num_rows]
    return (
        pa.concat_tables(parts)
        if parts
        else pa.table({S.ID: pa.array([], pa.string()), S.TEXT: pa.array([], pa.string())})
    )


def compute_clusters(
    work_dir: str | Path, settings: FuzzyDedupSettings, ds=None
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Step 3: verify candidate pairs and build the cluster map in ``work_dir/clusters/``.

    ``ds``: the input documents; needed for exact verification (``verify_exact``), which reads the
    texts of the candidates only. Returns ``(candidates, verified_edges, cluster_map)``.
    """
    import ray
    import ray.data

    from curator.dedup._ray import read_dir, step_dir

    cand = lsh.dedup_edges(read_dir(Path(work_dir) / STEPS[1], lsh.EDGE_SCHEMA))
    out = step_dir(work_dir, STEPS[2])
    ids = clusters.edge_members(cand)
    if len(ids):
        ref = ray.put(ids)

        def _members(batch: pa.Table, _ref=ref) -> pa.Table:
            return batch.filter(pc.is_in(batch.column(S.ID), value_set=ray.get(_ref)))

        sig_ds = ray.data.read_parquet(str(Path(work_dir) / STEPS[0]))
        parts = ray.get(sig_ds.map_batches(_members, batch_format="pyarrow", num_cpus=STAGE_CPUS).to_arrow_refs())
        parts = [p for p in parts if p.num_rows]
        members = pa.concat_tables(parts) if parts else None
    else:
        members = None
    if members is None:
        verified = clusters.verify_pairs(cand, None, settings.threshold)  # no candidates: empty edges
        cmap = clusters.CLUSTER_MAP_SCHEMA.empty_table()
    else:
        if settings.verify and settings.verify_exact and ds is None:
            raise ValueError("compute_clusters with verify_exact needs the documents (ds)")
        verified = _verify(cand, members, settings, lambda want: _rows_with_ids(ds, want))
        cmap = clusters.cluster_map(verified.select([EDGE_A, EDGE_B]), members)
    pq.write_table(verified, out / "edges.parquet")
    pq.write_table(cmap, out / "cluster_map.parquet")
    return cand, verified, cmap


def fuzzy_dedup(ds, settings: FuzzyDedupSettings, work_dir: str | Path | None = None, partitions: int | None = None):
    """Remove near-duplicates (MinHash-LSH), keeping one document per cluster.

    Args:
        ds: a Ray dataset (ideally materialized or read from Parquet: it is read two or three times) or a
            ``pyarrow.Table`` with ``id`` and ``text`` (optionally ``edu_score``, ``n_chars``).
        settings: the ``dedup.fuzzy`` section.
        work_dir: step directories go under it; required for Ray.
        partitions: shuffle partitions of the LSH step (default: from the row count).

    Returns:
        ``(kept, removed, stats)`` of the same kind as ``ds``. Kept cluster members carry
        ``dup_cluster_id`` = the kept id; removed rows also ``kept_id``, ``drop_stage="fuzzy_dedup"``,
        ``drop_reason="near_duplicate"``. ``stats``: ``in``, ``out``, ``dropped``, ``clusters``,
        ``candidate_pairs``, ``verified_pairs``, ``bands``, ``rows``, expected FP/FN rates, timings.
    """
    if isinstance(ds, pa.Table):
        return fuzzy_dedup_table(ds, settings, work_dir)
    if work_dir is None:
        raise ValueError("fuzzy_dedup on a Ray dataset needs work_dir")
    import pyarrow.dataset as pads

    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    compute_signatures(ds, settings, work_dir)
    timings[STEPS[0]] = time.perf_counter() - t0
    n_in = pads.dataset(str(Path(work_dir) / STEPS[0]), format="parquet").count_rows()
    t = time.perf_counter()
    compute_edges(work_dir, settings, partitions)
    timings[STEPS[1]] = time.perf_counter() - t
    t = time.perf_counter()
    cand, verified, cmap = compute_clusters(work_dir, settings, ds)
    timings[STEPS[2]] = time.perf_counter() - t
    bands, rows = lsh_params(settings)
    kept, removed = removal.split_dataset(ds, cmap, STAGE, REASON, batch_size=settings.batch_size)
    return kept, removed, _finish(settings, n_in, cand, verified, cmap, bands, rows, timings, t0)
