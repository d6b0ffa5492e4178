"""scikit-learn backend: ridge and logistic models separate classes and round-trip through save/load."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers import SklearnEduClassifier, load_classifier, train_classifier


@pytest.mark.parametrize("kind", ["ridge", "logistic"])
def test_sklearn_separates_and_round_trips(kind, annotations, heldout, tmp_path):
    texts, labels = annotations
    clf = train_classifier(texts, labels, "sklearn", hyperparameters={"model": kind, "n_features": 2**16})
    h_texts, h_labels = heldout
    h_labels = np.asarray(h_labels)
    scores = clf.predict(h_texts)
    assert scores.dtype == np.float32 and 0 <= scores.min() and scores.max() <= 5
    assert scores[h_labels >= 4].mean() - scores[h_labels <= 1].mean() > 2.5
    out = clf.save(tmp_path / kind)
    assert (out / "model.joblib").is_file()
    loaded = load_classifier(out)
    assert isinstance(loaded, SklearnEduClassifier) and loaded.version == clf.version
    np.testing.assert_array_equal(loaded.predict(h_texts), scores)


def test_unknown_sklearn_model_is_rejected(annotations):
    with pytest.raises(ValueError, match="ridge"):
        train_classifier(*annotations, "sklearn", hyperparameters={"model": "svm"})
