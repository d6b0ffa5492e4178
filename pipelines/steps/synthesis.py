"""The synthesis step: teacher-written reasoning data from the best seeds, into phase 2.

Seeds are the documents that passed every filter with ``edu_score >= synthesis.seed_min_score``.
:func:`generators.synthesize.run_synthesis` asks the teacher (cached by prompt hash, so a rerun
only asks for what is missing or failed). The synthetic rows then pass through the build's own
corpus steps (exact and fuzzy dedup, decontamination: the same operations as web documents) before
they are committed to ``_work/synthesis/`` (which ``write_phases`` copies into
``OUT/phase2/synthetic-*.parquet``); removed rows go to ``OUT/rejected/synthesis_<corpus step>/``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curator import schema as S
from curator.writers import parquet_files
from pipelines.context import BuildContext
from pipelines.steps.base import CorpusStep, _relabel
from pipelines.steps.filters import score_at_least


def synthesize(ctx: BuildContext, src: Path | None) -> dict:
    from generators.synthesize import run_synthesis
    from pipelines.executor import write_dataset

    cfg = ctx.config
    files = parquet_files(src) if src is not None else []
    seeds = (
        pa.concat_tables([pq.read_table(f, columns=[S.ID, S.TEXT, S.EDU_SCORE]) for f in files])
        if files
        else S.empty(S.DOC_SCHEMA)
    )
    seeds = seeds.filter(score_at_least(seeds, cfg.synthesis.seed_min_score))
    table, gen_stats = run_synthesis(seeds, cfg.synthesis, ctx.out / "_cache" / "teacher")
    table = S.conform(table, S.DOC_SCHEMA)
    n_generated = table.num_rows
    reasons: Counter = Counter()
    removed_tables = []
    for step in ctx.steps:
        if not isinstance(step, CorpusStep):
            continue
        name = f"synthesis_{step.name}"
        kept, removed, _ = step.op(table, step.settings(cfg), ctx.scratch_dir(name))
        if removed is not None and removed.num_rows:
            removed = _relabel(name)(removed)
            reasons.update(removed.column(S.DROP_REASON).to_pylist())
            removed_tables.append((name, removed))
        table = S.conform(kept, S.DOC_SCHEMA)
    write_dataset(table, ctx.step_dir("synthesis"), S.DOC_SCHEMA, cfg)
    if cfg.output.write_rejected:
        for name, removed in removed_tables:
            write_dataset(removed, ctx.rejected_dir(name), S.REJECTED_SCHEMA, cfg)
    return {
        "in": n_generated,
        "out": table.num_rows,
        "dropped": n_generated - table.num_rows,
        "reasons": dict(reasons),
        "seeds": seeds.num_rows,
        "unit": "synthetic documents",
        "teacher": {k: v for k, v in gen_stats.items() if isinstance(v, (int, float, str, dict))},
    }
