"""Quality rules in the spirit of Gopher, C4 and FineWeb, one small function each.

Every rule takes a :class:`TextStats` (computed once per document) and the
:class:`~curator.settings.HeuristicSettings`, and returns ``True`` when the document
FAILS it. A threshold set to ``null`` in the config disables its rule. Rule names
(the keys of :data:`RULES`) are what the manifest counts and ``heuristic_flags`` holds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from curator.settings import HeuristicSettings

STOP_WORDS = frozenset({"the", "be", "to", "of", "and", "that", "have", "with"})  # Gopher's list
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "‣", "⁃", "◦", "-", "*", "–", "—")
ELLIPSES = ("...", "…")
TERMINAL_PUNCT = (".", "!", "?", '"', "'", "”", "’", ":", ";", ")")
_STRIP = ".,;:!?\"'()[]"
_ALPHA = re.compile(r"[^\W\d_]")


@dataclass
class TextStats:
    """Per-document measurements shared by the rules (lazy: a rule pays only for what it reads)."""

    text: str

    @cached_property
    def words(self) -> list[str]:
        return self.text.split()

    @cached_property
    def lines(self) -> list[str]:
        return [ln.strip() for ln in self.text.splitlines() if ln.strip()]

    @cached_property
    def lower_words(self) -> list[str]:
        return [w.strip(_STRIP) for w in self.text.lower().split()]

    @cached_property
    def n_words(self) -> int:
        return len(self.lower_words)

    @cached_property
    def word_chars(self) -> np.ndarray:
        """Characters of each lower-cased, stripped word."""
        return np.fromiter(map(len, self.lower_words), dtype=np.int64, count=self.n_words)

    @cached_property
    def cum_chars(self) -> np.ndarray:
        return np.concatenate(([0], np.cumsum(self.word_chars)))

    @cached_property
    def total_chars(self) -> int:
        return int(self.cum_chars[-1])

    @cached_property
    def _ngram_cache(self) -> dict[int, np.ndarray]:
        words = self.lower_words
        vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
        codes = np.fromiter(map(vocab.__getitem__, words), dtype=np.int64, count=len(words))
        return {1: codes}

    def ngram_ids(self, n: int) -> np.ndarray:
        """Dense ids of the word n-grams at each start position (equal ids = equal n-grams, exactly).

        Built up from (n-1)-gram ids: the pair (id of the (n-1)-gram at i, word i+n-1) numbered by
        ``np.unique``, so no hashing and no collisions.
        """
        cache = self._ngram_cache
        k = max(m for m in cache if m <= n)
        ids, codes = cache[k], cache[1]
        width = max(int(codes.max()) + 1, 1) if len(codes) else 1
        while k < n:
            k += 1
            ids = np.unique(ids[:-1] * width + codes[k - 1 :], return_inverse=True)[1].astype(np.int64)
            cache[k] = ids
        return ids


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def too_few_words(s: TextStats, cfg: HeuristicSettings) -> bool:
    return cfg.min_words is not None and len(s.words) < cfg.min_words


def too_many_words(s: TextStats, cfg: HeuristicSettings) -> bool:
    return cfg.max_words is not None and len(s.words) > cfg.max_words


def mean_word_length(s: TextStats, cfg: HeuristicSettings) -> bool:
    if not s.words:
        return True
    mean = sum(map(len, s.words)) / len(s.words)
    lo, hi = cfg.min_mean_word_length, cfg.max_mean_word_length
    return (lo is not None and mean < lo) or (hi is not None and mean > hi)


def symbol_word_ratio(s: TextStats, cfg: HeuristicSettings) -> bool:
    if cfg.max_symbol_word_ratio is None:
        return False
    n_sym = s.text.count("#") + s.text.count("...") + s.text.count("…")
    return _ratio(n_sym, len(s.words)) > cfg.max_symbol_word_ratio


def bullet_lines(s: TextStats, cfg: HeuristicSettings) -> bool:
    if cfg.max_bullet_lines_ratio is None or not s.lines:
        return False
    return _ratio(sum(ln.startswith(BULLETS) for ln in s.lines), len(s.lines)) > cfg.max_bullet_lines_ratio


def ellipsis_lines(s: TextStats, cfg: HeuristicSettings) -> bool:
    if cfg.max_ellipsis_lines_ratio is None or not s.lines:
        return False
    return _ratio(sum(ln.endswith(ELLIPSES) for ln in s.lines), len(s.lines)) > cfg.max_ellipsis_lines_ratio


def punctuation_lines(s: TextStats, cfg: HeuristicSettings) -> bool:
    if cfg.min_punct_lines_ratio is None or not s.lines:
        return False
    return _ratio(sum(ln.endswith(TERMINAL_PUNCT) for ln in s.lines), len(s.lines)) < cfg.min_punct_lines_ratio


def duplicate_lines(s: TextStats, cfg: HeuristicSettings) -> bool:
    lines = s.lines
    if len(lines) < 2:
        return False
    counts = Counter(lines)
    dup_lines = sum(c - 1 for c in counts.values() if c > 1)
    if cfg.max_duplicate_lines_ratio is not None and dup_lines / len(lines) > cfg.max_duplicate_lines_ratio:
        return True
    if cfg.max_duplicate_line_chars_ratio is not None:
        dup_chars = sum(len(ln) * (c - 1) for ln, c in counts.items() if c > 1)
        total = sum(len(ln) for ln in lines)
        return _ratio(dup_chars, total) > cfg.max_duplicate_line_chars_ratio
    return False


def top_ngram_repetition(s: TextStats, cfg: HeuristicSettings) -> bool:
    """Gopher: the most frequent n-gram's characters over all word characters.

    Ties go to the n-gram seen first (as ``Counter.most_common`` does); counted on exact n-gram ids.
    """
    if not cfg.max_top_ngram_ratio:
        return False
    total = s.total_chars
    if not total:
        return False
    for n, limit in cfg.max_top_ngram_ratio.items():
        if s.n_words < n:
            continue
        ids = s.ngram_ids(n)
        counts = np.bincount(ids)
        top = int(counts.max())
        if top < 2:
            continue
        first = int(np.argmax(counts[ids] == top))  # earliest position of a most frequent n-gram
        if (s.cum_chars[first + n] - s.cum_chars[first]) * top / total > limit:
            return True
    return False


def duplicate_ngram_repetition(s: TextStats, cfg: HeuristicSettings) -> bool:
    """Gopher: characters inside n-grams that occur more than once, over all word characters."""
    if not cfg.max_duplicate_ngram_ratio:
        return False
    total = s.total_chars
    if not total:
        return False
    for n, limit in sorted(cfg.max_duplicate_ngram_ratio.items()):
        if s.n_words < n:
            continue
        ids = s.ngram_ids(n)
        starts = np.nonzero(np.bincount(ids)[ids] > 1)[0]
        if not len(starts):
            continue
        edge = np.zeros(s.n_words + 1, dtype=np.int32)
        edge[starts] += 1
        edge[starts + n] -= 1
        covered = np.cumsum(edge[:-1]) > 0
        if int(s.word_chars[covered].sum()) / total > limit:
            return True
    return False


def alpha_words(s: TextStats, cfg: HeuristicSettings) -> bool:
    if cfg.min_alpha_words_ratio is None or not s.words:
        return False
    return _ratio(len(list(filter(_ALPHA.search, s.words))), len(s.words)) < cfg.min_alpha_words_ratio


def stop_words(s: TextStats, cfg: HeuristicSettings) -> bool:
    if cfg.min_stop_words is None:
        return False
    need = cfg.min_stop_words
    found = 0
    for w in s.lower_words:
        if w in STOP_WORDS:
            found += 1
            if found >= need:
                return False
    return True


# Order matters: cheap rules first; the first failing rule is a document's drop reason.
RULES: dict[str, Callable[[TextStats, HeuristicSettings], bool]] = {
    "too_few_words": too_few_words,
    "too_many_words": too_many_words,
    "mean_word_length": mean_word_length,
    "symbol_word_ratio": symbol_word_ratio,
    "bullet_lines": bullet_lines,
    "ellipsis_lines": ellipsis_lines,
    "punctuation_lines": punctuation_lines,
    "alpha_words": alpha_words,
    "stop_words": stop_words,
    "duplicate_lines": duplicate_lines,
    "top_ngram_repetition": top_ngram_repetition,
    "duplicate_ngram_repetition": duplicate_ngram_repetition,
}


def failed_rules(text: str, cfg: HeuristicSettings, first_only: bool = False) -> list[str]:
    """Names of the rules ``text`` fails, in rule order."""
    stats = TextStats(text)
    out = []
    for name, rule in RULES.items():
        if rule(stats, cfg):
            out.append(name)
            if first_only:
                break
    return out
