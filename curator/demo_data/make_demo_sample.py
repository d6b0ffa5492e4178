"""Developer script: write ``web_sample.jsonl.gz``, the real web sample the demo build runs on.

Run once from the repository root (it reads the shared data directory; the package never does)::

    .venv/bin/python -m curator.demo_data.make_demo_sample [--shared ../shared]

Sources (both Apache-2.0 test data of allenai/dolma, see README.md here):

* ``data/web/dolma_cc_samples.jsonl``: 700 raw Common Crawl documents. Kept: every document py3langid
  calls English with probability >= 0.5 and at most ``MAX_EN_CHARS`` characters, a fixed random sample
  of ``N_OTHER`` of the rest (other languages, or English with a low language score) of at most
  ``MAX_OTHER_CHARS`` characters, and every copy of a text that occurs more than once (real exact
  duplicates). Texts are unchanged.
* ``data/web/warc/sample-000[01].warc.gz``: pages crawled with wget (researcher homepages, blog posts,
  organisation pages), turned into text by the project's own WARC reader (``curator.readers.warc``,
  default extraction settings), every page kept, duplicates included.

Not used: the FineWeb files in ``data/labeled/`` (they train the default classifier), the gensim corpus
(LGPL), ``common_crawl_sample.warc.gz`` (mostly adult/gambling spam; not wanted in a package).
The output is deterministic (fixed seed, gzip mtime 0).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
from collections import Counter
from pathlib import Path

MAX_EN_CHARS = 30_000
MAX_OTHER_CHARS = 5_000
N_OTHER = 150
SEED = 25
WARC_FILES = ("sample-0000.warc.gz", "sample-0001.warc.gz")


def _cc_rows(path: Path) -> list[dict]:
    from curator.langid import Py3LangidBatch

    with open(path, encoding="utf-8") as fh:  # not splitlines(): texts hold U+2028 and friends
        docs = [json.loads(line) for line in fh if line.strip()]
    langs, scores = Py3LangidBatch().classify([d["text"] for d in docs])
    copies = Counter(d["text"] for d in docs)
    english, other, dup = [], [], []
    for d, lang, score in zip(docs, langs, scores):
        if copies[d["text"]] > 1:
            dup.append(d)
        elif lang == "en" and score >= 0.5:
            if len(d["text"]) <= MAX_EN_CHARS:
                english.append(d)
        elif len(d["text"]) <= MAX_OTHER_CHARS:
            other.append(d)
    other = random.Random(SEED).sample(other, k=min(N_OTHER, len(other)))
    keep = {d["id"] for d in english + other + dup}
    return [
        {"id": d["id"], "text": d["text"], "url": d["url"], "origin": f"dolma_cc_samples:{d['subset']}"}
        for d in docs
        if d["id"] in keep
    ]


def _warc_rows(directory: Path) -> list[dict]:
    from curator.readers import read_shard
    from curator.readers.base import Shard

    rows = []
    for name in WARC_FILES:
        n = 0
        for docs, _quarantine in read_shard(Shard(str(directory / name), "warc")):
            for d in docs.to_pylist():
                rows.append(
                    {
                        "id": f"{name.split('.')[0]}-{n:03d}",
                        "text": d["text"],
                        "url": d["url"],
                        "crawl_date": d["crawl_date"],
                        "record_id": d["record_id"],
                        "origin": f"dolma_warc:{name}",
                    }
                )
                n += 1
    return rows


def build(shared: Path, out: Path) -> dict:
    """Write the sample; return a summary (rows per origin, bytes)."""
    rows = _cc_rows(shared / "data" / "web" / "dolma_cc_samples.jsonl") + _warc_rows(shared / "data" / "web" / "warc")
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8")
    tmp = out.with_suffix(".tmp")
    with open(tmp, "wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as fh:
        fh.write(data)
    tmp.replace(out)
    return {
        "rows": len(rows),
        "by_origin": dict(Counter(r["origin"].split(":")[0] for r in rows)),
        "text_chars": sum(len(r["text"]) for r in rows),
        "bytes": out.stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[3] / "shared")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("web_sample.jsonl.gz"))
    args = parser.parse_args()
    print(json.dumps(build(args.shared, args.out)))


if __name__ == "__main__":
    main()
