"""Fuzzy-dedup benchmark: our MinHash-LSH (text in, clusters out) vs datasketch on the same documents.

Documents: ../shared/data/web/gensim_test_corpora.jsonl + dolma_cc_samples.jsonl, plus planted
near-duplicates of known true 5-gram Jaccard (word edits at several rates, insertions, shuffled
paragraphs) and, to reach ``--docs``, distinct filler documents made of random corpus sentences.
Prints ONE JSON line: ``docs``, ``docs_per_s`` (ours, in process, ``--threads`` signature threads,
default 1: core for core against datasketch), ``datasketch_docs_per_s`` (MinHash + MinHashLSH with the
same normalization, shingling and bands x rows; text in, duplicate sets out), ``ratio``,
``docs_per_s_all_cores`` (ours again with one signature thread per core, at most 4),
``recall``/``precision`` at true Jaccard >= threshold on planted pairs, ``peak_rss_mb``,
``state_mb_per_million_docs`` (signature + LSH key rows per document, scaled).

    .venv/bin/python benchmarks/bench_dedup.py [--docs 20000] [--baseline-docs 3000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import time
from pathlib import Path

import pyarrow as pa

from curator import schema as S
from curator.dedup import lsh_params
from curator.dedup.fuzzy import _default_threads, fuzzy_dedup_table
from curator.dedup.normalize import normalize_one
from curator.settings import FuzzyDedupSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "web"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _shingles(text: str, n: int) -> set[str]:
    w = normalize_one(text).split()
    if len(w) < n:
        return {" ".join(w)} if w else set()
    return {" ".join(w[i : i + n]) for i in range(len(w) - n + 1)}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / max(1, len(a | b))


def build_corpus(n_docs: int, seed: int = 0):
    rng = random.Random(seed)
    base = [
        json.loads(line)["text"]
        for name in ("gensim_test_corpora.jsonl", "dolma_cc_samples.jsonl")
        for line in open(DATA / name)
    ]
    base = [t for t in base if len(t.split()) >= 60]
    vocab = sorted({w for t in base[:200] for w in t.split()})
    texts = list(base)
    ids = [f"base-{i}" for i in range(len(base))]
    pairs = []
    n_planted = min(len(base), max(100, n_docs // 10))
    for i in range(n_planted):
        src = base[i]
        kind = ("edit", "insert", "shuffle")[i % 3]
        words = src.split(" ")
        if kind == "edit":
            rate = rng.choice([0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08])
            words = [rng.choice(vocab) if rng.random() < rate else w for w in words]
            var = " ".join(words)
        elif kind == "insert":
            for _ in range(rng.randint(1, max(2, len(words) // 100))):
                words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
            var = " ".join(words)
        else:
            paras = src.split("\n")
            rng.shuffle(paras)
            var = "\n".join(paras)
        vid = f"var-{i}"
        texts.append(var)
        ids.append(vid)
        pairs.append((ids[i], vid))
    sentences = [s for t in base for s in t.split(". ") if len(s.split()) >= 8]
    k = 0
    while len(texts) < n_docs:
        texts.append(". ".join(rng.choice(sentences) for _ in range(15)))
        ids.append(f"fill-{k}")
        k += 1
    scores = [round(rng.uniform(0, 5), 2) for _ in texts]
    return pa.table({S.ID: ids, S.TEXT: texts, S.EDU_SCORE: pa.array(scores, pa.float32())}), pairs


def datasketch_run(texts: list[str], settings: FuzzyDedupSettings, bands: int, rows: int) -> float:
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    lsh = MinHashLSH(threshold=settings.threshold, num_perm=settings.num_perm, params=(bands, rows))
    sigs = []
    for i, t in enumerate(texts):
        m = MinHash(num_perm=settings.num_perm, seed=settings.seed)
        m.update_batch([s.encode() for s in _shingles(t, settings.ngram)])
        lsh.insert(str(i), m)
        sigs.append(m)
    dup_sets = [lsh.query(m) for m in sigs]
    assert len(dup_sets) == len(texts)
    return len(texts) / (time.perf_counter() - t0)


def _state_bytes_per_doc(table: pa.Table, settings: FuzzyDedupSettings, bands: int, rows: int) -> float:
    """Bytes per document of the dedup state (signature rows + LSH key rows), measured on a sample."""
    from curator.dedup.lsh import band_keys
    from curator.dedup.signatures import MinHashSignatureStage

    sample = table.slice(0, min(2000, table.num_rows))
    sig = MinHashSignatureStage(num_perm=settings.num_perm, ngram=settings.ngram, seed=settings.seed)(sample)
    return (sig.nbytes + band_keys(sig, bands, rows).nbytes) / sample.num_rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--baseline-docs", type=int, default=3000)
    ap.add_argument("--threads", type=int, default=1, help="signature threads of the timed run (default 1)")
    args = ap.parse_args()
    settings = FuzzyDedupSettings()
    bands, rows = lsh_params(settings)
    table, pairs = build_corpus(args.docs)
    # warm-up: imports (rensa, scipy, numba's cached kernels) and first calls, as datasketch's import is outside
    # its timing
    fuzzy_dedup_table(table.slice(0, 300), settings, threads=args.threads)
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    kept, removed, stats = fuzzy_dedup_table(table, settings, threads=args.threads)
    ours = table.num_rows / (time.perf_counter() - t0)
    rss_peak_ours = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    fuzzy_dedup_table(table, settings, threads=_default_threads())
    ours_all = table.num_rows / (time.perf_counter() - t0)
    base_n = min(args.baseline_docs, table.num_rows)
    theirs = datasketch_run(table.column(S.TEXT).to_pylist()[:base_n], settings, bands, rows)

    text = dict(zip(table.column(S.ID).to_pylist(), table.column(S.TEXT).to_pylist()))
    cluster = dict(zip(kept.column(S.ID).to_pylist(), kept.column(S.DUP_CLUSTER_ID).to_pylist()))
    cluster.update(zip(removed.column(S.ID).to_pylist(), removed.column(S.DUP_CLUSTER_ID).to_pylist()))
    sh = {}

    def J(a, b):
        for x in (a, b):
            if x not in sh:
                sh[x] = _shingles(text[x], settings.ngram)
        return _jaccard(sh[a], sh[b])

    true_j = [(a, b, J(a, b)) for a, b in pairs]
    positives = [(a, b) for a, b, j in true_j if j >= settings.threshold]
    found = sum(1 for a, b in positives if cluster[a] is not None and cluster[a] == cluster[b])
    predicted = list(zip(removed.column(S.ID).to_pylist(), removed.column(S.KEPT_ID).to_pylist()))
    pj = [J(a, b) for a, b in predicted]
    correct = sum(1 for j in pj if j >= settings.threshold)
    near = sum(1 for j in pj if j >= settings.threshold - 0.05)
    out = {
        "bench": "dedup",
        "docs": table.num_rows,
        "docs_per_s": round(ours, 1),
        "datasketch_docs_per_s": round(theirs, 1),
        "datasketch_docs": base_n,
        "ratio": round(ours / theirs, 2),
        "threads": args.threads,
        "docs_per_s_all_cores": round(ours_all, 1),
        "all_cores_threads": _default_threads(),
        "verify": ("exact" if settings.verify_exact else "signature") if settings.verify else "off",
        "recall": round(found / max(1, len(positives)), 4),
        "precision": round(correct / max(1, len(predicted)), 4),
        "precision_within_0.05": round(near / max(1, len(predicted)), 4),
        "planted_pairs": len(pairs),
        "planted_pairs_ge_threshold": len(positives),
        "predicted_pairs": len(predicted),
        "bands": bands,
        "rows": rows,
        "num_perm": settings.num_perm,
        "threshold": settings.threshold,
        "peak_rss_mb": round(rss_peak_ours, 1),
        "rss_growth_mb": round(rss_peak_ours - rss0, 1),
        "state_mb_per_million_docs": round(_state_bytes_per_doc(table, settings, bands, rows) * 1e6 / 2**20, 1),
        "stage_seconds": stats["seconds"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
