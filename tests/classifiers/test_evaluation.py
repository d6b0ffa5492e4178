"""Metric functions on hand-made cases, plots, threshold calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifiers.evaluation import calibrate_threshold, compute_metrics, write_report


def test_binary_f1_mse_confusion_known_values():
    y_true = [0, 1, 3, 4, 5, 2]
    y_score = [0.2, 3.4, 2.6, 4.1, 5.0, 2.0]
    m = compute_metrics(y_true, y_score)
    # binary at 3: truth [F,F,T,T,T,F]; predicted [F,T,F,T,T,F] -> TP=2, FP=1, FN=1
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    expected_mse = np.mean((np.array(y_true) - np.array(y_score)) ** 2)
    assert m["mse"] == pytest.approx(expected_mse)
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (6, 6) and cm.sum() == 6
    assert cm[1, 3] == 1 and cm[3, 3] == 1 and cm[0, 0] == 1 and cm[2, 2] == 1  # 2.6 rounds to 3
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["roc_auc"] == pytest.approx(8 / 9)  # one inverted pair (3.4 vs 2.6) out of 3*3
    assert m["n"] == 6 and m["true_label_counts"] == [1, 1, 1, 1, 1, 1]


def test_perfect_and_degenerate_cases():
    m = compute_metrics([0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5])
    assert m["f1"] == 1.0 and m["macro_f1"] == 1.0 and m["mse"] == 0.0
    assert m["spearman"] == pytest.approx(1.0) and m["roc_auc"] == 1.0
    one_class = compute_metrics([1, 1, 2], [1.0, 2.0, 0.5])
    assert one_class["roc_auc"] is None  # no positives: undefined, not a crash
    assert one_class["f1"] == 0.0
    with pytest.raises(ValueError):
        compute_metrics([1, 2], [1.0])


def test_macro_f1_hand_case():
    # classes 0 and 5 only; predictions: 0->0, 0->5, 5->5, 5->5
    m = compute_metrics([0, 0, 5, 5], [0, 5, 5, 5])
    f1_0 = 2 * 1 * 0.5 / 1.5  # precision 1, recall 0.5
    f1_5 = 2 * (2 / 3) * 1 / (2 / 3 + 1)
    assert m["macro_f1"] == pytest.approx((f1_0 + f1_5) / 2)


def test_calibrate_threshold_keeps_fraction():
    scores = np.linspace(0, 5, 1000)
    th = calibrate_threshold(scores, 0.1)
    assert (scores >= th).mean() == pytest.approx(0.1, abs=0.002)
    assert calibrate_threshold(scores, 1.0) == 0.0
    assert (scores >= calibrate_threshold(scores, 0.0)).sum() == 0
    with pytest.raises(ValueError):
        calibrate_threshold(scores, 1.5)


def test_write_report_writes_json_and_pngs(tmp_path):
    y_true, y_score = [0, 1, 3, 4, 5, 2], [0.2, 3.4, 2.6, 4.1, 5.0, 2.0]
    m = compute_metrics(y_true, y_score)
    paths = write_report(m, y_true, y_score, tmp_path)
    assert json.loads(paths["metrics"].read_text())["f1"] == pytest.approx(2 / 3)
    for key in ("confusion_matrix", "score_distribution"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
