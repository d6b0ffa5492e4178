r"""MinHash-LSH parameters: bands x rows from a Jaccard threshold, and their expected error rates.

With ``num_perm`` MinHash values split into ``b`` bands of ``r`` rows, two documents with Jaccard
similarity ``s`` agree on one MinHash value with probability ``s``, on a whole band with probability
``s^r``, and become a candidate pair (share at least one band) with probability

.. math::  P(s) = 1 - (1 - s^r)^b        \qquad\text{(the S-curve)}

whose steepest point sits near ``(1/b)^(1/r)``. For a target threshold ``t``:

* false-positive area  :math:`FP = \int_0^t P(s)\,ds`      (pairs below ``t`` that become candidates)
* false-negative area  :math:`FN = \int_t^1 (1 - P(s))\,ds` (pairs above ``t`` that are missed)

:func:`choose_bands_rows` picks the ``(b, r)`` with ``b * r <= num_perm`` minimizing
``fp_weight * FP + fn_weight * FN`` (the rule datasketch uses). Dividing the areas by the interval
lengths gives the expected rates for pairs whose similarity is uniform below/above ``t``
(:func:`expected_error_rates`); the S-curve at a few similarities says what happens to a pair of
known Jaccard. False positives are removed afterwards by verification (signature Jaccard >= t), so
recall is the rate to protect: weigh FN more than FP when verification is on.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

_GRID = 2001


def s_curve(s, bands: int, rows: int):
    """Probability that a pair with Jaccard ``s`` (scalar or array) becomes an LSH candidate."""
    s = np.asarray(s, dtype=np.float64)
    return 1.0 - (1.0 - s**rows) ** bands


def _areas(threshold: float, bands: int, rows: int) -> tuple[float, float]:
    lo = np.linspace(0.0, threshold, _GRID)
    hi = np.linspace(threshold, 1.0, _GRID)
    fp = float(np.trapezoid(s_curve(lo, bands, rows), lo))
    fn = float(np.trapezoid(1.0 - s_curve(hi, bands, rows), hi))
    return fp, fn


@lru_cache(maxsize=64)
def choose_bands_rows(
    threshold: float, num_perm: int, fp_weight: float = 0.5, fn_weight: float = 0.5
) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm`` minimizing the weighted FP + FN area.

    All pairs are scored at once (numpy; ~50 ms at 112 permutations, so results are cached). Ties go
    to the pair using more permutations, then to more bands (higher recall).
    """
    if not 0.0 < threshold < 1.0:
        raise ValueError("threshold must be in (0, 1)")
    if num_perm < 1:
        raise ValueError("num_perm must be >= 1")
    pairs = np.array([(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], dtype=np.float64)
    b, r = pairs[:, :1], pairs[:, 1:]
    lo = np.linspace(0.0, threshold, _GRID)[None, :]
    hi = np.linspace(threshold, 1.0, _GRID)[None, :]
    fp = np.trapezoid(1.0 - (1.0 - lo**r) ** b, lo, axis=1)
    fn = np.trapezoid((1.0 - hi**r) ** b, hi, axis=1)
    cost = np.round(fp_weight * fp + fn_weight * fn, 12)
    order = np.lexsort((-pairs[:, 0], -(pairs[:, 0] * pairs[:, 1]), cost))
    bb, rr = pairs[order[0]]
    return int(bb), int(rr)


def resolve_bands_rows(
    threshold: float,
    num_perm: int,
    bands: int | None,
    rows: int | None,
    fp_weight: float = 0.5,
    fn_weight: float = 0.5,
) -> tuple[int, int]:
    """Bands and rows from settings: both given -> checked; one given -> the other derived; none -> chosen."""
    if bands and rows:
        if bands * rows > num_perm:
            raise ValueError(f"bands x rows = {bands * rows} exceeds num_perm = {num_perm}")
        return bands, rows
    if bands:
        return bands, max(1, num_perm // bands)
    if rows:
        return max(1, num_perm // rows), rows
    return choose_bands_rows(threshold, num_perm, fp_weight, fn_weight)


def expected_error_rates(
    threshold: float, bands: int, rows: int, at: tuple[float, ...] = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)
) -> dict:
    """What a ``(bands, rows)`` choice does around ``threshold``.

    Returns:
        ``fp_area``/``fn_area`` (the integrals above), ``fp_rate`` (candidate probability averaged over
        similarities uniform in ``[0, t)``), ``fn_rate`` (miss probability averaged over ``[t, 1]``),
        ``knee`` = ``(1/b)^(1/r)``, and ``p_candidate`` at the similarities in ``at``.
    """
    fp, fn = _areas(threshold, bands, rows)
    return {
        "bands": bands,
        "rows": rows,
        "threshold": threshold,
        "fp_area": fp,
        "fn_area": fn,
        "fp_rate": fp / threshold,
        "fn_rate": fn / (1.0 - threshold),
        "knee": (1.0 / bands) ** (1.0 / rows),
        "p_candidate": {f"{s:.2f}": float(s_curve(s, bands, rows)) for s in at},
    }
