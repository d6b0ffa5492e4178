"""The build's synthesis step: teacher-written reasoning data from the best seeds, into phase 2.

Seeds are the documents that passed every filter with ``edu_score >= synthesis.seed_min_score``.
:func:`generators.synthesize.run_synthesis` asks the teacher (cached by prompt hash, so a rerun
only asks for what is missing or failed). The synthetic rows then pass through the same exact and
fuzzy dedup and decontamination as web documents before they are committed to
``_work/synthetic/`` (which ``write_phases`` copies into ``OUT/phase2/synthetic-*.parquet``);
removed rows go to ``OUT/rejected/synthetic_<stage>/``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator import schema as S
from curator.writers import parquet_files


def run_synthesis_step(ctx) -> dict:
    from generators.synthesize import run_synthesis
    from pipelines.build import write_dataset

    cfg = ctx.config
    files = parquet_files(ctx.step_dir("phase1"))
    seeds = pa.concat_tables([pq.read_table(f, columns=[S.ID, S.TEXT, S.EDU_SCORE]) for f in files]) if files else S.empty(S.DOC_SCHEMA)
    seeds = seeds.filter(pc.fill_null(pc.greater_equal(seeds.column(S.EDU_SCORE), cfg.synthesis.seed_min_score), False))
    cache_dir = ctx.out / "_cache" / "teacher"
    table, gen_stats = run_synthesis(seeds, cfg.synthesis, cache_dir)
    table = S.conform(table, S.DOC_SCHEMA)
    n_generated = table.num_rows
    reasons: dict[str, int] = {}
    removed_tables = []

    def _apply(name, fn):
        nonlocal table
        kept, removed, _ = fn(table)
        if removed is not None and removed.num_rows:
            reasons[name] = removed.num_rows
            removed_tables.append((name, removed))
        table = S.conform(kept, S.DOC_SCHEMA)

    if cfg.dedup.exact:
        from curator.dedup.exact import exact_dedup

        _apply("exact_duplicate", lambda t: exact_dedup(t, ctx.work / "synthetic_exact"))
    if cfg.dedup.fuzzy.enabled:
        from curator.dedup import fuzzy_dedup

        _apply("near_duplicate", lambda t: fuzzy_dedup(t, cfg.dedup.fuzzy, ctx.work / "synthetic_fuzzy"))
    if cfg.decontam.enabled:
        from curator.decontam import decontaminate

        _apply("contaminated", lambda t: decontaminate(t, cfg.decontam))
    write_dataset(table, ctx.step_dir("synthetic"), S.DOC_SCHEMA, cfg)
    if cfg.output.write_rejected:
        for name, removed in removed_tables:
            write_dataset(removed, ctx.rejected_dir(f"synthetic_{name}"), S.REJECTED_SCHEMA, cfg)
    return {
        "in": n_generated,
        "out": table.num_rows,
        "dropped": n_generated - table.num_rows,
        "reasons": reasons,
        "seeds": seeds.num_rows,
        "unit": "synthetic documents",
        "teacher": {k: v for k, v in gen_stats.items() if isinstance(v, (int, float, str, dict))},
    }
