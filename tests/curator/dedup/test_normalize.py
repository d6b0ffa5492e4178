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


def test_compiled_xxh64_equals_xxhash():
    import random

    from curator.dedup import _kernels as K

    rng = random.Random(3)
    for n in list(range(0, 70)) + [100, 257, 1000]:
        raw = bytes(rng.randrange(256) for _ in range(n + 5))
        buf = np.frombuffer(raw, dtype=np.uint8)
        for seed in (0, 42, 2**63 + 12345):
            assert K.xxh64(buf, 3, 3 + n, np.uint64(seed)) == xxhash.xxh64_intdigest(raw[3 : 3 + n], seed), (n, seed)


def test_word_hashes_fast_and_unicode_paths_agree_with_reference_on_random_text():
    # Tokens of printable ASCII are normalized by the compiled scan, all others by Arrow: mixing them
    # within documents, with control bytes, combining marks, compatibility forms and slices/chunks,
    # must give exactly normalize_one(text).split(), hashed with xxh64.
    import random

    rng = random.Random(11)
    alphabet = list("aZq09 .,-'\"\t\n\r\x0b\x0c\x00\x1c\x7f€éΣσςİ\u00a0\u2019\u2028\u3000ﬁ①²½Å\u0301") + [
        "e\u0301",
        "http://x.y/z?a=1",
        "DON'T",
        "12,345.67",
        "ＡＢＣ",
        "ß",
    ]
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 120))) for _ in range(1500)]
    texts += [None, "", " ", "word " * 5000, "x" * 70000, "\u00e9" * 3000]
    arr = pa.array(texts, pa.string())
    words = [(t or "").split() for t in normalize_text(arr).to_pylist()]  # = normalize_one per text
    for seed in (0, 7):
        for values, ref in (
            (arr, words),
            (arr.slice(5, 900), words[5:905]),
            (pa.chunked_array([arr.slice(0, 40), arr.slice(40)]), words),
        ):
            h, off = word_hashes(values, seed=seed)
            assert off.tolist() == np.cumsum([0] + [len(r) for r in ref]).tolist()
            assert h.tolist() == [xxhash.xxh64_intdigest(w.encode(), seed) for r in ref for w in r]
