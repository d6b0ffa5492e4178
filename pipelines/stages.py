"""Build-specific stages that compose foundation stages and the classifier.

* :class:`ScorePassingStage` scores only documents that passed the heuristics (the rest
  keep a null score), so no classifier time is spent on documents already dropped.
* :func:`split_table` (from :mod:`curator.stage`) separates kept and dropped rows and labels the
  dropped ones with their step and reason, for the ``OUT/rejected/<step>/`` side outputs.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers.base import scores_to_int
from classifiers.scoring import ScoreStage
from curator import schema as S
from curator.stage import split_table
from pipelines.steps.filters import HeuristicFilter, passed_heuristics


class ScorePassingStage(ScoreStage):
    """Like :class:`ScoreStage`, but only for rows whose ``heuristic_flags`` list is empty."""

    name = "score"
    input_columns = (S.TEXT, S.HEURISTIC_FLAGS)

    def process(self, batch: pa.Table) -> pa.Table:
        passing = passed_heuristics(batch).to_numpy(zero_copy_only=False)
        idx = np.flatnonzero(passing)
        scores = np.full(batch.num_rows, np.nan, dtype=np.float32)
        if len(idx):
            texts = batch.column(S.TEXT).take(pa.array(idx)).to_pylist()
            scores[idx] = self.classifier.predict(texts)
        valid = ~np.isnan(scores)
        ints = np.zeros(batch.num_rows, dtype=np.int8)
        if valid.any():
            ints[valid] = scores_to_int(scores[valid])
        for name in (S.EDU_SCORE, S.EDU_INT_SCORE, S.CLASSIFIER_VERSION):
            if name in batch.column_names:
                batch = batch.drop_columns([name])
        mask = pa.array(~valid)
        return (
            batch.append_column(pa.field(S.EDU_SCORE, pa.float32()), pa.array(scores, type=pa.float32(), mask=~valid))
            .append_column(pa.field(S.EDU_INT_SCORE, pa.int8()), pa.array(ints, type=pa.int8(), mask=~valid))
            .append_column(
                pa.field(S.CLASSIFIER_VERSION, pa.string()),
                pc.if_else(mask, pa.scalar(None, pa.string()), pa.scalar(self._version, pa.string())),
            )
        )


def first_flag(table: pa.Table) -> pa.Array:
    """The first failing heuristic rule of each row (its drop reason)."""
    return HeuristicFilter().reason(table)


__all__ = ["ScorePassingStage", "first_flag", "split_table"]
