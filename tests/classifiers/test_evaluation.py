"""Metrics on hand-made cases, the length baseline, the reference-label ceiling, plots, threshold calibration."""

from __future__ import annotations

import json

import numpy as np
import pytest

from classifiers.base import scores_to_int
from classifiers.baselines import best_macro_f1_threshold, length_baseline_metrics, length_levels, text_lengths
from classifiers.evaluation import (
    calibrate_threshold,
    calibration_table,
    compute_metrics,
    evaluate_classifier,
    evaluate_scores,
    format_summary,
    teacher_agreement,
    write_report,
)
from classifiers.training import load_annotations


def test_binary_f1_mse_confusion_known_values():
    y_true = [0, 1, 3, 4, 5, 2]
    y_score = [0.2, 3.4, 2.6, 4.1, 5.0, 2.0]
    m = compute_metrics(y_true, y_score)
    # the decision is the integer level: 2.6 is level 3. truth [F,F,T,T,T,F]; predicted [F,T,T,T,T,F]
    # -> TP=3, FP=1, FN=0, TN=2
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(1.0)
    assert m["f1"] == pytest.approx(6 / 7)
    assert m["macro_f1_at_3"] == pytest.approx((6 / 7 + 4 / 5) / 2)  # negative class F1 = 2*2 / (2*2 + 1)
    assert m["n_positive"] == 3 and m["n_predicted_positive"] == 4
    expected_mse = np.mean((np.array(y_true) - np.array(y_score)) ** 2)
    assert m["mse"] == pytest.approx(expected_mse)
    cm = np.array(m["confusion_matrix"])
    assert cm.shape == (6, 6) and cm.sum() == 6
    assert cm[1, 3] == 1 and cm[3, 3] == 1 and cm[0, 0] == 1 and cm[2, 2] == 1  # 2.6 rounds to 3
    assert m["accuracy"] == pytest.approx(5 / 6)
    assert m["roc_auc"] == pytest.approx(8 / 9)  # one inverted pair (3.4 vs 2.6) out of 3*3
    assert m["n"] == 6 and m["true_label_counts"] == [1, 1, 1, 1, 1, 1]
    assert m["predicted_level_counts"] == [1, 0, 1, 2, 1, 1]
    by_level = {p["level"]: p for p in m["per_level"]}
    assert by_level[3]["precision"] == pytest.approx(1 / 2) and by_level[3]["recall"] == 1.0
    assert by_level[1]["precision"] is None and by_level[1]["recall"] == 0.0  # nothing predicted at 1: undefined
    assert by_level[5] == {"level": 5, "precision": 1.0, "recall": 1.0, "support": 1, "predicted": 1}


def test_decision_is_the_calibrated_integer_level_not_score_3():
    """``scores_to_int``: 2.5 is level 3 (positive), 2.49 is level 2; the label side is ``label >= 3``."""
    m = compute_metrics([3, 3, 1, 1], [2.5, 2.49, 0.0, 2.51])
    assert (
        m["n_predicted_positive"] == 2 and m["precision"] == pytest.approx(0.5) and m["recall"] == pytest.approx(0.5)
    )
    assert "score >= 2.5" in m["decision"]


def test_macro_f1_at_3_matches_sklearn_on_random_data():
    from sklearn.metrics import f1_score, precision_score, recall_score

    rng = np.random.default_rng(1)
    y = rng.integers(0, 6, 300).astype(float)
    s = np.clip(y + rng.normal(0, 1.3, 300), 0, 5)
    m = compute_metrics(y, s)
    truth, pred = y >= 3, scores_to_int(s) >= 3
    assert m["macro_f1_at_3"] == pytest.approx(f1_score(truth, pred, average="macro"))
    assert m["precision"] == pytest.approx(precision_score(truth, pred))
    assert m["recall"] == pytest.approx(recall_score(truth, pred))


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
    assert json.loads(paths["metrics"].read_text())["f1"] == pytest.approx(6 / 7)
    for key in ("confusion_matrix", "score_distribution", "calibration", "roc"):
        assert _is_png(paths[key])


PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    from PIL import Image

    with open(path, "rb") as f:
        head = f.read(8)
    if head != PNG_MAGIC:
        return False
    with Image.open(path) as im:
        im.verify()
        return im.size[0] > 100 and im.size[1] > 100


def test_best_macro_f1_threshold_is_the_brute_force_optimum():
    from sklearn.metrics import f1_score

    rng = np.random.default_rng(3)
    for _ in range(5):
        y = rng.random(200) < 0.15
        s = rng.integers(0, 40, 200).astype(float) + 10 * y  # ties, and some signal
        cut, best = best_macro_f1_threshold(y, s)
        brute = max(
            f1_score(y, s >= c, average="macro", labels=[False, True], zero_division=0)
            for c in np.r_[np.unique(s), s.max() + 1]
        )
        assert best == pytest.approx(brute)
        assert f1_score(y, s >= cut, average="macro", labels=[False, True], zero_division=0) == pytest.approx(best)
    # all negatives: the best cut predicts nothing positive
    cut, best = best_macro_f1_threshold([False] * 4, [1.0, 2.0, 3.0, 4.0])
    assert cut > 4.0 and best == pytest.approx(0.5)


def test_length_baseline_levels_follow_the_cut_and_the_label_counts():
    y = np.array([0, 1, 1, 2, 3, 4, 1, 3], dtype=float)
    lengths = np.array([10, 20, 30, 40, 90, 80, 50, 60], dtype=float)
    lv = length_levels(y, lengths, cut=60, threshold=3)
    assert ((lv >= 3) == (lengths >= 60)).all()
    # below the cut (5 docs by length 10..50): true levels 0,1,1,1,2 -> the same counts in length order
    assert lv[np.argsort(lengths)][:5].tolist() == [0, 1, 1, 1, 2]
    m = length_baseline_metrics(y, lengths)
    assert m["length_threshold_chars"] == 60 and m["macro_f1_at_3"] == 1.0 and m["roc_auc"] == 1.0
    assert "best case" in m["decision"]
    assert text_lengths(["ab", "", "é\n"]).tolist() == [2.0, 0.0, 2.0]


def test_perfect_ranker_gets_auc_1_and_beats_the_length_baseline():
    rng = np.random.default_rng(0)
    y = rng.choice([0, 1, 1, 1, 2, 2, 3, 4, 5], 400).astype(float)
    scores = np.clip(y + rng.uniform(-0.4, 0.4, y.size), 0, 5)  # right level for every document
    lengths = rng.integers(200, 5000, y.size).astype(float) + 300 * y  # length carries a little signal
    r = evaluate_scores(y, scores, lengths)
    assert r["model"]["roc_auc"] == 1.0 and r["model"]["macro_f1_at_3"] == 1.0 and r["model"]["accuracy"] == 1.0
    base = r["length_baseline"]
    assert 0.5 < base["roc_auc"] < 1.0 and base["macro_f1_at_3"] < 1.0
    assert base["confusion_matrix"] and len(base["per_level"]) == 6 and base["mse"] > 0
    assert r["summary"]["model_beats_length_baseline"] == {"roc_auc": True, "spearman": True, "macro_f1_at_3": True}
    assert r["summary"]["length_baseline"]["length_threshold_chars"] == base["length_threshold_chars"]
    assert "reference" not in r
    # the baseline's binary decision is its in-sample optimum: no other length cut does better
    _, best = best_macro_f1_threshold(y >= 3, lengths)
    assert base["macro_f1_at_3"] == pytest.approx(best)
    table = format_summary(r)
    assert (
        "model" in table
        and "length baseline" in table
        and f"length >= {base['length_threshold_chars']} chars" in table
    )


def test_reference_ceiling_equals_hand_computed_values():
    teacher = [1, 3, 4, 2, 3]
    human = [1, 2, 4, 3, 3]
    c = teacher_agreement(teacher, human)
    # positives (human >= 3) have teacher labels 4, 2, 3; negatives 1, 3:
    # pairs 4>1, 4>3, 2>1, 2<3, 3>1, 3=3 (half) -> 4.5 / 6
    assert c["roc_auc"] == pytest.approx(0.75)
    # teacher >= 3 vs human >= 3: TP=2, FP=1, FN=1, TN=1 -> F1+ = 4/6, F1- = 2/4
    assert c["macro_f1_at_3"] == pytest.approx((2 / 3 + 1 / 2) / 2)
    assert c["precision"] == pytest.approx(2 / 3) and c["recall"] == pytest.approx(2 / 3)
    ranks_t, ranks_h = [1, 3.5, 5, 2, 3.5], [1, 2, 5, 3.5, 3.5]
    assert c["spearman"] == pytest.approx(np.corrcoef(ranks_t, ranks_h)[0, 1])
    # in the report: rows without a reference label are left out of the reference part only
    scores = [1.0, 2.0, 4.2, 3.1, 2.9, 0.4]
    r = evaluate_scores(teacher + [0], scores, [100, 200, 300, 400, 500, 600], reference=human + [None])
    assert r["n"] == 6 and r["reference"]["n"] == 5 and r["reference"]["n_missing"] == 1
    assert r["reference"]["teacher_ceiling"]["roc_auc"] == pytest.approx(0.75)
    assert r["summary"]["vs_reference"]["teacher_ceiling"]["macro_f1_at_3"] == pytest.approx(7 / 12)
    assert r["reference"]["model"] == compute_metrics(human, scores[:5])
    assert r["reference"]["length_baseline"]["n"] == 5
    assert "teacher (ceiling)" in format_summary(r)


def test_calibration_table_bins_and_levels():
    cal = calibration_table([0, 1, 3, 4, 5, 2], [0.2, 3.4, 2.6, 4.1, 5.0, 2.0])
    assert len(cal["bins"]) == 10 and sum(b["n"] for b in cal["bins"]) == 6
    top = cal["bins"][-1]  # [4.5, 5.0], 5.0 included
    assert top["n"] == 1 and top["mean_label"] == 5.0
    b = next(b for b in cal["bins"] if b["lo"] == 2.5)  # 2.6 -> label 3
    assert b["n"] == 1 and b["mean_score"] == pytest.approx(2.6) and b["frac_label_at_or_above_threshold"] == 1.0
    lv3 = cal["by_predicted_level"][3]  # scores 3.4 (label 1) and 2.6 (label 3)
    assert lv3["n"] == 2 and lv3["frac_label_at_or_above_threshold"] == 0.5
    gaps = [0.2, 2.4, 0.4, 0.1, 0.0, 0.0]
    assert cal["mean_abs_error"] == pytest.approx(np.mean(gaps))


def test_evaluate_classifier_with_a_trained_model_writes_report_and_plots(annotations, heldout, tmp_path):
    from classifiers import train_classifier

    clf = train_classifier(*annotations, "sklearn")
    texts, labels = heldout
    # make length anti-informative: pad the low-level documents
    texts = [t + ("\nmore text here." * 20 if y <= 1 else "") for t, y in zip(texts, labels)]
    human = [y if i % 4 else None for i, y in enumerate(labels)]
    r = evaluate_classifier(clf, texts, labels, tmp_path / "rep", reference=human)
    assert r["model"]["roc_auc"] > 0.95 and r["model"]["macro_f1_at_3"] > 0.85
    assert r["length_baseline"]["roc_auc"] < 0.7
    assert r["summary"]["model_beats_length_baseline"]["macro_f1_at_3"] is True
    assert r["reference"]["teacher_ceiling"]["roc_auc"] == 1.0  # same labels on the kept rows
    assert r["classifier_version"] == clf.version
    on_disk = json.loads((tmp_path / "rep" / "metrics.json").read_text())
    assert on_disk["summary"] == json.loads(json.dumps(r["summary"]))
    assert set(r["plots"]) == {"confusion_matrix", "score_distribution", "calibration", "roc", "roc_reference"}
    for p in r["plots"].values():
        assert _is_png(p), p


def test_load_labelled_keeps_rows_without_reference(tmp_path):
    f = tmp_path / "a.jsonl"
    rows = [
        {"text": "a b", "teacher": 3, "human": 2},
        {"text": "c", "teacher": 1, "human": None},
        {"text": "d", "teacher": 9, "human": 1},
        {"text": "  ", "teacher": 1, "human": 1},
        {"text": "e", "teacher": "2", "human": "x"},
    ]
    f.write_text("".join(json.dumps(r) + "\n" for r in rows) + "{bad\n")
    d = load_annotations(f, "text", "teacher", "human")
    assert d.texts == ["a b", "c", "e"] and d.labels == [3.0, 1.0, 2.0] and d.reference == [2.0, None, None]
    assert d.rejected == {"label_out_of_range": 1, "empty_text": 1, "bad_json": 1}
    assert d.reference_missing == {"missing_label": 1, "non_numeric_label": 1}
    assert load_annotations(f, "text", "teacher").reference is None
