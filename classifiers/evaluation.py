"""Evaluate a classifier the FineWeb-Edu way, plot it, and calibrate a keep-threshold.

* :func:`compute_metrics` — binary precision/recall/F1 at threshold 3 (``score >= 3`` is
  "educational"), macro-F1 over the six integer levels, the 6x6 confusion matrix (rows =
  true level, columns = predicted level), MSE, Spearman correlation and ROC AUC of the
  float score against the binary truth.
* :func:`write_report` — ``metrics.json`` plus PNG plots (confusion matrix; score
  distribution by true level) with matplotlib's Agg backend.
* :func:`calibrate_threshold` — the score threshold that keeps a target fraction of documents.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.base import N_CLASSES, scores_to_int

BINARY_THRESHOLD = 3.0


def compute_metrics(y_true: Sequence[float], y_score: Sequence[float], threshold: float = BINARY_THRESHOLD) -> dict[str, Any]:
    """Metrics of float scores ``y_score`` against 0-5 truth ``y_true`` (floats are rounded).

    Returns:
        A JSON-ready dict: ``n``, ``precision``, ``recall``, ``f1`` (binary at ``threshold``),
        ``macro_f1``, ``accuracy``, ``confusion_matrix``, ``mse``, ``spearman``, ``roc_auc``
        (``None`` when undefined, e.g. only one class present), ``threshold``.
    """
    from scipy.stats import spearmanr
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support, roc_auc_score

    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(y_score, dtype=np.float64)
    if t.shape != s.shape:
        raise ValueError(f"y_true has {t.shape} values, y_score {s.shape}")
    n = int(t.size)
    t_int = scores_to_int(t)
    s_int = scores_to_int(s)
    t_bin = t >= threshold
    s_bin = s >= threshold
    p, r, f, _ = precision_recall_fscore_support(t_bin, s_bin, average="binary", pos_label=True, zero_division=0)
    labels = list(range(N_CLASSES))
    present = sorted(set(t_int.tolist()) | set(s_int.tolist()))
    macro = f1_score(t_int, s_int, labels=present, average="macro", zero_division=0) if n else 0.0
    cm = confusion_matrix(t_int, s_int, labels=labels) if n else np.zeros((N_CLASSES, N_CLASSES), dtype=int)
    auc = float(roc_auc_score(t_bin, s)) if 0 < t_bin.sum() < n else None
    rho = None
    if n > 1 and np.ptp(t) > 0 and np.ptp(s) > 0:
        rho = float(spearmanr(t, s).statistic)
    return {
        "n": n,
        "threshold": float(threshold),
        "precision": float(p),
        "recall": float(r),
        "f1": float(f),
        "macro_f1": float(macro),
        "accuracy": float((t_int == s_int).mean()) if n else 0.0,
        "mse": float(((t - s) ** 2).mean()) if n else 0.0,
        "spearman": rho,
        "roc_auc": auc,
        "confusion_matrix": cm.astype(int).tolist(),
        "true_label_counts": np.bincount(t_int, minlength=N_CLASSES).tolist() if n else [0] * N_CLASSES,
    }


def calibrate_threshold(scores: Sequence[float], keep_fraction: float) -> float:
    """The threshold ``th`` such that ``scores >= th`` keeps about ``keep_fraction`` of them.

    Ties may keep slightly more. ``keep_fraction`` 1 gives the minimum score, 0 gives a
    threshold above the maximum (keeps nothing).
    """
    if not 0.0 <= keep_fraction <= 1.0:
        raise ValueError(f"keep_fraction must be within [0, 1], got {keep_fraction}")
    s = np.sort(np.asarray(scores, dtype=np.float64))[::-1]
    if s.size == 0:
        raise ValueError("no scores to calibrate on")
    k = int(round(keep_fraction * s.size))
    if k <= 0:
        return float(np.nextafter(s[0], np.inf))
    return float(s[min(k, s.size) - 1])


def write_report(metrics: dict[str, Any], y_true: Sequence[float], y_score: Sequence[float], out_dir: str | Path, prefix: str = "") -> dict[str, Path]:
    """Write ``metrics.json``, ``confusion_matrix.png`` and ``score_distribution.png`` to ``out_dir``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "metrics": out / f"{prefix}metrics.json",
        "confusion_matrix": out / f"{prefix}confusion_matrix.png",
        "score_distribution": out / f"{prefix}score_distribution.png",
    }
    paths["metrics"].write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")

    cm = np.asarray(metrics["confusion_matrix"])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8, color="black")
    ax.set_xlabel("predicted level")
    ax.set_ylabel("true level")
    ax.set_xticks(range(N_CLASSES))
    ax.set_yticks(range(N_CLASSES))
    ax.set_title(f"confusion (macro-F1 {metrics['macro_f1']:.2f})")
    fig.tight_layout()
    fig.savefig(paths["confusion_matrix"], dpi=100)
    plt.close(fig)

    t = scores_to_int(np.asarray(y_true, dtype=np.float64))
    s = np.asarray(y_score, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 4))
    data = [s[t == k] for k in range(N_CLASSES)]
    ax.boxplot([d if d.size else [np.nan] for d in data], positions=range(N_CLASSES))
    ax.set_xlabel("true level")
    ax.set_ylabel("predicted score")
    ax.set_ylim(-0.2, 5.2)
    ax.axhline(metrics.get("threshold", BINARY_THRESHOLD), color="red", linestyle="--", linewidth=1)
    ax.set_title("score distribution by true level")
    fig.tight_layout()
    fig.savefig(paths["score_distribution"], dpi=100)
    plt.close(fig)
    return paths


def evaluate_classifier(classifier, texts: Sequence[str], labels: Sequence[float], out_dir: str | Path | None = None) -> dict[str, Any]:
    """Predict ``texts`` with ``classifier`` and compute (and optionally write) the metrics."""
    scores = classifier.predict(list(texts))
    metrics = compute_metrics(labels, scores)
    metrics["classifier_version"] = classifier.version
    if out_dir is not None:
        write_report(metrics, labels, scores, out_dir)
    return metrics
