"""The annotate step's stages: heuristic flags, text hash, educational score (for rows that passed the
heuristics), config hash. It drops nothing; the heuristic filter comes next.

``classifier.execution: files`` (default, and the local executor) runs them in one Ray task per ingest
part with the classifier loaded once per worker process (no object-store copies: ~2x the Ray Data path
on 2 CPUs, benchmarks/bench_scoring.py); ``actors`` runs them as one Ray Data job with a scoring actor pool.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pyarrow as pa

from classifiers.scoring import ScoreStage
from curator import schema as S
from curator.settings import BuildConfig, config_hash
from curator.stage import TASK_CPUS, Resources, Stage, actor_pool
from pipelines.steps.filters import passed_heuristics


def heuristic_stage(config: BuildConfig) -> Stage:
    from curator.heuristics import HeuristicStage

    return HeuristicStage(settings=config.heuristics.model_dump(mode="json"))


def text_hash_stage(config: BuildConfig) -> Stage:
    from curator.dedup.exact import TextHashStage

    return TextHashStage()


class ScorePassingStage(ScoreStage):
    """Like :class:`classifiers.scoring.ScoreStage`, but only for rows whose ``heuristic_flags`` list is empty (the
    rest keep null scores): no classifier time on documents the heuristics already dropped."""

    name = "score"
    input_columns = (S.TEXT, S.HEURISTIC_FLAGS)

    def process(self, batch: pa.Table) -> pa.Table:
        passing = passed_heuristics(batch).to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(passing)
        scores = np.full(batch.num_rows, np.nan, dtype=np.float32)
        if len(idx):
            scores[idx] = self.classifier.predict(batch.column(S.TEXT).take(pa.array(idx)).to_pylist())
        return self.with_scores(batch, scores, scored=~np.isnan(scores))


def score_stage(config: BuildConfig) -> Stage:
    """The classifier on rows that passed the heuristics, as an actor pool sharing half the cluster."""
    stage = ScorePassingStage(model=config.classifier.model)
    stage.resources = actor_pool(config.classifier.num_actors, config.classifier.batch_size)
    return stage


class ConfigHashStage(Stage):
    """Conform to the document schema and stamp ``config_hash`` on every row."""

    name: ClassVar[str] = "config_hash"
    output_columns: ClassVar[tuple[str, ...]] = (S.CONFIG_HASH,)
    resources: Resources = Resources(num_cpus=TASK_CPUS)

    def __init__(self, chash: str = "") -> None:
        super().__init__()
        self.chash = chash

    @classmethod
    def from_config(cls, config: BuildConfig) -> ConfigHashStage:
        return cls(config_hash(config))

    def process(self, batch: pa.Table) -> pa.Table:
        t = S.conform(batch, S.DOC_SCHEMA)
        i = t.schema.get_field_index(S.CONFIG_HASH)
        return t.set_column(i, S.CONFIG_HASH, pa.repeat(pa.scalar(self.chash, pa.string()), t.num_rows))


def score_on_actors(config: BuildConfig) -> bool:
    """Run annotate as one Ray Data job with a scoring actor pool (``classifier.execution: actors``)."""
    return config.classifier.execution != "files"


ANNOTATE_STAGES = (heuristic_stage, text_hash_stage, score_stage, ConfigHashStage)
