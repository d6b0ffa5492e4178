"""The build's token-counting step: add ``n_tokens`` to the kept documents before the phases are written.

Runs after thresholds and synthesis, so only documents that reach a phase are tokenized (the
threshold usually drops most of the web), each once: ``_work/phase1`` (every phase-1 document,
phase 2's web rows are a subset) and ``_work/synthetic`` are rewritten in place, atomically, with
``n_tokens`` filled. Re-running it recounts (idempotent), so a build killed here resumes safely.
"""

from __future__ import annotations

from curator import schema as S
from curator.tokens import TokenCountStage, load_token_counter
from curator.stage import Resources, apply_stage
from curator.writers import count_rows, parquet_files


def run_tokens_step(ctx) -> dict:
    """Count tokens of ``_work/phase1`` and ``_work/synthetic`` (a :class:`pipelines.build.BuildContext`)."""
    from pipelines.build import read_dir, write_dataset
    from pipelines.runtime import cluster_cpus

    settings = ctx.config.tokens
    load_token_counter(settings.tokenizer, settings.add_special_tokens)  # fail fast on the driver, with advice
    cpus = cluster_cpus()
    actors = settings.num_actors or max(1, int(cpus))
    res = Resources(num_cpus=max(0.1, cpus * 0.5 / actors), actors=actors, batch_size=settings.batch_size)
    stats = {"tokenizer": settings.tokenizer, "add_special_tokens": settings.add_special_tokens}
    n = 0
    for name in ("phase1", "synthetic"):
        d = ctx.step_dir(name)
        if not parquet_files(d):
            continue
        ds = apply_stage(read_dir(ctx, d), TokenCountStage, res, settings=settings.model_dump(mode="json"))
        write_dataset(ds, d, S.DOC_SCHEMA, ctx.config)
        rows = count_rows(d)
        stats[f"{name}_rows"] = rows
        n += rows
    stats.update({"in": n, "out": n, "dropped": 0, "reasons": {}})
    return stats
