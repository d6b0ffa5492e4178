"""Training from annotation files: bad rows rejected with reasons, stratified split, end to end."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from classifiers import load_classifier
from classifiers.training import load_annotations, stratified_split, train_from_annotations


def _write_jsonl(path, rows, extra_lines=()):
    with open(path, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        for line in extra_lines:
            f.write(line + "\n")


def test_bad_rows_rejected_and_counted(tmp_path):
    good = [{"body": "a fine text", "edu": 3}, {"body": "another", "edu": 4.5}, {"body": "str label", "edu": "2"}]
    bad = [
        {"edu": 3},  # missing_text
        {"body": "   ", "edu": 3},  # empty_text
        {"body": "x"},  # missing_label
        {"body": "x", "edu": "high"},  # non_numeric_label
        {"body": "x", "edu": [1]},  # non_numeric_label
        {"body": "x", "edu": 7},  # label_out_of_range
        {"body": "x", "edu": -1},  # label_out_of_range
        {"body": "x", "edu": float("nan")},  # nan_label (json.dumps writes NaN)
        {"body": 12, "edu": 1},  # missing_text (not a string)
    ]
    p = tmp_path / "a.jsonl"
    _write_jsonl(p, good + bad, extra_lines=["{not json"])
    ann = load_annotations(p, text_field="body", label_field="edu")
    assert ann.texts == ["a fine text", "another", "str label"]
    assert ann.labels == [3.0, 4.5, 2.0]
    assert dict(ann.rejected) == {
        "missing_text": 2,
        "empty_text": 1,
        "missing_label": 1,
        "non_numeric_label": 2,
        "label_out_of_range": 2,
        "nan_label": 1,
        "bad_json": 1,
    }
    assert ann.n_rejected == 10


def test_parquet_annotations(tmp_path):
    p = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["a", "b", None], "score": [1.0, None, 2.0]}), p)
    ann = load_annotations(p)
    assert ann.texts == ["a"] and dict(ann.rejected) == {"missing_label": 1, "missing_text": 1}


def test_stratified_split_is_stratified_and_seeded():
    labels = [0] * 50 + [3] * 30 + [5] * 20 + [2]
    tr, va = stratified_split(labels, 0.2, seed=1)
    assert len(set(tr) & set(va)) == 0 and len(tr) + len(va) == len(labels)
    y = np.array(labels)
    assert np.bincount(y[va], minlength=6).tolist() == [10, 0, 0, 6, 0, 4]
    assert 100 in tr  # a singleton level stays in train
    tr2, va2 = stratified_split(labels, 0.2, seed=1)
    assert (va == va2).all()
    assert not (va == stratified_split(labels, 0.2, seed=2)[1]).all()


def test_train_from_annotations_end_to_end(tmp_path, annotation_factory):
    texts, labels = annotation_factory(n_per_class=40, seed=3)
    p = tmp_path / "ann.jsonl"
    _write_jsonl(p, [{"text": t, "score": s} for t, s in zip(texts, labels)] + [{"text": "", "score": 1}])
    out = tmp_path / "model"
    summary = train_from_annotations(
        p, out, backend="sklearn", hyperparameters={"n_features": 2**16}, folds=0, log=lambda *a, **k: None
    )
    assert summary["rejected"] == {"empty_text": 1}
    assert summary["n_valid"] == 40 and summary["n_train"] == 160
    assert summary["metrics"]["f1"] > 0.9 and summary["metrics"]["roc_auc"] > 0.95
    assert (out / "validation_metrics.json").is_file() and (out / "validation_confusion_matrix.png").is_file()
    clf = load_classifier(out)
    assert clf.card.metrics["validation"]["f1"] == summary["metrics"]["f1"]
    assert clf.card.calibration and "validation part" in clf.card.calibration["fitted_on"]["split"]
    # default: cross-fitting, every row scored out of fold, the model trained on all of them
    cv = train_from_annotations(
        p, tmp_path / "cv", backend="sklearn", hyperparameters={"n_features": 2**16}, log=lambda *a, **k: None
    )
    assert cv["folds"] == 5 and cv["n_train"] == 200 and cv["metrics"]["n"] == 200
    assert cv["metrics"]["roc_auc"] > 0.95
    assert "out-of-fold" in load_classifier(tmp_path / "cv").card.calibration["fitted_on"]["split"]
    assert clf.card.training_data["rejected"] == {"empty_text": 1}
