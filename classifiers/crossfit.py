"""Cross-fitting: calibrate and measure a classifier on out-of-fold scores, then train the shipped model on every
label.

With a few thousand labels and ~8 % of them at level >= 3, a single held-out part wastes data twice: the model
never sees it, and the "level >= 3" threshold is fitted on a few dozen positives. :func:`train_calibrated` splits
the labelled rows into ``folds`` stratified folds, trains one model per fold on the other folds (plus any
``extra`` rows, e.g. distillation targets, which are never scored), scores the held-out fold, fits the
:class:`classifiers.calibration.Calibration` on all out-of-fold raw scores, and trains the final model on all
rows. The metrics it returns are those of the calibrated out-of-fold scores: every labelled row is scored by a
model that did not see it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from classifiers.base import MAX_SCORE, MIN_SCORE, EduClassifier

Fit = Callable[[list[str], list[float], "np.ndarray | None"], EduClassifier]


@dataclass
class Extra:
    """Rows that are always trained on and never scored (e.g. another classifier's scores), with their weight."""

    texts: list[str] = field(default_factory=list)
    labels: list[float] = field(default_factory=list)
    weight: float = 1.0


def stratified_folds(labels: Sequence[float], folds: int, seed: int = 0) -> np.ndarray:
    """A fold id (0..folds-1) per row, each level spread evenly over the folds (seeded)."""
    y = np.clip(np.floor(np.asarray(labels, dtype=np.float64) + 0.5), MIN_SCORE, MAX_SCORE).astype(int)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    offset = 0
    for level in np.unique(y):
        idx = np.flatnonzero(y == level)
        rng.shuffle(idx)
        fold[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)
    return fold


def _fit_on(fit: Fit, texts: list[str], labels: list[float], extra: Extra | None) -> EduClassifier:
    if extra is None or not extra.texts:
        return fit(texts, labels, None)
    weights = np.r_[np.ones(len(texts)), np.full(len(extra.texts), extra.weight)]
    return fit(texts + list(extra.texts), labels + list(extra.labels), weights)


def out_of_fold_scores(
    fit: Fit,
    texts: Sequence[str],
    labels: Sequence[float],
    folds: int = 5,
    seed: int = 0,
    extra: Extra | None = None,
    log=None,
) -> np.ndarray:
    """Raw scores of every row by a model trained without its fold."""
    fold = stratified_folds(labels, folds, seed)
    raw = np.zeros(len(texts), dtype=np.float64)
    t = np.asarray(texts, dtype=object)
    y = np.asarray(labels, dtype=np.float64)
    for f in range(folds):
        held = fold == f
        if log:
            log(f"fold {f + 1}/{folds}: training on {int((~held).sum())} rows, scoring {int(held.sum())}")
        clf = _fit_on(fit, t[~held].tolist(), y[~held].tolist(), extra)
        raw[held] = clf.predict_raw(t[held].tolist())
    return raw


def train_calibrated(
    fit: Fit,
    texts: Sequence[str],
    labels: Sequence[float],
    folds: int = 5,
    seed: int = 0,
    extra: Extra | None = None,
    log=None,
) -> tuple[EduClassifier, np.ndarray, dict[str, Any]]:
    """The final model (trained on all rows, calibrated on out-of-fold scores), its calibrated out-of-fold scores,
    metrics."""
    from classifiers.calibration import fit_calibration
    from classifiers.evaluation import compute_metrics

    raw = out_of_fold_scores(fit, texts, labels, folds, seed, extra, log)
    calibration = fit_calibration(raw, labels)
    calibration.fitted_on["split"] = f"out-of-fold scores, {folds} stratified folds (seed {seed})"
    if log:
        log(f"final model: training on all {len(texts)} rows")
    clf = _fit_on(fit, list(texts), [float(v) for v in labels], extra)
    clf.set_calibration(calibration)
    scores = calibration.apply(raw)
    return clf, scores, compute_metrics(labels, scores)
