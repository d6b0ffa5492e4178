"""The benchmark n-gram index: hashed word n-grams of every benchmark item, and where each came from.

Items are read from JSONL files (one item per line). An item's text is its ``text`` field when present,
else the other configured fields joined (``question``, ``answer``, ``options``/``choices`` lists, ...);
GSM8K calculator annotations ``<<...>>`` are dropped. Texts are normalized and hashed exactly like
documents (:mod:`curator.dedup.normalize`), so a document n-gram matches an item n-gram iff the
normalized words are equal. The index is three parallel numpy arrays sorted by hash (``uint64``
hashes, ``int32`` item numbers, ``int32`` word positions); lookups are ``np.searchsorted``.
Items shorter than ``ngram`` words cannot be indexed and are counted in ``short_items``; n-grams
that are mostly numbers are not indexed (they match any page that lists numbers).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import xxhash

from curator.dedup.normalize import ngram_hashes, word_hashes
from curator.exceptions import InputError

_CALC = re.compile(r"<<[^>]*>>")
PREFILTER_BITS = 24  # 2**24 booleans = 16 MB per index holder
_ID_FIELDS = ("id", "question_id", "qid", "idx", "uid")


def item_text(row: dict, fields: list[str]) -> str:
    """The indexed text of one benchmark row (see the module docstring)."""
    if "text" in fields and isinstance(row.get("text"), str) and row["text"].strip():
        text = row["text"]
    else:
        parts: list[str] = []
        for f in fields:
            v = row.get(f)
            if isinstance(v, str):
                parts.append(v)
            elif isinstance(v, list):
                parts.extend(str(x) for x in v if x is not None)
        text = "\n".join(parts)
    return _CALC.sub("", text)


@dataclass
class NgramIndex:
    """Sorted n-gram hashes of benchmark items, with the item and word position of each."""

    ngram: int
    hashes: np.ndarray  # uint64, sorted
    items: np.ndarray  # int32 item number per hash
    positions: np.ndarray  # int32 word position of the n-gram in its item
    labels: list[str]  # "benchmark:item_id" per item number
    texts: list[str]  # item texts (for ratio confirmation)
    stats: dict = field(default_factory=dict)

    def _prefilter(self) -> np.ndarray:
        """A presence table over the top ``PREFILTER_BITS`` bits of the hashes (built once, not saved)."""
        table = self.__dict__.get("_present")
        if table is None:
            table = np.zeros(1 << PREFILTER_BITS, dtype=bool)
            table[self.hashes >> np.uint64(64 - PREFILTER_BITS)] = True
            self.__dict__["_present"] = table
        return table

    def lookup(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(found mask, index position)`` of each query hash.

        Most document n-grams are in no benchmark: a 16 MB presence table on the top hash bits rules
        them out with one memory read each, and only the few left (~10% for a 2M-n-gram index) pay
        the binary search.
        """
        found = np.zeros(len(query), dtype=bool)
        pos = np.zeros(len(query), dtype=np.int64)
        if len(self.hashes) == 0 or len(query) == 0:
            return found, pos
        query = np.asarray(query, dtype=np.uint64)
        cand = np.nonzero(self._prefilter()[query >> np.uint64(64 - PREFILTER_BITS)])[0]
        q = query[cand]
        p = np.minimum(np.searchsorted(self.hashes, q), len(self.hashes) - 1)
        found[cand] = self.hashes[p] == q
        pos[cand] = p
        return found, pos

    def save(self, path: str | Path) -> None:
        np.savez_compressed(
            path,
            ngram=self.ngram,
            hashes=self.hashes,
            items=self.items,
            positions=self.positions,
            labels=np.array(self.labels, dtype=object),
            texts=np.array(self.texts, dtype=object),
            stats=json.dumps(self.stats),
        )

    @classmethod
    def load(cls, path: str | Path) -> "NgramIndex":
        z = np.load(path, allow_pickle=True)
        return cls(
            int(z["ngram"]),
            z["hashes"],
            z["items"],
            z["positions"],
            list(z["labels"]),
            list(z["texts"]),
            json.loads(str(z["stats"])),
        )


def read_items(path: str | Path, fields: list[str]) -> tuple[str, list[str], list[str]]:
    """``(benchmark name, item ids, item texts)`` of one JSONL file; the name is the file stem."""
    p = Path(path)
    try:
        lines = p.read_text(encoding="utf-8").split("\n")  # not splitlines(): U+2028 may sit inside strings
    except OSError as exc:
        raise InputError(f"cannot read benchmark file {p}: {exc.strerror}. Check decontam.benchmarks.") from exc
    ids, texts = [], []
    for n, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{p}:{n + 1} is not valid JSON ({exc.msg}); benchmark files must be JSONL") from exc
        item_id = next((str(row[k]) for k in _ID_FIELDS if row.get(k) is not None), str(n))
        ids.append(item_id)
        texts.append(item_text(row, fields))
    return p.stem, ids, texts


def build_index(items: list[tuple[str, list[str], list[str]]], ngram: int = 13) -> NgramIndex:
    """Index ``[(benchmark, ids, texts), ...]`` (e.g. from :func:`read_items`)."""
    labels = [f"{name}:{i}" for name, ids, _ in items for i in ids]
    texts = [t for _, _, ts in items for t in ts]
    words, w_off = word_hashes(pa.array(texts, pa.string()))
    grams, g_off, starts = ngram_hashes(words, w_off, ngram, short_docs="skip")
    item_of = np.repeat(np.arange(len(texts), dtype=np.int32), np.diff(g_off))
    # Drop low-information n-grams: more than half of the words are numbers (digit runs normalize to
    # "0", so "63,000 - 9,400 - 9,100 ..." would match any page listing numbers).
    zero = (words == np.uint64(xxhash.xxh64_intdigest(b"0"))).astype(np.int64)
    cz = np.concatenate([[0], np.cumsum(zero)])
    flat_start = w_off[:-1][item_of] + starts
    informative = (cz[flat_start + ngram] - cz[flat_start]) * 2 <= ngram
    grams, item_of, starts = grams[informative], item_of[informative], starts[informative]
    order = np.argsort(grams, kind="stable")
    hashes, item_of, starts = grams[order], item_of[order], starts[order].astype(np.int32)
    # one entry per distinct hash (the first item that has it)
    first = np.ones(len(hashes), dtype=bool)
    first[1:] = hashes[1:] != hashes[:-1]
    short = int(np.sum(np.diff(w_off) < ngram))
    stats = {"items": len(texts), "short_items": short, "ngrams": int(first.sum()), "ngram": ngram}
    return NgramIndex(ngram, hashes[first], item_of[first], starts[first], labels, texts, stats)


def load_benchmarks(
    paths: list[str], ngram: int = 13, fields: list[str] | None = None, cache: str | None = None
) -> NgramIndex:
    """Build (or load from ``cache``, an ``.npz``) the index of the benchmark files ``paths``."""
    fields = fields or ["text", "question", "options", "choices", "passage", "context", "answer"]
    if cache and Path(cache).exists():
        idx = NgramIndex.load(cache)
        if idx.ngram == ngram and idx.stats.get("sources") == sorted(map(str, paths)):
            return idx
    idx = build_index([read_items(p, fields) for p in paths], ngram)
    idx.stats["sources"] = sorted(map(str, paths))
    if cache:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        idx.save(cache)
    return idx
