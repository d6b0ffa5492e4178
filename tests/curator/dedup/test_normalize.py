"""Normalization, word/n-gram hashing and the exact-dedup key."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import xxhash

from curator.dedup.normalize import ngram_hashes, normalize_one, normalize_text, text_hash, word_hashes


def test_normalize_rules():
    out = normalize_text(pa.array(["Héllo,  WORLD!!\n 1234 ﬁne", None, "  "])).to_pylist()
    assert out == ["héllo world 0 fine", None, ""]


def test_word_hashes_match_reference_and_offsets():
    texts = ["A b, c.D e f", "", None, "end.Next 12 -- 3x", "x y"]
    h, off = word_hashes(texts)
    ref = [normalize_one(t or "").split() for t in texts]
    assert off.tolist() == np.cumsum([0] + [len(r) for r in ref]).tolist()
    expect = [xxhash.xxh64_intdigest(w.encode()) for r in ref for w in r]
    assert h.tolist() == expect


def test_ngram_hashes_boundaries_and_short_docs():
    h, off = word_hashes(["a b c d e f", "x y", "", "a b c d e"])
    g, goff, starts = ngram_hashes(h, off, 5, short_docs="whole")
    assert np.diff(goff).tolist() == [2, 1, 0, 1]
    assert starts.tolist() == [0, 1, 0, 0]
    # same 5-gram "a b c d e" in docs 0 and 3 hashes alike; n-grams never cross documents
    assert g[0] == g[3]
    g2, goff2, _ = ngram_hashes(h, off, 5, short_docs="skip")
    assert np.diff(goff2).tolist() == [2, 0, 0, 1]


def test_text_hash_equal_iff_normalized_equal():
    t = text_hash(["Hello, World!", "hello world", "hello  world 2", "hello world 7", "hello there"]).to_pylist()
    assert t[0] == t[1]
    assert t[2] == t[3]  # digit runs normalize to 0
    assert len({t[0], t[2], t[4]}) == 3
    assert text_hash(pa.chunked_array([["Hello, World!"]])).type == pa.uint64()


def test_word_hashes_stable_with_trailing_and_unicode_whitespace_under_memory_churn():
    # pyarrow 26.0.1's utf8_split_whitespace was seen (in the heuristics) to keep a text's final
    # newline on its last word in some runs after other work had churned memory. word_hashes splits
    # with Arrow too: check it against str.split on texts that end in, and hold, every kind of
    # whitespace, repeatedly, with allocations in between.
    import random

    rng = random.Random(7)
    spaces = [" ", "\n", "\r\n", "\t", "\u00a0", "\u2028", "\u3000", "  \n\n"]
    words = ["alpha", "Beta,", "gamma.", "δέλτα", "end.Next", "x", "42", "--", "naïve"]
    texts = []
    for i in range(400):
        parts = [rng.choice(words) + rng.choice(spaces) for _ in range(rng.randint(0, 30))]
        texts.append(rng.choice(spaces) * (i % 2) + "".join(parts) + rng.choice(spaces + [""]))
    ref = [normalize_one(t).split() for t in texts]
    expect_off = np.cumsum([0] + [len(r) for r in ref]).tolist()
    expect = [xxhash.xxh64_intdigest(w.encode()) for r in ref for w in r]
    for round_ in range(25):
        junk = [pa.array(["y" * rng.randint(1, 5000)] * rng.randint(1, 200)) for _ in range(20)]  # churn
        h, off = word_hashes(texts)
        assert off.tolist() == expect_off, f"round {round_}"
        assert h.tolist() == expect, f"round {round_}"
        del junk
