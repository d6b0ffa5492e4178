"""Benchmark: HTML -> main text extractors against gold article text, and WARC reader throughput.

Reads the real news pages in ``../shared/data/web/aeb_news_html/`` (gold text in
``aeb_news_articles.jsonl``, field ``html_file``) and, for each candidate extractor
(resiliparse main-content, trafilatura when installed, naive all-visible-text baseline),
computes token-level precision/recall/F1 (bag-of-words overlap, micro-averaged per page then
averaged) and pages/s. Then streams ``../shared/data/web/warc/*.warc.gz`` through the WARC
reader (with the default extractor) and reports records/s.

Prints ONE JSON line. ``ratio`` = the chosen (default) extractor's F1 / the naive baseline's F1,
both measured in this run.

    .venv/bin/python benchmarks/bench_extraction.py [--data ../shared/data/web] [--max-pages 200]
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import re
import time
from collections import Counter
from pathlib import Path

from curator.extract import EXTRACTORS, decode_html, get_extractor
from curator.settings import ExtractSettings, InputSettings

_TOKEN = re.compile(r"\w+", re.UNICODE)


def tokens(text: str) -> Counter:
    return Counter(t.lower() for t in _TOKEN.findall(text))


def prf(pred: str, gold: str) -> tuple[float, float, float]:
    p, g = tokens(pred), tokens(gold)
    overlap = sum((p & g).values())
    prec = overlap / sum(p.values()) if p else 0.0
    rec = overlap / sum(g.values()) if g else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return prec, rec, f1


def load_pages(data: Path, max_pages: int) -> list[tuple[str, str]]:
    pages = []
    with open(data / "aeb_news_articles.jsonl", encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            path = data / row["html_file"]
            if not path.exists() or not row.get("text"):
                continue
            raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
            html = decode_html(raw)
            if html is not None:
                pages.append((html, row["text"]))
            if len(pages) >= max_pages:
                break
    return pages


def bench_extractor(name: str, pages: list[tuple[str, str]], budget_s: float) -> dict | None:
    try:
        fn = get_extractor(ExtractSettings(extractor=name))
    except Exception as exc:  # trafilatura not installed
        return {"name": name, "error": str(exc)[:200]}
    scores, t0, n = [], time.perf_counter(), 0
    for html, gold in pages:
        scores.append(prf(fn(html), gold))
        n += 1
        if time.perf_counter() - t0 > budget_s:
            break
    secs = time.perf_counter() - t0
    k = len(scores)
    return {
        "name": name,
        "pages": k,
        "precision": round(sum(s[0] for s in scores) / k, 4),
        "recall": round(sum(s[1] for s in scores) / k, 4),
        "f1": round(sum(s[2] for s in scores) / k, 4),
        "pages_per_s": round(n / secs, 1),
    }


def bench_warc(data: Path) -> dict:
    from curator.readers import Shard, read_shard

    files = sorted(glob.glob(str(data / "warc" / "*.warc.gz")))
    docs = quarantined = 0
    t0 = time.perf_counter()
    for f in files:
        for d, q in read_shard(Shard(f, "warc"), InputSettings()):
            docs += d.num_rows
            quarantined += q.num_rows
    secs = time.perf_counter() - t0
    total = docs + quarantined
    return {
        "files": len(files),
        "records": total,
        "documents": docs,
        "quarantined": quarantined,
        "records_per_s": round(total / secs, 1) if secs else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "web"))
    ap.add_argument("--max-pages", type=int, default=500)
    ap.add_argument("--budget-s", type=float, default=60.0, help="Time budget per extractor.")
    args = ap.parse_args()
    data = Path(args.data)
    pages = load_pages(data, args.max_pages)
    results = [bench_extractor(name, pages, args.budget_s) for name in EXTRACTORS]
    by = {r["name"]: r for r in results if "f1" in r}
    default = ExtractSettings().extractor
    best = max(by.values(), key=lambda r: r["f1"])
    print(
        json.dumps(
            {
                "benchmark": "extraction",
                "pages": len(pages),
                "extractors": results,
                "default": default,
                "best_f1": best["name"],
                "ratio": round(by[default]["f1"] / by["naive"]["f1"], 3),
                "ratio_of": "f1(default extractor) / f1(naive baseline)",
                "speed_ratio": round(by[default]["pages_per_s"] / by["naive"]["pages_per_s"], 3),
                "warc_reader": bench_warc(data),
            }
        )
    )


if __name__ == "__main__":
    main()
