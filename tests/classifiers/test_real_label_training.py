"""Training that survives real-label skew: no collapse, some >= 3 predicted, calibrated thresholds saved and used.

The labels here are made to look like real teacher output (``curator annotate``): more than half at level 1,
fewer than 10 % at >= 3, no 5s; the texts carry the level only as a noisy mix of vocabularies.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from classifiers import load_classifier, train_classifier
from classifiers.base import scores_to_int
from classifiers.calibration import Calibration, fit_calibration
from classifiers.training import train_from_annotations
from curator.exceptions import InputError

EDU_WORDS = (
    "photosynthesis energy cell molecule theorem proof equation derivative integral chemistry reaction orbit species"
).split()
SPAM_WORDS = "buy cheap discount click now free bonus casino win jackpot offer sale deal shipping promo code".split()
MID_WORDS = "today people said yesterday city team game weather local police news announced week market".split()
FILLER = "the a of and to in is that it for with as on by this".split()

LEVEL_SHARE = {0: 0.12, 1: 0.56, 2: 0.25, 3: 0.05, 4: 0.02}


def skewed(n: int, seed: int) -> tuple[list[str], list[float]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        level = rng.choices(list(LEVEL_SHARE), weights=list(LEVEL_SHARE.values()))[0]
        edu = [0.02, 0.08, 0.2, 0.35, 0.5][level]  # share of educational words rises with the level
        spam = [0.4, 0.15, 0.05, 0.02, 0.0][level]
        words = []
        for _ in range(rng.randint(40, 120)):
            r = rng.random()
            vocab = (
                EDU_WORDS
                if r < edu
                else SPAM_WORDS
                if r < edu + spam
                else MID_WORDS
                if r < edu + spam + 0.2
                else FILLER
            )
            words.append(rng.choice(vocab))
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(float(level))
    return texts, labels


@pytest.fixture(scope="module")
def skewed_data():
    return skewed(700, 1), skewed(500, 2)


def _auc(labels, scores):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(np.asarray(labels) >= 3, scores)


def test_skewed_labels_are_skewed(skewed_data):
    (_, y), _ = skewed_data
    counts = np.bincount(np.asarray(y, dtype=int), minlength=6) / len(y)
    assert counts.max() >= 0.5 and counts[3:].sum() < 0.1


@pytest.mark.parametrize(
    "backend,hp",
    [
        ("fasttext", {}),
        ("fasttext", {"objective": "softmax", "epoch": 25, "lr": 0.5, "dim": 16, "bucket": 20_000}),
        ("sklearn", {"n_features": 2**16}),
    ],
    ids=["fasttext-regression", "fasttext-softmax", "sklearn-ridge"],
)
def test_skewed_labels_never_collapse_and_predict_some_3s(skewed_data, tmp_path, backend, hp):
    (texts, labels), (held_texts, held_labels) = skewed_data
    path = tmp_path / "ann.jsonl"
    path.write_text("".join(json.dumps({"text": t, "score": s}) + "\n" for t, s in zip(texts, labels)))
    summary = train_from_annotations(
        path, tmp_path / "m", backend=backend, hyperparameters=hp, folds=3, log=lambda *a, **k: None
    )
    clf = load_classifier(tmp_path / "m")
    ints = clf.predict_int(held_texts)
    held = np.asarray(held_labels)
    assert len(np.unique(ints)) >= 3, "collapsed to one or two levels"
    assert (ints >= 3).sum() > 0, "no document predicted at level >= 3"
    # the calibrated decision finds most real >= 3 documents without flooding
    assert ((ints >= 3) & (held >= 3)).sum() >= 0.5 * (held >= 3).sum()
    assert (ints >= 3).sum() <= 3 * (held >= 3).sum()
    assert _auc(held, clf.predict(held_texts)) > 0.85
    assert summary["metrics"]["macro_f1_at_3"] > 0.6


def test_calibration_round_trips_through_save_and_load(skewed_data, tmp_path):
    (texts, labels), (held_texts, held_labels) = skewed_data
    clf = train_classifier(texts, labels, "fasttext")
    raw = clf.predict_raw(held_texts)
    cal = fit_calibration(raw, held_labels)
    assert cal.fitted[2], "level 3 must be fitted with this many positives"
    clf.set_calibration(cal)
    before = clf.predict(held_texts)
    assert np.array_equal(clf.predict_int(held_texts), cal.levels(raw))
    clf.save(tmp_path / "m")
    again = load_classifier(tmp_path / "m")
    assert again.card.calibration == clf.card.calibration
    assert np.array_equal(again.predict(held_texts), before)
    assert np.array_equal(again.predict_int(held_texts), clf.predict_int(held_texts))
    # without the calibration the same model would decide differently (raw regression rarely reaches 2.5)
    assert not np.array_equal(scores_to_int(raw), again.predict_int(held_texts))


def test_calibration_maps_thresholds_to_levels():
    cal = Calibration(thresholds=[0.1, 0.4, 0.9, 1.3, 2.0])
    raw = np.array([-5.0, 0.0, 0.1, 0.39, 0.4, 0.899, 0.9, 1.5, 2.0, 9.0])
    assert cal.levels(raw).tolist() == [0, 0, 1, 1, 2, 2, 3, 4, 5, 5]
    assert scores_to_int(cal.apply(raw)).tolist() == cal.levels(raw).tolist()
    s = cal.apply(np.linspace(-1, 3, 200))
    assert (np.diff(s) >= 0).all() and s.min() >= 0 and s.max() <= 5
    assert cal.apply([0.9])[0] == pytest.approx(2.5)
    # raw_at inverts apply, between the knots and beyond them
    assert cal.raw_at(2.5) == pytest.approx(0.9)
    for score in (0.2, 0.5, 1.7, 2.5, 3.1, 4.5, 4.9):
        assert cal.apply([cal.raw_at(score)])[0] == pytest.approx(score, abs=1e-5)


def test_calibration_fits_each_level_and_falls_back_when_labels_are_few():
    rng = np.random.default_rng(0)
    labels = rng.choice(6, size=600, p=[0.1, 0.5, 0.25, 0.1, 0.05, 0.0]).astype(float)
    raw = labels * 0.2 + rng.normal(0, 0.05, size=labels.size)  # a compressed regressor that ranks well
    cal = fit_calibration(raw, labels)
    assert cal.fitted == [True, True, True, True, False]
    assert 0.4 < cal.thresholds[2] < 0.6  # between level 2 (0.4) and 3 (0.6)
    assert all(a < b for a, b in zip(cal.thresholds, cal.thresholds[1:]))
    assert (cal.levels(raw) == labels).mean() > 0.9
    few = fit_calibration([0.1, 0.2, 0.3], [1, 1, 2])
    assert not any(few.fitted) and few.thresholds == [0.5, 1.5, 2.5, 3.5, 4.5]


def test_too_few_labels_say_how_many_per_level_are_needed(tmp_path):
    path = tmp_path / "ann.jsonl"
    path.write_text("".join(json.dumps({"text": f"doc {i}", "score": 1}) + "\n" for i in range(30)))
    with pytest.raises(
        InputError, match=r"examples per level 0: 0, 1: 30, 2: 0.*need at least 20 examples over at least 2 levels"
    ):
        train_from_annotations(path, tmp_path / "m", log=lambda *a, **k: None)


def test_fasttext_regression_features_are_fasttexts_own(skewed_data):
    """The ridge is fitted on what fastText computes: its hidden vector equals the sparse features times the matrix."""
    from classifiers.fasttext_linear import row_features
    from classifiers.fasttext_model import fasttext_lines

    (texts, labels), (held_texts, _) = skewed_data
    clf = train_classifier(texts, labels, "fasttext")
    model = clf._model
    words = model.get_words(on_unicode_error="replace")
    vocab = {w.encode(): i for i, w in enumerate(words)}
    lines = fasttext_lines(held_texts[:50] + ["Unseen zzqx words only!", ""], "fold")
    x = row_features(lines, vocab, len(words))
    hidden = np.array([model.get_sentence_vector(line.decode().rstrip("\n")) for line in lines])
    assert np.allclose(x @ model.get_input_matrix(), hidden, atol=1e-5)
    # column 1 is all ones (the mean is 1); column 0 is the ridge value the output distribution centres on
    assert np.allclose(hidden[:, 1], 1.0, atol=1e-5)
    assert np.corrcoef(hidden[:, 0], clf.predict_raw(held_texts[:50] + ["Unseen zzqx words only!", ""]))[0, 1] > 0.95


def test_score_stage_and_api_use_the_calibrated_levels(skewed_data, tmp_path):
    """The build's scoring stage and the REST API report the calibrated edu_score / edu_int_score of the model."""
    import pyarrow as pa
    from fastapi.testclient import TestClient

    from classifiers.api import ApiSettings, create_app
    from classifiers.scoring import ScoreStage
    from curator.schema import EDU_INT_SCORE, EDU_SCORE, TEXT

    (texts, labels), (held_texts, held_labels) = skewed_data
    clf = train_classifier(texts, labels, "fasttext")
    clf.set_calibration(fit_calibration(clf.predict_raw(held_texts), held_labels))
    clf.save(tmp_path / "m")
    docs = held_texts[:60]
    want_int = clf.predict_int(docs)
    assert not np.array_equal(want_int, scores_to_int(clf.predict_raw(docs))), "test needs a calibration that matters"

    out = ScoreStage(model=str(tmp_path / "m"))(pa.table({TEXT: docs}))
    assert out.column(EDU_INT_SCORE).to_numpy().tolist() == want_int.tolist()
    assert np.allclose(out.column(EDU_SCORE).to_numpy(), clf.predict(docs), atol=1e-6)

    settings = ApiSettings(models={"m": str(tmp_path / "m")}, scoring_executor="thread")
    with TestClient(create_app(settings)) as client:
        r = client.post("/v1/score", json={"documents": [{"text": t} for t in docs]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert [d["edu_int_score"] for d in body["results"]] == want_int.tolist()
    assert body["threshold"] == 2.5 and [d["keep"] for d in body["results"]] == (want_int >= 3).tolist()


def test_share_calibration_keeps_the_labels_share_and_f1_method_maximizes_f1():
    rng = np.random.default_rng(1)
    labels = rng.choice(5, size=800, p=[0.12, 0.56, 0.24, 0.06, 0.02]).astype(float)
    raw = labels * 0.3 + rng.normal(0, 0.25, size=labels.size)
    share = fit_calibration(raw, labels)
    for k in (1, 2, 3, 4):
        assert (share.levels(raw) >= k).sum() == (labels >= k).sum()
    f1 = fit_calibration(raw, labels, method="f1")
    from sklearn.metrics import f1_score

    def macro(cal):
        return f1_score(labels >= 3, cal.levels(raw) >= 3, average="macro")

    assert macro(f1) >= macro(share) and f1.method.startswith("f1")


def test_save_replaces_a_previous_models_artifact_of_another_kind(skewed_data, tmp_path):
    (texts, labels), _ = skewed_data
    out = tmp_path / "m"
    train_classifier(texts, labels, "fasttext").save(out)
    assert (out / "model.bin").is_file()
    train_classifier(texts, labels, "sklearn", hyperparameters={"n_features": 2**12}).save(out)
    assert sorted(p.name for p in out.iterdir()) == ["model.joblib", "model_card.json"]
    assert load_classifier(out).backend == "sklearn"
