"""The token-counting step: add ``n_tokens`` to the kept documents before the phases are written.

Runs after thresholds and synthesis, so only documents that reach a phase are tokenized, each once: the
current document set (every phase-1 document; phase 2's web rows are a subset) and ``_work/synthesis``
are rewritten in place, atomically, with ``n_tokens`` filled. Re-running it recounts (idempotent), so a
build killed here resumes safely.
"""

from __future__ import annotations

from pathlib import Path

from curator import schema as S
from curator.stage import actor_pool, run_stage
from curator.tokens import TokenCountStage, load_token_counter
from curator.writers import count_rows, parquet_files
from pipelines.context import BuildContext


def count_tokens(ctx: BuildContext, src: Path | None) -> dict:
    from pipelines.executor import read_dir, write_dataset

    settings = ctx.config.tokens
    load_token_counter(settings.tokenizer, settings.add_special_tokens)  # fail fast on the driver, with advice
    stage = TokenCountStage(settings=settings.model_dump(mode="json"))
    stage.resources = actor_pool(settings.num_actors, settings.batch_size)
    stats = {"tokenizer": settings.tokenizer, "add_special_tokens": settings.add_special_tokens}
    n = 0
    for key, d in (("phase1", src), ("synthetic", ctx.step_dir("synthesis"))):
        if d is None or not parquet_files(d):
            continue
        write_dataset(run_stage(read_dir(ctx, d), stage), d, S.DOC_SCHEMA, ctx.config)
        rows = count_rows(d)
        stats[f"{key}_rows"] = rows
        n += rows
    stats.update({"in": n, "out": n, "dropped": 0, "reasons": {}})
    return stats
