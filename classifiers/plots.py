"""PNG plots of a classifier evaluation (matplotlib, Agg backend): confusion matrix, score
distribution by true level, calibration (reliability) and ROC curves.

Every function takes plain arrays / metric dicts from :mod:`classifiers.evaluation`, writes one
PNG and returns its path.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from classifiers.base import N_CLASSES, scores_to_int


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(cm: Sequence[Sequence[int]], path: str | Path, title: str) -> Path:
    """Heat map of the 6x6 confusion matrix (rows = true level, columns = predicted level)."""
    plt = _plt()
    cm = np.asarray(cm)
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.imshow(cm, cmap="Blues")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8, color="black")
    ax.set_xlabel("predicted level")
    ax.set_ylabel("true level")
    ax.set_xticks(range(N_CLASSES))
    ax.set_yticks(range(N_CLASSES))
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_score_distribution(
    y_true: Sequence[float], y_score: Sequence[float], path: str | Path, decision_score: float
) -> Path:
    """Box plot of predicted scores per true level, with the decision boundary as a dashed line."""
    plt = _plt()
    t = scores_to_int(np.asarray(y_true, dtype=np.float64))
    s = np.asarray(y_score, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(6, 4))
    data = [s[t == k] for k in range(N_CLASSES)]
    ax.boxplot([d if d.size else [np.nan] for d in data], positions=range(N_CLASSES))
    ax.set_xlabel("true level")
    ax.set_ylabel("predicted score")
    ax.set_ylim(-0.2, 5.2)
    ax.axhline(
        decision_score, color="red", linestyle="--", linewidth=1, label=f"decision (score >= {decision_score:g})"
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("score distribution by true level")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_calibration(calibration: dict[str, Any], path: str | Path) -> Path:
    """Reliability plot: mean label vs mean predicted score per score bin (left); per predicted level,
    the fraction of documents whose label is at or above the threshold (right)."""
    plt = _plt()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    bins = [b for b in calibration["bins"] if b["n"]]
    ax.plot([0, 5], [0, 5], color="grey", linestyle=":", linewidth=1, label="perfectly calibrated")
    if bins:
        x = np.array([b["mean_score"] for b in bins])
        y = np.array([b["mean_label"] for b in bins])
        n = np.array([b["n"] for b in bins], dtype=np.float64)
        ax.plot(x, y, color="C0", linewidth=1)
        ax.scatter(x, y, s=20 + 200 * n / n.max(), color="C0", zorder=3, label="score bin (size = documents)")
        for xi, yi, ni in zip(x, y, n):
            ax.annotate(str(int(ni)), (xi, yi), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlim(-0.1, 5.1)
    ax.set_ylim(-0.1, 5.1)
    ax.set_xlabel("mean predicted score")
    ax.set_ylabel("mean true label")
    ece = calibration.get("mean_abs_error")
    ax.set_title("reliability" + (f" (weighted |score - label| gap {ece:.2f})" if ece is not None else ""))
    ax.legend(loc="upper left", fontsize=8)

    th = calibration["threshold"]
    levels = calibration["by_predicted_level"]
    frac = [lv["frac_label_at_or_above_threshold"] for lv in levels]
    counts = [lv["n"] for lv in levels]
    xs = np.arange(len(levels))
    ax2.bar(
        xs, [f if f is not None else 0.0 for f in frac], color=["C1" if k >= th else "C0" for k in range(len(levels))]
    )
    for k, (f, c) in enumerate(zip(frac, counts)):
        ax2.text(k, (f or 0.0) + 0.02, f"n={c}", ha="center", fontsize=7)
    ax2.set_ylim(0, 1.1)
    ax2.set_xticks(xs)
    ax2.set_xlabel("predicted level (edu_int_score)")
    ax2.set_ylabel(f"fraction with label >= {th:g}")
    ax2.set_title(f"precision of each predicted level at {th:g}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)


def plot_roc(curves: Sequence[tuple[str, Sequence[bool], Sequence[float]]], path: str | Path, title: str) -> Path:
    """ROC curves, one per ``(name, truth, scores)``; curves whose truth has one class are skipped."""
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
    for name, truth, scores in curves:
        y = np.asarray(truth, dtype=bool)
        if not 0 < y.sum() < y.size:
            continue
        s = np.asarray(scores, dtype=np.float64)
        fpr, tpr, _ = roc_curve(y, s)
        ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC {roc_auc_score(y, s):.3f})")
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return Path(path)
