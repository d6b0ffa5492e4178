"""Quality rules in the spirit of Gopher, C4 and FineWeb, one small function each.

Every rule takes a :class:`TextStats` (computed once per document) and the
:class:`~curator.settings.HeuristicSettings`, and returns ``True`` when the document
FAILS it. A threshold set to ``null`` in the config disables its rule. Rule names
(the keys of :data:`RULES`) are what the manifest counts and ``heuristic_flags`` holds.

:func:`batch_text_stats` measures a whole batch at once (one vocabulary, flat word codes, the
Gopher n-gram statistics for all documents per ``n``) and hands each document a
:class:`TextStats` whose values are already filled in; the rules read the same values either way.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain

import numpy as np
import pyarrow as pa

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
        return len(self.words)

    @cached_property
    def sum_word_len(self) -> int:
        """Characters of the words as split (not lower-cased or stripped)."""
        return sum(map(len, self.words))

    @cached_property
    def n_alpha_words(self) -> int:
        return len(list(filter(_ALPHA.search, self.words)))

    @cached_property
    def n_stop_words(self) -> int:
        return sum(w in STOP_WORDS for w in self.lower_words)

    @cached_property
    def top_ngram_ratios(self) -> dict[int, float]:
        """``n -> ratio`` filled by :func:`batch_text_stats`; :meth:`top_ngram_ratio` fills it lazily."""
        return {}

    @cached_property
    def dup_ngram_ratios(self) -> dict[int, float]:
        return {}

    def top_ngram_ratio(self, n: int) -> float:
        """Characters of the most frequent n-gram times its count over all word characters.

        ``-inf`` when the rule does not look at ``n`` (no characters, fewer than ``n`` words, or no
        n-gram seen twice). Ties go to the n-gram seen first (as ``Counter.most_common`` does).
        Filled by :func:`batch_text_stats`; a document measured alone runs the same code as a batch of one.
        """
        cache = self.top_ngram_ratios
        if n not in cache:
            cache[n] = _measure_texts([self.text], {n}, set())[0].top_ngram_ratios[n] if n >= 1 else -np.inf
        return cache[n]

    def dup_ngram_ratio(self, n: int) -> float:
        """Characters inside n-grams that occur more than once over all word characters (``-inf``: not looked at)."""
        cache = self.dup_ngram_ratios
        if n not in cache:
            cache[n] = _measure_texts([self.text], set(), {n})[0].dup_ngram_ratios[n] if n >= 1 else -np.inf
        return cache[n]


def _ratio(num: float, den: float) -> float:
    return num / den if den else 0.0


def too_few_words(s: TextStats, cfg: HeuristicSettings) -> bool:
    return cfg.min_words is not None and s.n_words < cfg.min_words


def too_many_words(s: TextStats, cfg: HeuristicSettings) -> bool:
    return cfg.max_words is not None and s.n_words > cfg.max_words


def mean_word_length(s: TextStats, cfg: HeuristicSettings) -> bool:
    if not s.n_words:
        return True
    mean = s.sum_word_len / s.n_words
    lo, hi = cfg.min_mean_word_length, cfg.max_mean_word_length
    return (lo is not None and mean < lo) or (hi is not None and mean > hi)


def symbol_word_ratio(s: TextStats, cfg: HeuristicSettings) -> bool:
    if cfg.max_symbol_word_ratio is None:
        return False
    n_sym = s.text.count("#") + s.text.count("...") + s.text.count("…")
    return _ratio(n_sym, s.n_words) > cfg.max_symbol_word_ratio


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
    return any(s.top_ngram_ratio(n) > limit for n, limit in cfg.max_top_ngram_ratio.items())


def duplicate_ngram_repetition(s: TextStats, cfg: HeuristicSettings) -> bool:
    """Gopher: characters inside n-grams that occur more than once, over all word characters."""
    if not cfg.max_duplicate_ngram_ratio:
        return False
    return any(s.dup_ngram_ratio(n) > limit for n, limit in sorted(cfg.max_duplicate_ngram_ratio.items()))


def alpha_words(s: TextStats, cfg: HeuristicSettings) -> bool:
    if cfg.min_alpha_words_ratio is None or not s.n_words:
        return False
    return s.n_alpha_words / s.n_words < cfg.min_alpha_words_ratio


def stop_words(s: TextStats, cfg: HeuristicSettings) -> bool:
    """Fewer than ``min_stop_words`` stop words (a document without any always fails when enabled)."""
    if cfg.min_stop_words is None:
        return False
    return s.n_stop_words < max(cfg.min_stop_words, 1)


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


def failed_rules_of(stats: TextStats, cfg: HeuristicSettings, first_only: bool = False) -> list[str]:
    """Names of the rules the measured document fails, in rule order (first only: its drop reason)."""
    out = []
    for name, rule in RULES.items():
        if rule(stats, cfg):
            out.append(name)
            if first_only:
                break
    return out


def failed_rules(text: str, cfg: HeuristicSettings, first_only: bool = False) -> list[str]:
    """Names of the rules ``text`` fails, in rule order."""
    return failed_rules_of(batch_text_stats([text], cfg)[0], cfg, first_only)


_CHUNK = 32_768  # positions per hash table: small tables stay in cache (~2.5x faster than one big one)


def _segment_sums(values: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Exact integer sums of ``values[offsets[i]:offsets[i + 1]]``."""
    cum = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=cum[1:])
    return cum[offsets[1:]] - cum[offsets[:-1]]


def _factorize_by_doc(keys: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """Dense ids, equal exactly where ``keys`` are equal, for keys that never repeat across documents.

    ``docs`` (each key's document) is non-decreasing, so the keys are numbered in runs of whole
    documents of about :data:`_CHUNK` positions, each with its own hash table.
    """
    import pandas as pd

    n = len(keys)
    if n <= _CHUNK:
        return pd.factorize(keys)[0]
    cuts = np.searchsorted(docs, docs[np.arange(_CHUNK, n, _CHUNK)], side="left")
    bounds = [0, *np.unique(cuts).tolist(), n]
    out = np.empty(n, dtype=np.int64)
    base = 0
    for a, b in zip(bounds[:-1], bounds[1:]):
        if a < b:
            ids, uniques = pd.factorize(keys[a:b])
            out[a:b] = ids + base
            base += len(uniques)
    return out


def batch_text_stats(texts: Sequence[str], cfg: HeuristicSettings) -> list[TextStats]:
    """One :class:`TextStats` per text with the per-word counts and the repetition ratios of ``cfg``'s
    n-gram sizes filled in (see :func:`_measure_texts`)."""
    top_ns = {n for n in (cfg.max_top_ngram_ratio or {}) if n >= 1}
    dup_ns = {n for n in (cfg.max_duplicate_ngram_ratio or {}) if n >= 1}
    return _measure_texts(texts, top_ns, dup_ns)


def _measure_texts(texts: Sequence[str], top_ns: set[int], dup_ns: set[int]) -> list[TextStats]:
    """One :class:`TextStats` per text with the per-word counts and the repetition ratios filled in.

    The words are split by ``str.split`` (as :attr:`TextStats.words`; pyarrow 26's
    ``utf8_split_whitespace`` sometimes keeps a text's final newline on its last word) and dictionary
    encoded once for the batch; each distinct token is measured, lower-cased and stripped once
    (lower-casing a token alone equals lower-casing the whole text: no whitespace character is
    cased or case-ignorable, the only context ``str.lower`` looks at).

    The n-gram statistics are exact, for all documents together per ``n``: n-grams are numbered by
    hashing (id of the (n-1)-gram, next word) with ``pandas.factorize``, with the document in the
    1-gram ids so that counts never mix documents. An n-gram seen once only starts longer n-grams
    seen once, and only repeated n-grams matter to either rule, so each ``n`` only numbers the
    positions whose (n-1)-gram repeats.
    """
    n_docs = len(texts)
    stats = [TextStats(t) for t in texts]
    split = [t.split() for t in texts]
    counts = np.fromiter(map(len, split), dtype=np.int64, count=n_docs)
    doc_of = np.repeat(np.arange(n_docs, dtype=np.int64), counts)
    encoded = pa.array(list(chain.from_iterable(split)), type=pa.large_string()).dictionary_encode()
    tok_codes = encoded.indices.to_numpy().astype(np.int64, copy=False)
    vocab_raw = encoded.dictionary.to_pylist()
    offsets = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    n_pos = int(offsets[-1])

    n_tok = len(vocab_raw)
    tok_len = np.fromiter(map(len, vocab_raw), dtype=np.int64, count=n_tok)
    tok_alpha = np.fromiter((_ALPHA.search(t) is not None for t in vocab_raw), dtype=np.int64, count=n_tok)
    lowered = [t.lower().strip(_STRIP) for t in vocab_raw]
    tok_stop = np.fromiter((w in STOP_WORDS for w in lowered), dtype=np.int64, count=n_tok)
    low_index: dict[str, int] = {}
    low_of_tok = np.fromiter((low_index.setdefault(w, len(low_index)) for w in lowered), dtype=np.int64, count=n_tok)
    low_len = np.fromiter(map(len, low_index), dtype=np.int64, count=len(low_index))
    sum_len = _segment_sums(tok_len[tok_codes], offsets)
    n_alpha = _segment_sums(tok_alpha[tok_codes], offsets)
    n_stop = _segment_sums(tok_stop[tok_codes], offsets)
    for i, st in enumerate(stats):
        st.__dict__.update(
            words=split[i],
            n_words=int(counts[i]),
            sum_word_len=int(sum_len[i]),
            n_alpha_words=int(n_alpha[i]),
            n_stop_words=int(n_stop[i]),
        )

    vocab = max(len(low_index), 1)
    if not (top_ns or dup_ns):
        return stats
    if (n_pos + n_docs + 1) * vocab >= 2**62:  # n-gram ids could overflow int64: measure the halves
        if n_docs == 1:  # >= 2**31 words in one document; ingest's size limit quarantines far less
            raise ValueError(f"document too large to measure: {n_pos} words")
        half = n_docs // 2
        return _measure_texts(texts[:half], top_ns, dup_ns) + _measure_texts(texts[half:], top_ns, dup_ns)
    word = low_of_tok[tok_codes]  # lower-cased stripped word code per position
    chars = low_len[word]
    cum = np.zeros(n_pos + 1, dtype=np.int64)
    np.cumsum(chars, out=cum[1:])
    total = cum[offsets[1:]] - cum[offsets[:-1]]
    top_out = {n: np.full(n_docs, -np.inf) for n in top_ns}
    dup_out = {n: np.full(n_docs, -np.inf) for n in dup_ns}
    with np.errstate(divide="ignore", invalid="ignore"):  # documents without characters: replaced below
        _repetition_ratios(top_out, dup_out, word, cum, total, offsets, doc_of, vocab)
    for i, st in enumerate(stats):
        if total[i]:
            st.__dict__["top_ngram_ratios"] = {n: float(r[i]) for n, r in top_out.items()}
            st.__dict__["dup_ngram_ratios"] = {n: float(r[i]) for n, r in dup_out.items()}
        else:
            st.__dict__["top_ngram_ratios"] = dict.fromkeys(top_ns, -np.inf)
            st.__dict__["dup_ngram_ratios"] = dict.fromkeys(dup_ns, -np.inf)
    return stats


def _repetition_ratios(top_out, dup_out, word, cum, total, offsets, doc_of, vocab) -> None:
    """Fill ``top_out[n]`` / ``dup_out[n]`` (per-document arrays, ``-inf``: not looked at) for the batch."""
    top_ns, dup_ns = set(top_out), set(dup_out)
    n_pos = len(word)
    end_of = offsets[1:][doc_of]  # end (exclusive) of each position's document
    pos = np.arange(n_pos, dtype=np.int64)
    ids = _factorize_by_doc(doc_of * vocab + word, doc_of)  # 1-gram ids, distinct per document
    for n in range(1, max(top_ns | dup_ns) + 1):
        if n > 1:
            nxt = pos + (n - 1)
            ok = nxt < end_of[pos]
            pos, ids, nxt = pos[ok], ids[ok], nxt[ok]
            if not len(pos):
                break
            ids = _factorize_by_doc(ids * vocab + word[nxt], doc_of[pos])
        cnt = np.bincount(ids)[ids]
        rep = cnt > 1
        pos, ids, cnt = pos[rep], ids[rep], cnt[rep]  # only repeated n-grams start repeated longer ones
        if not len(pos):
            break
        docs = doc_of[pos]  # non-decreasing
        seg = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
        seg_docs = docs[seg]
        if n in top_ns:
            top = np.maximum.reduceat(cnt, seg)
            at_top = np.flatnonzero(cnt == np.repeat(top, np.diff(np.r_[seg, len(pos)])))
            first_docs = docs[at_top]
            first = pos[at_top[np.r_[True, first_docs[1:] != first_docs[:-1]]]]  # earliest, one per document
            top_out[n][seg_docs] = (cum[first + n] - cum[first]) * top / total[seg_docs]
        if n in dup_ns:
            # characters covered by the windows [p, p + n): sorted starts, equal widths, so each window
            # adds what lies past the previous one's end (windows never cross documents)
            from_ = np.maximum(pos, np.r_[0, pos[:-1] + n])
            dup_chars = np.add.reduceat(cum[pos + n] - cum[from_], seg)
            dup_out[n][seg_docs] = dup_chars / total[seg_docs]
