"""Educational levels: the 0-5 score range and how a float score becomes an integer level (a leaf module)."""

from __future__ import annotations

import numpy as np

MIN_SCORE = 0.0
MAX_SCORE = 5.0
N_CLASSES = 6  # integer educational levels 0..5


def scores_to_int(scores: np.ndarray) -> np.ndarray:
    """Integer levels 0..5 (int8) of float scores: half rounds up (2.5 is level 3), then clipped.

    FineWeb-Edu's convention: ``int_score = round(score)``, so "level >= 3" is ``score >= 2.5``. Half
    rounds up (not to even) so that a calibrated score exactly at a knot (``k - 0.5``, see
    :mod:`classifiers.calibration`) is level ``k``.
    """
    s = np.asarray(scores, dtype=np.float64)
    return np.clip(np.floor(s + 0.5), MIN_SCORE, MAX_SCORE).astype(np.int8)
