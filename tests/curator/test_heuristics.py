"""Each heuristic rule fires on the text it targets and not on clean prose."""

from __future__ import annotations

import pyarrow as pa
import pytest

from curator import schema as S
from curator.heuristics import RULES, HeuristicStage, failed_rules
from curator.settings import HeuristicSettings

CLEAN = (
    "Photosynthesis is the process by which green plants use sunlight to make their own food. "
    "In the chloroplasts, light energy splits water molecules and releases oxygen into the air. "
    "The energy is stored in glucose, which the plant uses to grow and to build new cells. "
    "Because of this process, plants are the base of almost every food chain on Earth, and "
    "animals that eat them depend on the energy that was first captured from the sun."
)
CFG = HeuristicSettings()

CASES = {
    "too_few_words": "Too short to be a document.",
    "too_many_words": None,
    "mean_word_length": " ".join(["a b c d e f g h i j."] * 10),
    "symbol_word_ratio": CLEAN + " " + "#tag " * 20,
    "bullet_lines": "\n".join(f"- item number {i} in the list of things and the rest" for i in range(60))
    + "\nThe end of the list.",
    "ellipsis_lines": "\n".join(
        f"Read the rest of story number {i} about the city and the people..." for i in range(20)
    )
    + "\n"
    + CLEAN,
    "punctuation_lines": "\n".join(
        f"Menu entry {i} and the link to the page with more of the content" for i in range(20)
    ),
    "alpha_words": CLEAN + " " + " ".join(str(i) for i in range(200)),
    "stop_words": " ".join(
        f"Lorem ipsum dolor sit amet consectetur adipiscing elit sed number {i}." for i in range(10)
    ),
    "duplicate_lines": "\n".join(["The same line is repeated again and again in this page."] * 10 + [CLEAN]),
    "top_ngram_repetition": CLEAN + " " + "buy cheap " * 40,
    "duplicate_ngram_repetition": (CLEAN + " ") * 3,
}


def test_clean_text_passes_every_rule():
    assert failed_rules(CLEAN, CFG) == []


@pytest.mark.parametrize("rule", [r for r, t in CASES.items() if t is not None])
def test_each_rule_fires(rule):
    assert rule in failed_rules(CASES[rule], CFG), failed_rules(CASES[rule], CFG)


def test_too_many_words_and_disabling_rules():
    assert "too_many_words" in failed_rules(CLEAN, HeuristicSettings(max_words=20))
    off = HeuristicSettings(min_words=None)
    assert "too_few_words" not in failed_rules(CASES["too_few_words"], off)
    assert set(CASES) == set(RULES)


def test_stage_adds_columns_and_is_idempotent():
    table = pa.table({S.ID: ["a", "b"], S.TEXT: [CLEAN, "tiny"]})
    stage = HeuristicStage(settings=CFG.model_dump())
    out = stage(table)
    assert out.column(S.HEURISTIC_FLAGS).to_pylist() == [[], ["too_few_words"]]
    assert out.column(S.N_WORDS).to_pylist()[1] == 1
    assert stage(out).column_names == out.column_names
    disabled = HeuristicStage(settings={"enabled": False})(table)
    assert disabled.column(S.HEURISTIC_FLAGS).to_pylist() == [[], []]


# ---- the Gopher repetition rules on numpy n-gram ids equal their plain definitions


def _plain_top(words: list[str], n: int) -> float:
    from collections import Counter

    total = sum(len(w) for w in words)
    if len(words) < n or not total:
        return 0.0
    gram, count = Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1)).most_common(1)[0]
    return sum(len(w) for w in gram) * count / total if count > 1 else 0.0


def _plain_dup(words: list[str], n: int) -> float:
    from collections import Counter

    total = sum(len(w) for w in words)
    if len(words) < n or not total:
        return 0.0
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = Counter(grams)
    covered = [False] * len(words)
    for i, g in enumerate(grams):
        if counts[g] > 1:
            covered[i : i + n] = [True] * n
    return sum(len(w) for w, c in zip(words, covered) if c) / total


@pytest.mark.parametrize("seed", range(40))
def test_repetition_rules_equal_the_plain_definitions(seed):
    import random

    from curator.heuristics.rules import TextStats

    rng = random.Random(seed)
    vocab = [
        rng.choice(["a", "bb", "ccc", "the", "Dog.", "dog", "x" * rng.randint(1, 9)]) + str(i % 3)
        for i in range(rng.randint(1, 12))
    ]
    words = [rng.choice(vocab) for _ in range(rng.randint(0, 300))]
    stats = TextStats(" ".join(words))
    for n in range(2, 11):
        top, dup = _plain_top(stats.lower_words, n), _plain_dup(stats.lower_words, n)
        for limit in (0.0, 0.1, 0.3, 0.6, 0.9):
            cfg_top = HeuristicSettings(max_top_ngram_ratio={n: limit}, max_duplicate_ngram_ratio=None)
            cfg_dup = HeuristicSettings(max_top_ngram_ratio=None, max_duplicate_ngram_ratio={n: limit})
            assert RULES["top_ngram_repetition"](stats, cfg_top) == (top > limit), (seed, n, limit, top)
            assert RULES["duplicate_ngram_repetition"](stats, cfg_dup) == (dup > limit), (seed, n, limit, dup)


# ---- the batch path (HeuristicStage) computes the same values as one document at a time


def _random_batch(seed: int) -> list[str]:
    import random

    rng = random.Random(seed)
    seps = [" ", "  ", "\n", "\t", "\u00a0", "\u3000", "\x1c", "\n\n"]
    pool = ["a", "bb", "ccc", "the", "The", "Dog.", "dog", "...", "'", "ΑΣ", "Σ", "İx", "#", "- x", "12", "x_y"]
    texts = ["", " ", "word", "two words", "\n\n"]
    for _ in range(30):
        vocab = [rng.choice(pool) + str(i % 3) * rng.randint(0, 1) for i in range(rng.randint(1, 12))]
        n = rng.choice([0, 1, 2, 3, 4, 5, 9, 10, 11, 40, 300])
        texts.append("".join(rng.choice(vocab) + rng.choice(seps) for _ in range(n)))
    rng.shuffle(texts)
    return texts


@pytest.mark.parametrize("seed", range(12))
def test_batch_stats_equal_the_plain_definitions_and_single_documents(seed):
    from curator.heuristics.rules import TextStats, batch_text_stats

    texts = _random_batch(seed)
    ns = {n: 0.5 for n in range(1, 11)}
    cfg = HeuristicSettings(max_top_ngram_ratio=ns, max_duplicate_ngram_ratio=ns)
    for text, batch in zip(texts, batch_text_stats(texts, cfg)):
        one = TextStats(text)
        assert (batch.n_words, batch.sum_word_len, batch.n_alpha_words, batch.n_stop_words) == (
            len(one.words),
            sum(map(len, one.words)),
            one.n_alpha_words,
            sum(w in {"the", "be", "to", "of", "and", "that", "have", "with"} for w in one.lower_words),
        )
        for n in ns:
            top, dup = batch.top_ngram_ratios[n], batch.dup_ngram_ratios[n]
            assert top == one.top_ngram_ratio(n) and dup == one.dup_ngram_ratio(n), (text, n)
            assert max(top, 0.0) == _plain_top(one.lower_words, n), (text, n)
            assert max(dup, 0.0) == _plain_dup(one.lower_words, n), (text, n)


@pytest.mark.parametrize("first_only", [True, False])
def test_stage_flags_equal_failed_rules_per_text(first_only):
    texts = [t for seed in range(6) for t in _random_batch(seed)] + [CLEAN, *[t for t in CASES.values() if t]]
    table = pa.table({S.TEXT: texts})
    for cfg in (
        CFG,
        HeuristicSettings(
            min_words=2,
            min_stop_words=0,
            max_top_ngram_ratio={1: 0.1, 3: 0.05},
            max_duplicate_ngram_ratio={2: -1.0, 12: 0.0},
        ),
    ):
        out = HeuristicStage(settings=cfg, first_only=first_only)(table)
        assert out.column(S.HEURISTIC_FLAGS).to_pylist() == [failed_rules(t, cfg, first_only) for t in texts]
        assert out.column(S.N_WORDS).to_pylist() == [len(t.split()) for t in texts]
