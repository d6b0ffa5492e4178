"""Decontamination benchmark: benchmark passages planted in real web text, recall and false positives.

Benchmarks: ../shared/data/benchmarks/gsm8k.jsonl and mmlu_pro.jsonl (the default 13-gram index over
both, as a build with ``decontam.benchmarks`` set to these files uses it). Web text: the English
documents of ../shared/data/web (``benchmarks/_data.py``), mixed at random to reach ``--docs``.
``--planted`` documents get one benchmark passage inserted at a sentence boundary, in three kinds:
the whole item; a window of 30 consecutive words of it (partial leakage); the whole item re-cased,
re-spaced and re-punctuated (what HTML extraction does to a copied page). The rest are clean.

Baseline, same documents, same run: the plain approach of the GPT-3 / Cosmopedia scripts, a Python
``set`` of every benchmark 13-gram string (lowercased, punctuation stripped) and a lookup of every
document 13-gram. Prints ONE JSON line: ``recall`` overall and per kind (goal >= 0.99),
``recall_indexable`` (over passages with at least one informative 13-gram; all-number passages
cannot be indexed by design: their n-grams match any page of numbers) and ``unindexable_planted``,
``false_positives`` on unplanted documents, our ``docs_per_s`` (index load excluded, reported apart),
``baseline_docs_per_s``, ``ratio`` (ours / baseline), and the baseline's recall and false positives.
With ``--confirm 0.5`` hits are also confirmed by a difflib ratio (Cosmopedia's rule).

    .venv/bin/python benchmarks/bench_decontam.py [--docs 20000] [--planted 1000] [--confirm 0.5]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import pyarrow as pa  # noqa: E402
from _data import base_texts  # noqa: E402

from curator import schema as S  # noqa: E402
from curator.decontam import decontaminate, load_benchmarks  # noqa: E402
from curator.decontam.index import item_text  # noqa: E402
from curator.settings import DecontamSettings  # noqa: E402

BENCH = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks"
FILES = [BENCH / "gsm8k.jsonl", BENCH / "mmlu_pro.jsonl"]
FIELDS = DecontamSettings().fields
KINDS = ("whole", "window30", "reformatted")
_PUNCT = re.compile(r"[^\w\s]")


def _items() -> list[tuple[str, str]]:
    out = []
    for f in FILES:
        for line in open(f, encoding="utf-8"):
            row = json.loads(line)
            text = item_text(row, FIELDS)
            if len(text.split()) >= 20:  # shorter items hold too few 13-grams to plant a window of
                out.append((f"{f.stem}:{row.get('id')}", text))
    return out


def _reformat(text: str, rng: random.Random) -> str:
    words = text.split()
    words = [w.upper() if rng.random() < 0.1 else (w.lower() if rng.random() < 0.5 else w.capitalize()) for w in words]
    out = []
    for w in words:
        out.append(w)
        out.append(rng.choice(["  ", " ", "\n", " , "]) if rng.random() < 0.08 else " ")
    return "".join(out)


def _plant(doc: str, passage: str, rng: random.Random) -> str:
    cuts = [m.end() for m in re.finditer(r"[.!?]\s", doc)] or [len(doc)]
    at = rng.choice(cuts)
    return doc[:at] + "\n" + passage + "\n" + doc[at:]


def build_corpus(n_docs: int, n_planted: int, seed: int = 0):
    rng = random.Random(seed)
    base = base_texts()
    sentences = [s for t in base for s in t.replace("\n", " ").split(". ") if len(s.split()) >= 6]
    docs = list(base)
    while len(docs) < n_docs:
        docs.append(". ".join(rng.sample(sentences, rng.randint(10, 20))) + ".")
    docs = docs[:n_docs]
    items = _items()
    planted = {}  # doc index -> (kind, label)
    for k, i in enumerate(rng.sample(range(n_docs), n_planted)):
        label, text = rng.choice(items)
        kind = KINDS[k % len(KINDS)]
        if kind == "window30":
            w = text.split()
            s = rng.randint(0, max(0, len(w) - 30))
            passage = " ".join(w[s : s + 30])
        elif kind == "reformatted":
            passage = _reformat(text, rng)
        else:
            passage = text
        docs[i] = _plant(docs[i], passage, rng)
        planted[i] = (kind, label, passage)
    return docs, planted, len(items)


def _norm_words(text: str) -> list[str]:
    return _PUNCT.sub(" ", text.lower()).split()


def baseline(docs: list[str], n: int = 13) -> tuple[list[bool], float, float]:
    """A set of benchmark n-gram strings; returns (flag per doc, index seconds, scan seconds)."""
    t0 = time.perf_counter()
    grams: set[str] = set()
    for f in FILES:
        for line in open(f, encoding="utf-8"):
            w = _norm_words(item_text(json.loads(line), FIELDS))
            grams.update(" ".join(w[i : i + n]) for i in range(len(w) - n + 1))
    t1 = time.perf_counter()
    flags = []
    for d in docs:
        w = _norm_words(d)
        flags.append(any(" ".join(w[i : i + n]) in grams for i in range(len(w) - n + 1)))
    return flags, t1 - t0, time.perf_counter() - t1


def _score(flags: list[bool], planted: dict) -> dict:
    per_kind = {k: [0, 0] for k in KINDS}
    for i, (kind, *_rest) in planted.items():
        per_kind[kind][0] += bool(flags[i])
        per_kind[kind][1] += 1
    caught = sum(v[0] for v in per_kind.values())
    fp = sum(1 for i, f in enumerate(flags) if f and i not in planted)
    return {
        "recall": round(caught / max(1, len(planted)), 4),
        "recall_by_kind": {k: round(v[0] / max(1, v[1]), 4) for k, v in per_kind.items()},
        "false_positives": fp,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=20000)
    ap.add_argument("--planted", type=int, default=1000)
    ap.add_argument("--ngram", type=int, default=13)
    ap.add_argument("--confirm", type=float, default=None, help="difflib ratio to confirm hits (Cosmopedia: 0.5)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    docs, planted, n_items = build_corpus(args.docs, args.planted, args.seed)
    table = pa.table({S.ID: [f"d{i}" for i in range(len(docs))], S.TEXT: docs})
    settings = DecontamSettings(
        enabled=True, benchmarks=[str(f) for f in FILES], ngram=args.ngram, confirm_ratio=args.confirm, action="tag"
    )

    t0 = time.perf_counter()
    index = load_benchmarks(settings.benchmarks, settings.ngram, settings.fields)
    index_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    tagged, _removed, stats = decontaminate(table, settings, index=index)
    ours_s = time.perf_counter() - t1
    flags = [m is not None for m in tagged.column(S.CONTAM_MATCH).to_pylist()]
    ours = _score(flags, planted)
    # the matched item is the planted one (or an item sharing its n-grams: duplicated questions exist)
    right_item = sum(
        1 for i, (_, label, _p) in planted.items() if flags[i] and tagged.column(S.CONTAM_MATCH)[i].as_py() == label
    )
    # a passage with no informative n-gram (every 13-gram mostly numbers: digits normalize to 0) cannot
    # be indexed, by design: such n-grams match any page of numbers (see the baseline's false positives)
    alone, _, _ = decontaminate(
        pa.table({S.ID: [str(i) for i in planted], S.TEXT: [p for _, _, p in planted.values()]}), settings, index=index
    )
    indexable = {i for i, m in zip(planted, alone.column(S.CONTAM_MATCH).to_pylist()) if m is not None}
    recall_indexable = sum(flags[i] for i in indexable) / max(1, len(indexable))

    b_flags, b_index_s, b_scan_s = baseline(docs, args.ngram)
    base = _score(b_flags, planted)
    print(
        json.dumps(
            {
                "bench": "decontam",
                "docs": len(docs),
                "planted": len(planted),
                "benchmark_items": n_items,
                "ngram": args.ngram,
                "confirm_ratio": args.confirm,
                **ours,
                "recall_indexable": round(recall_indexable, 4),
                "unindexable_planted": len(planted) - len(indexable),
                "matched_planted_item": round(right_item / max(1, len(planted)), 4),
                "docs_per_s": round(len(docs) / ours_s),
                "index_seconds": round(index_s, 2),
                "index_ngrams": int(len(index.hashes)),
                "short_items": index.stats.get("short_items"),
                "baseline_docs_per_s": round(len(docs) / b_scan_s),
                "baseline_index_seconds": round(b_index_s, 2),
                "ratio": round(b_scan_s / ours_s, 2),
                "baseline_recall": base["recall"],
                "baseline_recall_by_kind": base["recall_by_kind"],
                "baseline_false_positives": base["false_positives"],
                "flagged": stats["flagged"],
            }
        )
    )


if __name__ == "__main__":
    main()
