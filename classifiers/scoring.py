"""The scoring stage: add educational scores to every document with a classifier actor pool.

:class:`ScoreStage` is a callable class for Ray Data ``map_batches`` (via
:func:`curator.stage.apply_stage`): ``__init__`` only stores the model spec, ``setup()``
loads the classifier once per actor, ``process`` adds ``edu_score`` (float32, 0-5),
``edu_int_score`` (int8, rounded and clipped) and ``classifier_version``. It only
annotates; dropping by threshold is a separate stage.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers.base import scores_to_int
from curator.schema import CLASSIFIER_VERSION, EDU_INT_SCORE, EDU_SCORE, TEXT
from curator.stage import STAGE_CPUS, Resources, Stage

_OUTPUTS = (EDU_SCORE, EDU_INT_SCORE, CLASSIFIER_VERSION)


_LOADED: dict[str, Any] = {}


def _cached_classifier(model: str):
    """One loaded classifier per model spec per process: Ray reuses worker processes, so the
    task (non-actor) form of the stage loads the model once per worker, not once per batch."""
    clf = _LOADED.get(model)
    if clf is None:
        from classifiers import load_classifier

        clf = _LOADED[model] = load_classifier(model)
    return clf


class ScoreStage(Stage):
    """Score the ``text`` column with an educational-level classifier.

    Args:
        model: ``"default"`` (the shipped model) or a model directory.
        config_hash: unused by the computation; part of the constructor so that a build's
            stage identity includes its config.
    """

    name: ClassVar[str] = "score"
    input_columns: ClassVar[tuple[str, ...]] = (TEXT,)
    output_columns: ClassVar[tuple[str, ...]] = _OUTPUTS
    resources: Resources = Resources(num_cpus=STAGE_CPUS, actors=2, batch_size=4096)

    def __init__(self, model: str = "default", config_hash: str = "", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = str(model)
        self.config_hash = config_hash
        self._clf = None
        self._version = ""

    def setup(self) -> None:
        self._clf = _cached_classifier(self.model)
        self._version = self._clf.version

    @property
    def classifier(self):
        if self._clf is None:
            self.setup()
            self._ready = True
        return self._clf

    def process(self, batch: pa.Table) -> pa.Table:
        texts = batch.column(TEXT).to_pylist()
        if None in texts:
            texts = [t or "" for t in texts]
        scores = self.classifier.predict(texts) if texts else np.zeros(0, dtype=np.float32)
        return self.with_scores(batch, scores)

    def with_scores(self, batch: pa.Table, scores: np.ndarray, scored: np.ndarray | None = None) -> pa.Table:
        """``batch`` with ``edu_score``, ``edu_int_score`` and ``classifier_version`` (replacing any there); rows
        where the boolean ``scored`` is false get nulls in all three."""
        for name in _OUTPUTS:  # idempotent: re-scoring replaces the columns
            if name in batch.column_names:
                batch = batch.drop_columns([name])
        version = pa.scalar(self._version, pa.string())
        if scored is None:
            null, ints, versions = None, scores_to_int(scores), pa.repeat(version, batch.num_rows)
        else:
            null = ~scored
            ints = scores_to_int(np.where(scored, scores, 0.0))
            versions = pc.if_else(pa.array(null), pa.scalar(None, pa.string()), version)
        return (
            batch.append_column(pa.field(EDU_SCORE, pa.float32()), pa.array(scores, type=pa.float32(), mask=null))
            .append_column(pa.field(EDU_INT_SCORE, pa.int8()), pa.array(ints, type=pa.int8(), mask=null))
            .append_column(pa.field(CLASSIFIER_VERSION, pa.string()), versions)
        )
