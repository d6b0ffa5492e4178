"""The corpus build: the list of steps, top to bottom, and :func:`run_build`.

Each step reads what the previous document-producing step committed (under ``OUT/_work/<step>/``),
commits its own output atomically, and puts what it drops under ``OUT/rejected/<step>/`` with
``drop_stage=<step>``; :class:`~pipelines.state.BuildState` records completed steps, so a build killed at
any point resumes from the last completed step (ingest resumes per shard). Every step reports rows in,
kept and dropped (with reasons); the manifest checks that they add up. The dry run
(:mod:`pipelines.dry_run`) and the progress bar (:mod:`pipelines.progress`) read this same list.

Adding a filter is one :class:`~curator.stage.Filter` subclass and one ``RowStep(name, filter=...)`` line.
"""

from __future__ import annotations

from pathlib import Path

from curator.settings import BuildConfig
from pipelines.context import BuildContext, Log, fault_point
from pipelines.steps.annotate import ANNOTATE_STAGES, score_on_actors
from pipelines.steps.base import CorpusStep, RowStep, Step
from pipelines.steps.corpus import (
    decontaminate,
    decontaminate_files,
    exact_dedup,
    exact_dedup_files,
    fuzzy_dedup,
    fuzzy_dedup_files,
    measure_decontaminate,
    measure_exact_dedup,
    measure_fuzzy_dedup,
)
from pipelines.steps.filters import HeuristicFilter, LanguageFilter, ScoreThreshold, UrlFilter, language_id_stage
from pipelines.steps.ingest import _ingest_shard, ingest, ingest_reads, ingest_writes
from pipelines.steps.phases import measure_write_phases, phase_dirs, write_phases
from pipelines.steps.synthesis import synthesize
from pipelines.steps.tokens import count_tokens

# fmt: off
STEPS: list[Step] = [
    Step("ingest", ingest, produces=True, overhead_s=0.5, read_paths=ingest_reads, write_dirs=ingest_writes),
    RowStep("annotate", stages=ANNOTATE_STAGES, ray_data=score_on_actors, overhead_s=0.5),
    RowStep("heuristic_filter", filter=HeuristicFilter, overhead_s=1.0),
    RowStep("url_filter", filter=UrlFilter, enabled=lambda c: c.url_filter.enabled, overhead_s=0.8),
    RowStep("language_filter", stages=(language_id_stage,), filter=LanguageFilter,
            enabled=lambda c: c.language.enabled, overhead_s=1.5),  # the language model loads in every worker
    CorpusStep("exact_dedup", op=exact_dedup, files_op=exact_dedup_files, settings=lambda c: c.dedup,
               enabled=lambda c: c.dedup.exact, measure_fn=measure_exact_dedup),
    CorpusStep("fuzzy_dedup", op=fuzzy_dedup, files_op=fuzzy_dedup_files, settings=lambda c: c.dedup.fuzzy,
               enabled=lambda c: c.dedup.fuzzy.enabled, measure_fn=measure_fuzzy_dedup),
    CorpusStep("decontam", op=decontaminate, files_op=decontaminate_files, settings=lambda c: c.decontam,
               enabled=lambda c: c.decontam.enabled, measure_fn=measure_decontaminate),
    RowStep("thresholds", filter=ScoreThreshold, overhead_s=0.1),
    Step("synthesis", synthesize, enabled=lambda c: c.synthesis.enabled, overhead_s=5.0),
    Step("tokens", count_tokens, enabled=lambda c: bool(c.tokens.tokenizer)),
    Step("write_phases", write_phases, overhead_s=0.2, in_driver_when_small=True, measure_fn=measure_write_phases,
         write_dirs=phase_dirs),
]
# fmt: on

__all__ = ["STEPS", "BuildContext", "Step", "RowStep", "CorpusStep", "run_build", "fault_point", "_ingest_shard"]


def run_build(
    config: BuildConfig,
    out: str | Path,
    overwrite: bool = False,
    progress: bool = True,
    log: Log = print,
    steps: list[Step] | None = None,
    release_ray: bool = False,
) -> dict:
    """Run (or resume) a build of ``steps`` (default :data:`STEPS`) into ``out``; return the manifest.

    ``release_ray``: shut down the Ray this build started (not one it found running) once its steps are done,
    while the manifest and report are written; for a process that ends with the build, like ``curator build``.

    Raises:
        ConfigError: ``out`` holds a build with another config and ``overwrite`` is false.
        OutputError: another live build holds ``out`` (its pid is named), or the disk is full.
        BuildStopped: SIGTERM/SIGINT arrived; what was committed is kept and a rerun resumes.
        InputError / ClusterError / ModelError: with a message saying what to do.
    """
    from pipelines.guards import output_lock, plain_errors, stop_on_signals
    from pipelines.runner import check_writable, run_steps

    out = Path(out).resolve()
    check_writable(out)
    with stop_on_signals(), output_lock(out), plain_errors(out, config.input.paths):
        return run_steps(STEPS if steps is None else steps, config, out, overwrite, progress, log, release_ray)
