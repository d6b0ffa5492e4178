"""scikit-learn backend: hashed TF-IDF features (word 1-2-grams, optionally char 3-5-grams) + ridge or logistic
regression.

``features="word"`` (default) hashes word 1-2-grams (~4k 2 KB docs/s); ``"word+char"`` adds character
3-5-grams within word boundaries: on the shared real labels a little better ranking, ~15x slower.
``balance`` weighs each level's examples by ``(max_count / count) ** balance`` (0 = off) so the rare
high levels pull on the fit; the decision threshold is calibrated afterwards (:mod:`classifiers.calibration`).

``model="ridge"`` regresses the 0-5 label directly (score = clipped prediction);
``model="logistic"`` classifies the six levels and scores the expected level, like the
fastText backend. The artifact is a joblib file of the fitted ``Pipeline``; it is a pickle,
so :meth:`EduClassifier.load` checks its sha256 against the model card before unpickling.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from classifiers.base import MAX_SCORE, MIN_SCORE, EduClassifier, ModelCard

DEFAULT_HYPERPARAMETERS: dict[str, Any] = {
    "model": "ridge",
    "features": "word",  # or "word+char"
    "balance": 0.0,
    "n_features": 2**20,
    "ngram_max": 1,  # unigrams ranked better than 1-2-grams on the shared real labels (valid split)
    "alpha": 3.0,  # ridge
    "C": 4.0,  # logistic
    "max_iter": 1000,
    "seed": 0,
}


class SklearnEduClassifier(EduClassifier):
    """A scikit-learn ``Pipeline`` (HashingVectorizer -> TfidfTransformer -> Ridge/LogisticRegression)."""

    backend: ClassVar[str] = "sklearn"
    artifact_name: ClassVar[str] = "model.joblib"

    def __init__(self, pipeline: Any, card: ModelCard) -> None:
        super().__init__(card)
        self._pipe = pipeline

    def predict_raw(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros(0, dtype=np.float32)
        texts = [t or "" for t in texts]
        est = self._pipe[-1]
        if hasattr(est, "predict_proba"):
            proba = self._pipe.predict_proba(texts)
            scores = proba @ est.classes_.astype(np.float64)
        else:
            scores = self._pipe.predict(texts)
        return np.clip(np.asarray(scores, dtype=np.float32), MIN_SCORE, MAX_SCORE)

    def _write_artifact(self, path: Path) -> None:
        import joblib

        with open(path, "wb") as f:
            joblib.dump(self._pipe, f, compress=3)

    @classmethod
    def _load(cls, artifact: Path, card: ModelCard) -> "SklearnEduClassifier":
        import joblib

        return cls(joblib.load(artifact), card)

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[float],
        *,
        name: str = "edu-sklearn",
        hyperparameters: dict[str, Any] | None = None,
        training_data: dict[str, Any] | None = None,
        limits: list[str] | None = None,
    ) -> "SklearnEduClassifier":
        """Fit on ``texts`` with 0-5 ``labels`` (ridge uses them as floats, logistic rounds them)."""
        from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
        from sklearn.linear_model import LogisticRegression, Ridge
        from sklearn.pipeline import FeatureUnion, Pipeline

        hp = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
        y = np.clip(np.asarray(labels, dtype=np.float64), MIN_SCORE, MAX_SCORE)
        if hp["model"] == "ridge":
            est = Ridge(alpha=hp["alpha"], random_state=hp["seed"])
        elif hp["model"] == "logistic":
            est = LogisticRegression(C=hp["C"], max_iter=hp["max_iter"], random_state=hp["seed"])
            y = np.floor(y + 0.5).astype(int)
        else:
            raise ValueError(f"unknown sklearn model {hp['model']!r}; use 'ridge' or 'logistic'")
        words = Pipeline(
            [
                (
                    "hash",
                    HashingVectorizer(
                        n_features=hp["n_features"], ngram_range=(1, hp["ngram_max"]), alternate_sign=False, norm=None
                    ),
                ),
                ("tfidf", TfidfTransformer(sublinear_tf=True)),
            ]
        )
        if hp["features"] == "word":
            steps = list(words.steps)
        elif hp["features"] == "word+char":
            chars = Pipeline(
                [
                    (
                        "hash",
                        HashingVectorizer(
                            n_features=hp["n_features"],
                            analyzer="char_wb",
                            ngram_range=(3, 5),
                            alternate_sign=False,
                            norm=None,
                        ),
                    ),
                    ("tfidf", TfidfTransformer(sublinear_tf=True)),
                ]
            )
            steps = [("features", FeatureUnion([("word", words), ("char", chars)]))]
        else:
            raise ValueError(f"unknown sklearn features {hp['features']!r}; use 'word' or 'word+char'")
        pipe = Pipeline([*steps, ("model", est)])
        levels = np.clip(np.floor(y + 0.5), MIN_SCORE, MAX_SCORE).astype(int)
        weights = balance_weights(levels, float(hp["balance"]))
        pipe.fit([t or "" for t in texts], y, model__sample_weight=weights)
        counts = np.bincount(levels, minlength=6).tolist()
        card = ModelCard(
            backend=cls.backend,
            name=name,
            artifact=cls.artifact_name,
            hyperparameters=hp,
            training_data={"n_examples": int(len(texts)), "label_counts": counts, **(training_data or {})},
            limits=list(limits or []),
        )
        return cls(pipe, card)


def balance_weights(levels: np.ndarray, power: float) -> np.ndarray | None:
    """Per-example weights ``(max_count / count_level) ** power`` (``None`` when ``power`` is 0)."""
    if power <= 0:
        return None
    counts = np.bincount(levels, minlength=6).astype(np.float64)
    w = (counts.max() / np.maximum(counts, 1)) ** power
    return w[levels]
