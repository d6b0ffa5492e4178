"""S-curve maths and bands x rows selection."""

from __future__ import annotations

import numpy as np
import pytest

from curator.dedup.params import choose_bands_rows, expected_error_rates, resolve_bands_rows, s_curve


def test_s_curve_matches_formula_and_is_monotone():
    s = np.linspace(0, 1, 101)
    p = s_curve(s, 9, 12)
    assert np.allclose(p, 1 - (1 - s**12) ** 9)
    assert np.all(np.diff(p) >= 0)
    assert p[0] == 0 and p[-1] == 1


def test_choice_respects_budget_and_minimizes_cost():
    b, r = choose_bands_rows(0.8, 112)
    assert b * r <= 112

    # exhaustive check against the definition on a coarse grid of alternatives
    def cost(bb, rr):
        e = expected_error_rates(0.8, bb, rr)
        return 0.5 * e["fp_area"] + 0.5 * e["fn_area"]

    best = cost(b, r)
    for bb in range(1, 113):
        rr = 112 // bb
        assert cost(bb, rr) >= best - 1e-9


def test_weights_trade_fn_for_fp():
    b1, r1 = choose_bands_rows(0.8, 112, 0.5, 0.5)
    b2, r2 = choose_bands_rows(0.8, 112, 0.1, 0.9)
    e1, e2 = expected_error_rates(0.8, b1, r1), expected_error_rates(0.8, b2, r2)
    assert e2["fn_rate"] < e1["fn_rate"] and e2["fp_rate"] > e1["fp_rate"]
    # knee of the S-curve lies near the threshold
    assert 0.7 < e1["knee"] < 0.9


def test_expected_rates_are_probabilities():
    e = expected_error_rates(0.8, 14, 8)
    assert 0 <= e["fp_rate"] <= 1 and 0 <= e["fn_rate"] <= 1
    assert e["p_candidate"]["0.95"] > 0.99 and e["p_candidate"]["0.50"] < 0.1


def test_resolve():
    assert resolve_bands_rows(0.8, 112, 14, 8) == (14, 8)
    assert resolve_bands_rows(0.8, 112, 16, None) == (16, 7)
    assert resolve_bands_rows(0.8, 112, None, 8) == (14, 8)
    with pytest.raises(ValueError):
        resolve_bands_rows(0.8, 112, 20, 8)
