"""The metrics of a decision and a ranking against 0-5 labels, shared by models and baselines (a leaf module)."""

from __future__ import annotations

from typing import Any

import numpy as np

from classifiers.levels import N_CLASSES, scores_to_int

BINARY_THRESHOLD = 3.0


def _spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    from scipy.stats import spearmanr

    if a.size > 1 and np.ptp(a) > 0 and np.ptp(b) > 0:
        return float(spearmanr(a, b).statistic)
    return None


def _auc(truth: np.ndarray, scores: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(truth, scores)) if 0 < truth.sum() < truth.size else None


def _binary(truth: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """Precision/recall/F1 of the positive class and sklearn's macro-F1 over both classes."""
    from sklearn.metrics import f1_score, precision_recall_fscore_support

    if truth.size == 0:
        return {
            "precision": 0.0,
            "recall": 0.0,
            "f1": 0.0,
            "macro_f1_at_3": 0.0,
            "n_positive": 0,
            "n_predicted_positive": 0,
        }
    p, r, f, _ = precision_recall_fscore_support(
        truth, pred, labels=[True], average="binary", pos_label=True, zero_division=0
    )
    macro = f1_score(truth, pred, labels=[False, True], average="macro", zero_division=0)
    return {
        "precision": float(p),
        "recall": float(r),
        "f1": float(f),
        "macro_f1_at_3": float(macro),
        "n_positive": int(truth.sum()),
        "n_predicted_positive": int(pred.sum()),
    }


def metrics_from_levels(
    y_true: np.ndarray,
    rank_scores: np.ndarray,
    levels: np.ndarray,
    mse_scores: np.ndarray,
    threshold: float = BINARY_THRESHOLD,
) -> dict[str, Any]:
    """Metrics of predicted integer ``levels`` (decision: ``level >= threshold``) and ``rank_scores``
    (ROC AUC, Spearman) against labels ``y_true``; MSE of ``mse_scores``. Shared by the model and baselines."""
    from sklearn.metrics import confusion_matrix, f1_score

    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(rank_scores, dtype=np.float64)
    lv = np.asarray(levels).astype(np.int64)
    n = int(t.size)
    t_int = scores_to_int(t).astype(np.int64)
    t_bin = t >= threshold
    out: dict[str, Any] = {"n": n, "threshold": float(threshold)}
    out.update(_binary(t_bin, lv >= threshold))
    present = sorted(set(t_int.tolist()) | set(lv.tolist()))
    cm = (
        confusion_matrix(t_int, lv, labels=list(range(N_CLASSES)))
        if n
        else np.zeros((N_CLASSES, N_CLASSES), dtype=int)
    )
    per_level = []
    for k in range(N_CLASSES):
        col, row = int(cm[:, k].sum()), int(cm[k, :].sum())
        per_level.append(
            {
                "level": k,
                "precision": float(cm[k, k] / col) if col else None,
                "recall": float(cm[k, k] / row) if row else None,
                "support": row,
                "predicted": col,
            }
        )
    out.update(
        {
            "macro_f1": float(f1_score(t_int, lv, labels=present, average="macro", zero_division=0)) if n else 0.0,
            "accuracy": float((t_int == lv).mean()) if n else 0.0,
            "mse": float(((t - np.asarray(mse_scores, dtype=np.float64)) ** 2).mean()) if n else 0.0,
            "spearman": _spearman(t, s),
            "roc_auc": _auc(t_bin, s),
            "per_level": per_level,
            "confusion_matrix": cm.astype(int).tolist(),
            "true_label_counts": np.bincount(t_int, minlength=N_CLASSES).tolist() if n else [0] * N_CLASSES,
            "predicted_level_counts": np.bincount(lv, minlength=N_CLASSES).tolist() if n else [0] * N_CLASSES,
        }
    )
    return out
