"""The length baseline: what ranking documents by their length in characters alone achieves.

A classifier is only worth its cost if it beats this. :func:`length_baseline_metrics` gives the
same metrics as :func:`classifiers.evaluation.compute_metrics` for ``score = len(text)`` on the same
documents, at the baseline's *best case*:

* ranking metrics (ROC AUC at 3, Spearman) use the raw length;
* the binary decision is ``length >= L`` with ``L`` the length that maximizes macro-F1@3 on these
  very documents (:func:`best_macro_f1_threshold`), so it is tuned in-sample;
* integer levels 0..5 (for the confusion matrix, per-level precision/recall and MSE) cut the
  length ranking by the true level counts on each side of ``L`` (:func:`length_levels`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from classifiers.base import N_CLASSES, scores_to_int


def text_lengths(texts: Sequence[str]) -> np.ndarray:
    """Length of each text in characters (Python ``len``: code points), as float64."""
    return np.fromiter((len(t) for t in texts), dtype=np.float64, count=len(texts))


def macro_f1_binary(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, tn: np.ndarray) -> np.ndarray:
    """Mean of the positive and the negative class's F1 (sklearn ``average='macro'``, zero_division 0)."""
    tp, fp, fn, tn = (np.asarray(x, dtype=np.float64) for x in (tp, fp, fn, tn))
    with np.errstate(invalid="ignore", divide="ignore"):
        f_pos = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
        f_neg = np.where(2 * tn + fp + fn > 0, 2 * tn / (2 * tn + fp + fn), 0.0)
    return (f_pos + f_neg) / 2


def best_macro_f1_threshold(truth: Sequence[bool], scores: Sequence[float]) -> tuple[float, float]:
    """The cut ``c`` maximizing macro-F1 of ``scores >= c`` against ``truth``; returns ``(c, macro_f1)``.

    Candidates are every distinct score plus one above the maximum (nothing positive). Ties keep
    the highest cut (fewest documents predicted positive). O(n log n).
    """
    y = np.asarray(truth, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape:
        raise ValueError(f"truth has {y.shape} values, scores {s.shape}")
    if s.size == 0:
        raise ValueError("no scores to choose a threshold from")
    order = np.argsort(-s, kind="stable")
    s_desc, y_desc = s[order], y[order]
    # last index of each run of equal scores (descending): predicting ">= that score" positive
    ends = np.flatnonzero(np.r_[s_desc[1:] != s_desc[:-1], True])
    tp = np.cumsum(y_desc)[ends]
    fp = (ends + 1) - tp
    pos, n = int(y.sum()), int(y.size)
    cuts = np.r_[np.nextafter(s_desc[0], np.inf), s_desc[ends]]
    tp = np.r_[0, tp]
    fp = np.r_[0, fp]
    fn = pos - tp
    tn = (n - pos) - fp
    f = macro_f1_binary(tp, fp, fn, tn)
    i = int(np.argmax(f))  # first maximum: the highest cut
    return float(cuts[i]), float(f[i])


def length_levels(y_true: Sequence[float], lengths: Sequence[float], cut: float, threshold: float = 3.0) -> np.ndarray:
    """Integer levels 0..5 from lengths: monotone in length, ``>= threshold`` exactly where ``length >= cut``.

    Below the cut, documents (shortest first) get the levels under ``threshold`` in the proportions of
    the true labels under it; at or above the cut, the levels from ``threshold`` up likewise. This is
    the most favourable monotone map of length to levels given the binary cut.
    """
    t_int = scores_to_int(np.asarray(y_true, dtype=np.float64)).astype(np.int64)
    s = np.asarray(lengths, dtype=np.float64)
    levels = np.zeros(s.size, dtype=np.int8)
    lo_levels = [k for k in range(N_CLASSES) if k < threshold]
    hi_levels = [k for k in range(N_CLASSES) if k >= threshold]
    for side, lvls in ((s < cut, lo_levels), (s >= cut, hi_levels)):
        idx = np.flatnonzero(side)
        if idx.size == 0 or not lvls:
            continue
        idx = idx[np.argsort(s[idx], kind="stable")]
        counts = np.array([(t_int == k).sum() for k in lvls], dtype=np.float64)
        if counts.sum() == 0:  # no true label on this side of the threshold: the nearest level
            levels[idx] = lvls[-1] if lvls is lo_levels else lvls[0]
            continue
        bounds = np.round(np.cumsum(counts) / counts.sum() * idx.size).astype(int)
        start = 0
        for k, end in zip(lvls, bounds):
            levels[idx[start:end]] = k
            start = end
    return levels


def length_baseline_metrics(
    y_true: Sequence[float], lengths: Sequence[float], threshold: float = 3.0
) -> dict[str, Any]:
    """:func:`classifiers.evaluation.compute_metrics`'s keys for the length baseline, at its best case.

    Extra keys: ``length_threshold_chars`` (the macro-F1-maximizing cut), ``decision`` (in words),
    ``levels`` (how integer levels were assigned).
    """
    from classifiers.metrics import metrics_from_levels

    t = np.asarray(y_true, dtype=np.float64)
    s = np.asarray(lengths, dtype=np.float64)
    if t.shape != s.shape:
        raise ValueError(f"y_true has {t.shape} values, lengths {s.shape}")
    if t.size == 0:
        cut = float("inf")
    else:
        cut, _ = best_macro_f1_threshold(t >= threshold, s)
    levels = length_levels(t, s, cut, threshold)
    m = metrics_from_levels(t, s, levels, levels.astype(np.float64), threshold)
    n_chars = int(np.ceil(cut)) if np.isfinite(cut) else None
    m["length_threshold_chars"] = n_chars
    m["decision"] = (
        f"length >= {n_chars} characters: the cut that maximizes the baseline's macro-F1@{threshold:g} on these "
        "same documents (tuned in-sample: the baseline's best case)"
    )
    m["levels"] = "length ranking cut by the true level counts on each side of the decision threshold (in-sample)"
    m["mse_of"] = "levels"
    return m
