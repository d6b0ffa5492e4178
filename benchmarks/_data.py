"""Benchmark input: ~2 KB English web documents from ../shared/data/web with planted near-duplicates.

Base texts are ``gensim_test_corpora.jsonl`` + ``dolma_cc_samples.jsonl`` (>= 60 words, cut to
about 2.5 KB). To reach ``n`` documents, new documents are synthesized by random mixing: each takes
10-20 sentences drawn from the whole pool, in random order, so fuzzy dedup does not collapse them.
A share of the documents (``dup_frac``) are planted near-duplicates of an earlier document made by
replacing a known fraction of words (several rates, so true 5-gram Jaccard spans both sides of the
0.8 threshold). :func:`jaccard` measures the true Jaccard of a pair with the build's normalization.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "web"
SOURCES = ("gensim_test_corpora.jsonl", "dolma_cc_samples.jsonl")
EDIT_RATES = (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12)


def base_texts(max_chars: int = 2600) -> list[str]:
    texts = [json.loads(line)["text"] for name in SOURCES for line in open(DATA / name, encoding="utf-8")]
    return [t[:max_chars] for t in texts if len(t.split()) >= 60]


def _sentences(texts: list[str]) -> list[str]:
    out = []
    for t in texts:
        for s in t.replace("\n", " ").split(". "):
            s = s.strip()
            if len(s.split()) >= 6:
                out.append(s if s.endswith((".", "!", "?")) else s + ".")
    return out


def _near_duplicate(text: str, rate: float, vocab: list[str], rng: random.Random) -> str:
    words = text.split(" ")
    return " ".join(rng.choice(vocab) if rng.random() < rate else w for w in words)


def generate(n: int, seed: int = 0, dup_frac: float = 0.05):
    """Yield ``n`` dicts ``{id, text, url}`` and fill the returned pairs list lazily.

    Returns ``(docs_iterator, pairs)``: ``pairs`` gets ``(original_id, duplicate_id)`` appended as the
    iterator produces the duplicates, so read it after consuming the iterator.
    """
    rng = random.Random(seed)
    base = base_texts()
    sentences = _sentences(base)
    vocab = sorted({w for t in base[:300] for w in t.split() if w.isalpha()})
    pairs: list[tuple[str, str]] = []
    recent: list[tuple[str, str]] = []  # (id, text) of documents a duplicate may copy

    def docs():
        for i in range(n):
            if recent and rng.random() < dup_frac:
                src_id, src = rng.choice(recent)
                doc_id = f"dup-{i:08d}"
                text = _near_duplicate(src, rng.choice(EDIT_RATES[1:]), vocab, rng)
                pairs.append((src_id, doc_id))
            elif i < len(base):
                doc_id, text = f"base-{i:08d}", base[i]
            else:
                doc_id = f"mix-{i:08d}"
                picked = [rng.choice(sentences) for _ in range(rng.randint(10, 20))]
                text = " ".join(picked)
                if rng.random() < 0.5:  # paragraphs, so line-based heuristics see several lines
                    cut = rng.randrange(1, len(picked))
                    text = " ".join(picked[:cut]) + "\n\n" + " ".join(picked[cut:])
            if not doc_id.startswith("dup-"):
                if len(recent) < 2000:
                    recent.append((doc_id, text))
                else:
                    recent[rng.randrange(len(recent))] = (doc_id, text)
            yield {"id": doc_id, "text": text, "url": f"https://example.org/{doc_id}"}

    return docs(), pairs


def write_jsonl(
    directory: Path, n: int, shards: int = 8, seed: int = 0, dup_frac: float = 0.05
) -> tuple[list[Path], dict[str, str], list[tuple[str, str]]]:
    """Write ``n`` documents as ``shards`` JSONL files; return (paths, id -> text of planted pairs, pairs)."""
    directory.mkdir(parents=True, exist_ok=True)
    it, pairs = generate(n, seed=seed, dup_frac=dup_frac)
    paths = [directory / f"part-{s:04d}.jsonl" for s in range(shards)]
    fhs = [p.open("w", encoding="utf-8") for p in paths]
    texts: dict[str, str] = {}
    keep: dict[str, str] = {}
    try:
        for i, d in enumerate(it):
            fhs[i * shards // n].write(json.dumps(d, ensure_ascii=False) + "\n")
            if d["id"].startswith("dup-"):
                keep[d["id"]] = d["text"]
            else:
                texts[d["id"]] = d["text"]
    finally:
        for fh in fhs:
            fh.close()
    for a, _ in pairs:
        keep[a] = texts[a]
    return paths, keep, pairs


def shingles(text: str, n: int = 5) -> set[str]:
    from curator.dedup.normalize import normalize_one

    w = normalize_one(text).split()
    if len(w) < n:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


def jaccard(a: str, b: str, n: int = 5) -> float:
    x, y = shingles(a, n), shingles(b, n)
    return len(x & y) / max(1, len(x | y))


def dedup_outcome(
    dedup_in: set[str], dedup_out: set[str], texts: dict[str, str], pairs: list[tuple[str, str]], threshold: float
) -> dict:
    """Precision/recall of the documents a dedup removed, on the planted pairs.

    Positives: planted pairs with true Jaccard >= ``threshold`` whose two documents both entered the dedup.
    Recall: positives with one side removed. Precision: removed documents that are a side of a positive
    pair (a removed document outside every positive pair counts as a false positive).
    """
    removed = dedup_in - dedup_out
    j = {(a, b): jaccard(texts[a], texts[b]) for a, b in pairs if a in dedup_in and b in dedup_in}
    positives = [p for p, v in j.items() if v >= threshold]
    pos_members = {x for p in positives for x in p}
    near_members = {x for p, v in j.items() if v >= threshold - 0.1 for x in p}
    hit = sum(1 for a, b in positives if a in removed or b in removed)
    return {
        "planted_pairs_in": len(j),
        "positives": len(positives),
        "removed": len(removed),
        "recall": round(hit / max(1, len(positives)), 4),
        "precision": round(len(removed & pos_members) / max(1, len(removed)), 4),
        "precision_within_0.1": round(len(removed & near_members) / max(1, len(removed)), 4),
    }
