"""Calibration: map a model's raw score to the teacher's 0-5 scale so that "level >= k" means what the teacher meant.

A regressor trained on skewed labels (57 % at level 1, ~8 % at >= 3) ranks well but its raw outputs rarely
cross 3; a softmax model's expected level is pulled towards the majority. Ranking and decision are separate
problems: :func:`fit_calibration` picks, on labelled validation documents, one raw-score threshold ``t_k`` per
level ``k = 1..5`` -- by default the cut that puts the same share of documents at ``>= k`` as the labels do
(``method="share"``: "level >= 3" keeps what the teacher would keep, in amount; on the shared real labels it
transferred to unseen documents better than the F1-optimal cut: valid-split macro-F1@3 0.692 vs 0.672), or the
cut that maximizes the binary macro-F1 of ``raw >= t_k`` against ``label >= k`` (``method="f1"``) -- and
:class:`Calibration` maps raw scores piecewise-linearly through the knots ``(t_k, k - 0.5)``. With FineWeb-Edu's
rounding (:func:`classifiers.base.scores_to_int`: ``int = floor(score + 0.5)``) the calibrated ``edu_score``
is then level ``k`` exactly when ``raw >= t_k``: ``edu_int_score >= 3`` and ``edu_score >= 2.5`` are the same
calibrated decision, and a threshold between knots (3.0) is a little stricter. The map is monotone, so ranking
metrics (ROC AUC, Spearman) do not change.

Levels with too few validation documents on either side of the cut (``min_count``) are not fitted but placed
by the spacing of the fitted ones, and the card says which (``fitted``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from classifiers.levels import MAX_SCORE, MIN_SCORE

LEVELS = (1, 2, 3, 4, 5)
MIN_COUNT = 5  # a level's threshold is fitted only with this many validation documents on each side


class Calibration(BaseModel):
    """Raw-score thresholds ``t_1 < ... < t_5``: ``raw >= t_k`` is level ``>= k``.

    Args:
        thresholds: the five raw-score thresholds, strictly increasing.
        fitted: for each level 1..5, whether its threshold was fitted (``False``: placed by the spacing).
        method: how the thresholds were chosen.
        fitted_on: what they were fitted on (document count, label counts, split).
    """

    thresholds: list[float] = Field(min_length=5, max_length=5)
    fitted: list[bool] = Field(default_factory=lambda: [True] * 5)
    method: str = "share: raw >= t_k holds for the share of documents whose label is >= k"
    fitted_on: dict[str, Any] = Field(default_factory=dict)

    def apply(self, raw: Sequence[float] | np.ndarray) -> np.ndarray:
        """Calibrated float32 scores in [0, 5]: piecewise linear through ``(t_k, k - 0.5)``, linear beyond the ends."""
        x = np.asarray(raw, dtype=np.float64)
        t = np.asarray(self.thresholds, dtype=np.float64)
        knots = np.arange(len(t), dtype=np.float64) + 0.5
        out = np.interp(x, t, knots)
        lo_slope = 1.0 / (t[1] - t[0])
        hi_slope = 1.0 / (t[-1] - t[-2])
        below = x < t[0]
        above = x > t[-1]
        out[below] = knots[0] + (x[below] - t[0]) * lo_slope
        out[above] = knots[-1] + (x[above] - t[-1]) * hi_slope
        return np.clip(out, MIN_SCORE, MAX_SCORE).astype(np.float32)

    def raw_at(self, score: float) -> float:
        """The raw score that :meth:`apply` maps to ``score`` (a value inside [0, 5]): the calibrated threshold
        for a tool that thresholds the raw model output itself (e.g. datatrove's fastText filter)."""
        t = np.asarray(self.thresholds, dtype=np.float64)
        knots = np.arange(len(t), dtype=np.float64) + 0.5
        if score < knots[0]:
            return float(t[0] + (score - knots[0]) * (t[1] - t[0]))
        if score > knots[-1]:
            return float(t[-1] + (score - knots[-1]) * (t[-1] - t[-2]))
        return float(np.interp(score, knots, t))

    def levels(self, raw: Sequence[float] | np.ndarray) -> np.ndarray:
        """Integer levels 0..5 (int8): the number of thresholds at or below each raw score."""
        return np.searchsorted(np.asarray(self.thresholds), np.asarray(raw, dtype=np.float64), side="right").astype(
            np.int8
        )


def best_cut(raw: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The threshold ``t`` maximizing the binary macro-F1 of ``raw >= t`` vs ``positive``, and that F1.

    Candidates are midpoints between consecutive distinct scores; among equally good cuts the middle one is
    taken (robust to a plateau).
    """
    order = np.argsort(-raw, kind="stable")
    s = raw[order]
    y = positive[order].astype(np.int64)
    n, p = len(y), int(y.sum())
    q = n - p
    # predicting the top i documents positive, i = 1..n-1, only where s[i-1] > s[i] (a real cut)
    tp = np.cumsum(y)[:-1]
    k = np.arange(1, n)
    fp = k - tp
    fn = p - tp
    tn = q - fp
    f1_pos = 2 * tp / np.maximum(2 * tp + fp + fn, 1)
    f1_neg = 2 * tn / np.maximum(2 * tn + fn + fp, 1)
    macro = (f1_pos + f1_neg) / 2
    valid = s[:-1] > s[1:]
    if not valid.any():
        return float(s[0]), 0.0
    macro = np.where(valid, macro, -1.0)
    best = macro.max()
    idx = np.flatnonzero(macro >= best - 1e-12)
    i = int(idx[len(idx) // 2])
    return float((s[i] + s[i + 1]) / 2), float(best)


def share_cut(raw: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """The threshold that marks as many documents positive as there are positives, and the macro-F1 it gets."""
    s = np.sort(raw)[::-1]
    p = int(positive.sum())
    t = float((s[p - 1] + s[p]) / 2) if 0 < p < len(s) else float(s[min(p, len(s) - 1)])
    pred = raw >= t
    tp = int((pred & positive).sum())
    fp = int((pred & ~positive).sum())
    fn = int((~pred & positive).sum())
    tn = len(raw) - tp - fp - fn
    f1p = 2 * tp / max(2 * tp + fp + fn, 1)
    f1n = 2 * tn / max(2 * tn + fn + fp, 1)
    return t, (f1p + f1n) / 2


CUTS = {"share": share_cut, "f1": best_cut}


def fit_calibration(
    raw: Sequence[float], labels: Sequence[float], min_count: int = MIN_COUNT, method: str = "share"
) -> Calibration:
    """Fit per-level thresholds on validation documents (``raw`` scores, 0-5 ``labels``).

    ``method``: ``share`` (default) or ``f1`` (see the module docstring).

    Level 3's threshold is kept as fitted; others are moved outward from it where needed so that the
    thresholds increase. With no level fittable, the identity (``t_k = k - 0.5``) is returned.
    """
    x = np.asarray(raw, dtype=np.float64)
    y = np.clip(np.floor(np.asarray(labels, dtype=np.float64) + 0.5), MIN_SCORE, MAX_SCORE).astype(int)
    if x.shape != y.shape:
        raise ValueError(f"{x.size} scores but {y.size} labels")
    t = np.full(5, np.nan)
    f1 = [None] * 5
    for i, k in enumerate(LEVELS):
        pos = y >= k
        if pos.sum() >= min_count and (~pos).sum() >= min_count:
            t[i], f1[i] = CUTS[method](x, pos)
    fitted = ~np.isnan(t)
    if not fitted.any():
        return Calibration(
            thresholds=[k - 0.5 for k in LEVELS], fitted=[False] * 5, method="identity (too few labels to fit)"
        )
    anchor = 2 if fitted[2] else int(np.flatnonzero(fitted)[0])
    spread = float(np.std(x)) or 1.0
    eps = 1e-6 * spread
    fitted_idx = np.flatnonzero(fitted)
    gaps = np.diff(t[fitted_idx]) / np.diff(fitted_idx) if len(fitted_idx) > 1 else np.array([])
    gap = float(np.median(gaps)) if len(gaps) and np.median(gaps) > 0 else spread
    for i in range(anchor + 1, 5):
        if np.isnan(t[i]):
            t[i] = t[i - 1] + gap
        t[i] = max(t[i], t[i - 1] + eps)
    for i in range(anchor - 1, -1, -1):
        if np.isnan(t[i]):
            t[i] = t[i + 1] - gap
        t[i] = min(t[i], t[i + 1] - eps)
    return Calibration(
        thresholds=[float(v) for v in t],
        fitted=[bool(v) for v in fitted],
        method=Calibration.model_fields["method"].default
        if method == "share"
        else ("f1: max binary macro-F1 of raw >= t_k vs label >= k, per level"),
        fitted_on={
            "n": int(x.size),
            "label_counts": np.bincount(y, minlength=6).tolist(),
            "macro_f1_per_level": [None if v is None else round(v, 4) for v in f1],
            "min_count": min_count,
        },
    )
