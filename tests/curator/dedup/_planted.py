"""Synthetic corpora with planted near-duplicates of known true Jaccard (test helper)."""

from __future__ import annotations

import random

import pyarrow as pa

from curator.dedup.normalize import normalize_one


def vocabulary(n: int = 3000, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = set()
    while len(words) < n:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(3, 9))))
    return sorted(words)


def random_doc(rng: random.Random, vocab: list[str], n_words: int = 200, paragraphs: int = 4) -> str:
    words = [rng.choice(vocab) for _ in range(n_words)]
    per = max(1, n_words // paragraphs)
    paras = [" ".join(words[i : i + per]).capitalize() + "." for i in range(0, n_words, per)]
    return "\n\n".join(paras)


def edit_words(rng: random.Random, vocab: list[str], text: str, rate: float) -> str:
    """Replace a fraction ``rate`` of the words with random vocabulary words."""
    words = text.split(" ")
    for i in range(len(words)):
        if rng.random() < rate:
            words[i] = rng.choice(vocab)
    return " ".join(words)


def insert_words(rng: random.Random, vocab: list[str], text: str, k: int) -> str:
    words = text.split(" ")
    for _ in range(k):
        words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
    return " ".join(words)


def shuffle_paragraphs(rng: random.Random, text: str) -> str:
    paras = text.split("\n\n")
    rng.shuffle(paras)
    return "\n\n".join(paras)


def shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    w = normalize_one(text).split()
    if len(w) < n:
        return {tuple(w)} if w else set()
    return {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: str, b: str, n: int = 5) -> float:
    sa, sb = shingles(a, n), shingles(b, n)
    return len(sa & sb) / max(1, len(sa | sb))


def corpus(n_unique: int = 120, seed: int = 1) -> tuple[pa.Table, list[tuple[str, str, float, str]]]:
    """A table of unique documents plus planted variants; returns (table, [(orig_id, dup_id, true_J, kind)])."""
    rng = random.Random(seed)
    vocab = vocabulary(seed=seed)
    ids, texts, scores = [], [], []
    planted = []
    for i in range(n_unique):
        t = random_doc(rng, vocab)
        ids.append(f"doc-{i:04d}")
        texts.append(t)
        scores.append(round(rng.uniform(0, 5), 2))
    kinds = [("edit", 0.004), ("insert", 2), ("shuffle", None), ("edit", 0.15), ("edit", 0.3)]
    for j, (kind, arg) in enumerate(kinds * 6):
        src = j
        orig = texts[src]
        if kind == "edit":
            v = edit_words(rng, vocab, orig, arg)
        elif kind == "insert":
            v = insert_words(rng, vocab, orig, arg)
        else:
            v = shuffle_paragraphs(rng, orig)
        vid = f"var-{j:04d}"
        ids.append(vid)
        texts.append(v)
        scores.append(round(rng.uniform(0, 5), 2))
        planted.append((ids[src], vid, jaccard(orig, v), kind))
    return pa.table({"id": ids, "text": texts, "edu_score": pa.array(scores, pa.float32())}), planted
