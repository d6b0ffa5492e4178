"""Exact and fuzzy (MinHash-LSH) deduplication; one module per step, see README.md."""

from curator.dedup.exact import TextHashStage, exact_dedup
from curator.dedup.fuzzy import fuzzy_dedup, lsh_params
from curator.dedup.params import choose_bands_rows, expected_error_rates, s_curve
from curator.dedup.signatures import MinHashSignatureStage

__all__ = [
    "MinHashSignatureStage",
    "TextHashStage",
    "choose_bands_rows",
    "exact_dedup",
    "expected_error_rates",
    "fuzzy_dedup",
    "lsh_params",
    "s_curve",
]
