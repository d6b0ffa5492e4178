"""The built-in demo corpus: a small real web sample shipped with the package, plus a few planted documents.

Real (``curator/demo_data/web_sample.jsonl.gz``, see the README there): 491 web documents, unchanged --
454 raw Common Crawl documents (English, about 150 in other languages, real exact duplicates) and 37 pages
from two small WARC crawls, all Apache-2.0 test data of allenai/dolma. The demo's edu_score histogram is
therefore the default classifier on real web text, not on templates.

Planted at run time (:func:`demo_documents`), so every step of a build has something to find:

* ``near_duplicate``: mirror copies of real English documents (header and footer lines added, about 1% of
  the words replaced) beside their originals (fuzzy dedup);
* ``contaminated``: one real English document with a GSM8K item appended (decontamination; the item is in
  the three-item benchmark :func:`write_demo_benchmark` writes);
* malformed lines in the first shard: bad JSON, bad UTF-8, empty text, an oversized document, no text field
  (quarantine).

Each row carries a ``kind`` field (``web``, ``near_duplicate``, ``contaminated``) and an ``origin`` field;
the build ignores both. :func:`synthetic_corpus` is the fully synthetic corpus the demo used before
(Python reference-manual prose, spam and boilerplate templates): tests that need documents labelled by
kind still use it.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

SPAM_TEMPLATES = [
    "BUY {product} NOW!!! Best price ${price} only today. Click here {url} to get {pct}% OFF. Limited offer, "
    "free shipping, cheap {product} deals, {product} discount, {product} sale. Order now and win a free {gift}! "
    "Best {product} online.",
    "Hot singles in {city} want to meet you. Click {url} now. Free registration, no credit card. {city} dating, "
    "{city} chat, meet {city} girls tonight. Join now!!! Call {phone}.",
    "Online casino {brand} - get {pct} free spins and a ${price} bonus. Slots, poker, roulette. Play now at {url}. "
    "Win big, jackpot {price}, casino bonus codes, {brand} casino review, {brand} promo code.",
    "Cheap {product} for sale. {product} {product} {product}. Wholesale {product}, {product} price, buy {product}, "
    "best {product}, {product} shop {city}. Contact {phone} or visit {url}.",
]
BOILERPLATE_LINES = [
    "Home",
    "About us",
    "Contact",
    "Privacy policy",
    "Terms of use",
    "Sitemap",
    "Login",
    "Register",
    "Cart (0)",
    "We use cookies to improve your experience. Accept all",
    "Cookie settings",
    "Subscribe to our newsletter",
    "Follow us on social media",
    "All rights reserved",
    "Skip to main content",
    "Search",
    "Menu",
    "Share this page",
    "Previous",
    "Next",
    "Read more",
    "Back to top",
    "Language: English",
    "Customer service",
    "FAQ",
    "Careers",
]
PRODUCTS = ["watches", "sneakers", "phones", "pills", "handbags", "sunglasses", "laptops", "perfume", "jerseys"]
CITIES = ["Springfield", "Riverton", "Lakeside", "Fairview", "Greenville", "Oakdale", "Milton"]
BRANDS = ["LuckyStar", "GoldSpin", "MegaWin", "RoyalBet", "JackpotCity"]
GIFTS = ["iPad", "gift card", "vacation", "smartwatch"]
# A benchmark-like item planted once, so decontamination has something to find.
CONTAMINATED = (
    "Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. "
    "How many clips did Natalia sell altogether in April and May? Natalia sold 48/2 = 24 clips in May. "
    "Natalia sold 48+24 = 72 clips altogether in April and May."
)


def educational_passages(min_chars: int = 600, max_chars: int = 2600) -> list[tuple[str, str]]:
    """(topic, passage) pairs of unwrapped reference-manual prose, roughly 0.6-2.6 KB each."""
    from pydoc_data.topics import topics

    out: list[tuple[str, str]] = []
    for topic in sorted(topics):
        paragraphs = []
        for block in re.split(r"\n\s*\n", topics[topic]):
            lines = [ln.strip() for ln in block.splitlines()]
            if not lines or lines[0].startswith((">>>", "***", "===", "---")) or set(lines[-1]) <= set("*=-^"):
                continue
            if block.startswith("   "):  # code sample or grammar: keep out of prose
                continue
            para = " ".join(ln for ln in lines if ln)
            if len(para.split()) >= 8:
                paragraphs.append(para)
        chunk: list[str] = []
        size = 0
        for para in paragraphs:
            chunk.append(para)
            size += len(para)
            if size >= min_chars:
                out.append((topic, "\n\n".join(chunk)[:max_chars]))
                chunk, size = [], 0
    return out


def _spam(rng: random.Random) -> str:
    return " ".join(_spam_sentence(rng) for _ in range(rng.randint(2, 4)))


def _spam_sentence(rng: random.Random) -> str:
    t = rng.choice(SPAM_TEMPLATES)
    return t.format(
        product=rng.choice(PRODUCTS),
        price=rng.randint(9, 999),
        url=f"http://{rng.choice(BRANDS).lower()}{rng.randint(1, 99)}.example",
        pct=rng.choice([30, 50, 70, 90]),
        gift=rng.choice(GIFTS),
        city=rng.choice(CITIES),
        phone=f"555-{rng.randint(1000, 9999)}",
        brand=rng.choice(BRANDS),
    )


def _boilerplate(rng: random.Random) -> str:
    return "\n".join(rng.sample(BOILERPLATE_LINES, k=rng.randint(8, 16)))


def _near_duplicate(text: str, rng: random.Random, edit_frac: float = 0.05) -> str:
    words = text.split(" ")
    for _ in range(max(1, int(len(words) * edit_frac))):
        i = rng.randrange(len(words))
        words[i] = rng.choice(["the", "a", "this", "its", "an", "which", "also"])
    return " ".join(words)


def synthetic_corpus(
    seed: int = 0, n_spam: int = 120, n_boilerplate: int = 80, n_short: int = 30, n_exact: int = 25, n_near: int = 25
) -> list[dict]:
    """The former, fully synthetic demo corpus as dicts with ``id``, ``text``, ``url`` and ``kind``.

    Kinds: ``educational`` (reference-manual prose), ``spam``, ``boilerplate``, ``short``, ``exact_duplicate``,
    ``near_duplicate``, ``contaminated``. Not the demo any more (see :func:`demo_documents`); kept for tests
    and benchmarks that need documents labelled by what they were made as.
    """
    rng = random.Random(seed)
    rows: list[dict] = []
    edu = educational_passages()
    for i, (topic, text) in enumerate(edu):
        rows.append(
            {
                "id": f"edu-{i:04d}",
                "text": text,
                "url": f"https://docs.example.org/reference/{topic}",
                "kind": "educational",
            }
        )
    for i in range(n_spam):
        rows.append({"id": f"spam-{i:04d}", "text": _spam(rng), "url": f"http://spam{i}.example/", "kind": "spam"})
    for i in range(n_boilerplate):
        rows.append(
            {
                "id": f"boiler-{i:04d}",
                "text": _boilerplate(rng),
                "url": f"http://site{i}.example/",
                "kind": "boilerplate",
            }
        )
    for i in range(n_short):
        rows.append(
            {
                "id": f"short-{i:04d}",
                "text": rng.choice(["Click here.", "Page not found", "Loading...", "404", "OK thanks!"]),
                "url": None,
                "kind": "short",
            }
        )
    for i, (_, text) in enumerate(rng.sample(edu, k=min(n_exact, len(edu)))):
        rows.append(
            {"id": f"exact-{i:04d}", "text": text, "url": f"https://mirror.example.net/{i}", "kind": "exact_duplicate"}
        )
    for i, (_, text) in enumerate(rng.sample(edu, k=min(n_near, len(edu)))):
        rows.append(
            {
                "id": f"near-{i:04d}",
                "text": _near_duplicate(text, rng),
                "url": f"https://copy.example.net/{i}",
                "kind": "near_duplicate",
            }
        )
    filler = edu[0][1]
    rows.append(
        {
            "id": "contaminated-0000",
            "text": filler[:800] + "\n\n" + CONTAMINATED,
            "url": "https://quiz.example/",
            "kind": "contaminated",
        }
    )
    rng.shuffle(rows)
    return rows


# Before issue 25 the demo was the synthetic corpus; the old name stays for callers that want labelled kinds.
generate_demo_corpus = synthetic_corpus


def web_sample() -> list[dict]:
    """The shipped real web sample (``curator/demo_data/web_sample.jsonl.gz``) as dicts, in file order."""
    import gzip

    from curator.demo_data import SAMPLE

    with gzip.open(SAMPLE, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _englishlike(text: str, min_words: int, max_words: int) -> bool:
    n = len(text.split())
    letters = [c for c in text if c.isalpha()]
    return min_words <= n <= max_words and bool(letters) and sum(c.isascii() for c in letters) / len(letters) > 0.99


def demo_documents(seed: int = 0, n_near: int = 15) -> list[dict]:
    """The demo documents: the real web sample, ``n_near`` planted near-duplicates and one contaminated document.

    Planted documents are made from real English-looking documents (150-3,000 words, ASCII letters): the
    near-duplicates are new rows (``near-NNNN``, a mirror URL) beside their originals, as a mirror site
    copies a page: a header line, about 1% of the words replaced, a "Copied from" footer; the contaminated
    one replaces its original (same id) with the GSM8K item appended. Order is shuffled with ``seed``.
    """
    rng = random.Random(seed)
    rows = [{**r, "kind": "web"} for r in web_sample()]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["text"]] = counts.get(r["text"], 0) + 1
    candidates = [i for i, r in enumerate(rows) if counts[r["text"]] == 1 and _englishlike(r["text"], 150, 3000)]
    picked = rng.sample(candidates, k=min(n_near + 1, len(candidates)))
    contaminated, near = picked[0], picked[1:]
    r = rows[contaminated]
    text = r["text"].rstrip() + "\n\n" + CONTAMINATED
    rows[contaminated] = {**r, "text": text, "origin": r["origin"] + "+planted:gsm8k", "kind": "contaminated"}
    for j, i in enumerate(near):
        src = rows[i]
        copy = _near_duplicate(src["text"], rng, edit_frac=0.01)
        rows.append(
            {
                "id": f"near-{j:04d}",
                "text": f"Mirror {j} | Home | Archive\n\n{copy}\n\nCopied from {src['url']}",
                "url": f"https://mirror.example.net/{j}",
                "origin": f"planted:near_duplicate_of:{src['id']}",
                "kind": "near_duplicate",
            }
        )
    rng.shuffle(rows)
    return rows


def write_demo_input(directory: str | Path, seed: int = 0, shards: int = 2) -> list[Path]:
    """Write the demo documents as JSONL shards (one gzipped) plus malformed lines; return the paths."""
    import gzip

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rows = demo_documents(seed)
    paths = []
    per = (len(rows) + shards - 1) // shards
    for s in range(shards):
        part = rows[s * per : (s + 1) * per]
        lines = [json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in part]
        if s == 0:  # bad input is counted and quarantined, never fatal
            lines.insert(3, b'{"id": "broken", "text": "unterminated\n')
            lines.insert(7, b'{"id": "latin1", "text": "caf\xe9"}\n')
            lines.insert(11, json.dumps({"id": "empty", "text": "   "}).encode() + b"\n")
            lines.insert(13, json.dumps({"id": "huge", "text": "word " * 300_000}).encode() + b"\n")
            lines.insert(17, json.dumps({"id": "notext", "body": "no text field"}).encode() + b"\n")
        path = directory / (f"demo-{s:02d}.jsonl.gz" if s % 2 else f"demo-{s:02d}.jsonl")
        tmp = path.with_suffix(path.suffix + ".tmp")
        if path.name.endswith(".gz"):
            with gzip.open(tmp, "wb") as fh:
                fh.writelines(lines)
        else:
            tmp.write_bytes(b"".join(lines))
        tmp.replace(path)
        paths.append(path)
    return paths


def demo_config(directory: str | Path, seed: int = 0, **overrides):
    """Write the demo input under ``directory`` and return the build config that `curator build` (no CONFIG) uses.

    ``overrides`` are merged into the config sections, e.g. ``demo_config(d, dedup={"fuzzy": {"enabled": False}})``.
    """
    from curator.settings import _deep_merge, load_config

    paths = write_demo_input(directory, seed=seed)
    bench = write_demo_benchmark(Path(directory) / "benchmarks" / "demo_benchmark.jsonl")
    base = {
        "name": "demo",
        "input": {"paths": [str(p) for p in paths]},
        "decontam": {"enabled": True, "benchmarks": [str(bench)]},
    }
    return load_config(None, _deep_merge(base, overrides))


def write_demo_benchmark(path: str | Path) -> Path:
    """A three-item benchmark file (GSM8K-style) for the demo's decontamination step.

    One item is planted in the corpus.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    items = [
        {"id": "demo-0", "question": CONTAMINATED.split("? ")[0] + "?", "answer": CONTAMINATED.split("? ")[1]},
        {
            "id": "demo-1",
            "question": (
                "A baker fills 14 trays with 12 rolls each and sells all but 9 rolls. "
                "How many rolls did the baker sell?"
            ),
            "answer": "14*12 = 168 rolls were baked. 168-9 = 159 rolls were sold.",
        },
        {
            "id": "demo-2",
            "question": (
                "A train travels 300 kilometres in 4 hours at a constant speed. How far does it travel in 7 hours?"
            ),
            "answer": "The speed is 300/4 = 75 km per hour, so in 7 hours it travels 75*7 = 525 km.",
        },
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    tmp.replace(path)
    return path


def write_mixed_format_shards(root: str | Path, copies: int = 10) -> tuple[list[Path], int]:
    """Six shards of :func:`synthetic_corpus` documents (``copies`` seeds) in four formats: plain, 3x gzip and zstd
    JSONL, and Parquet; returns (paths, records). Input for dry-run tests and ``benchmarks/bench_dry_run.py``."""
    import gzip

    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    rows = [r for c in range(copies) for r in ({**d, "id": f"{d['id']}-{c}"} for d in synthetic_corpus(seed=c))]
    per = len(rows) // 6
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(6):
        part = rows[i * per : (i + 1) * per]
        blob = b"".join(json.dumps(r).encode() + b"\n" for r in part)
        if i == 0:
            p = root / "s0.jsonl"
            p.write_bytes(blob)
        elif i <= 3:
            p = root / f"s{i}.jsonl.gz"
            p.write_bytes(gzip.compress(blob))
        elif i == 4:
            p = root / "s4.jsonl.zst"
            p.write_bytes(zstandard.ZstdCompressor().compress(blob))
        else:
            p = root / "s5.parquet"
            pq.write_table(pa.Table.from_pylist(part), p)
        paths.append(p)
    return paths, per * 6
