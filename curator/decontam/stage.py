"""The decontamination stage: tag documents that share an n-gram with a benchmark item.

:class:`DecontamStage` builds (or loads) the :class:`~curator.decontam.index.NgramIndex` once per actor
in ``setup()``; per batch it hashes the documents' word n-grams (vectorized, same normalization as
the index), looks them up with ``np.searchsorted`` and sets ``contam_match`` = ``"benchmark:item_id"``
of the first matching item (null: clean). With ``confirm_ratio`` each hit is confirmed with a
``difflib`` ratio between the item's words and the document window aligned on the shared n-gram
(Cosmopedia: 10-grams, ratio > 0.5); up to ``max_candidates`` matched items are tried per document.
"""

from __future__ import annotations

import difflib

import numpy as np
import pyarrow as pa

from curator import schema as S
from curator.dedup.normalize import ngram_hashes, normalize_one, word_hashes
from curator.stage import STAGE_CPUS, Resources, Stage


class DecontamStage(Stage):
    """Adds ``contam_match`` to a document batch.

    Args:
        benchmarks: JSONL benchmark files.
        ngram: words per n-gram (13 by default; Cosmopedia used 10).
        fields: benchmark fields to index (see :func:`curator.decontam.index.item_text`).
        confirm_ratio: if set, a hit counts only if the difflib ratio exceeds it.
        index_cache: optional ``.npz`` to load/save the index.
        max_candidates: matched items tried per document when confirming.
        index: a prebuilt index (tests, in-process use); skips loading.
    """

    name = "decontam"
    input_columns = (S.TEXT,)
    output_columns = (S.CONTAM_MATCH,)
    resources = Resources(num_cpus=STAGE_CPUS, actors=1, batch_size=2048)

    def __init__(
        self,
        benchmarks: list[str] | None = None,
        ngram: int = 13,
        fields: list[str] | None = None,
        confirm_ratio: float | None = None,
        index_cache: str | None = None,
        max_candidates: int = 5,
        index=None,
    ) -> None:
        super().__init__()
        self.benchmarks = list(benchmarks or [])
        self.ngram, self.fields, self.confirm_ratio = ngram, fields, confirm_ratio
        self.index_cache, self.max_candidates = index_cache, max_candidates
        self.index = index

    def setup(self) -> None:
        if self.index is None:
            from curator.decontam.index import load_benchmarks

            self.index = load_benchmarks(self.benchmarks, self.ngram, self.fields, self.index_cache)

    def _confirm(self, text: str, item: int, doc_pos: int, item_pos: int) -> bool:
        doc_words = normalize_one(text).split()
        item_words = normalize_one(self.index.texts[item]).split()
        start = max(0, doc_pos - item_pos)
        window = doc_words[start : start + len(item_words)]
        ratio = difflib.SequenceMatcher(None, item_words, window, autojunk=False).ratio()
        return ratio > self.confirm_ratio

    def process(self, batch: pa.Table) -> pa.Table:
        idx = self.index
        n = batch.num_rows
        words, w_off = word_hashes(batch.column(S.TEXT))
        grams, g_off, starts = ngram_hashes(words, w_off, idx.ngram, short_docs="skip")
        found, pos = idx.lookup(grams)
        matches: list[str | None] = [None] * n
        hit_at = np.nonzero(found)[0]
        if len(hit_at):
            doc_of = np.searchsorted(g_off, hit_at, side="right") - 1
            texts = batch.column(S.TEXT)
            for d in np.unique(doc_of):
                sel = hit_at[doc_of == d]
                items = idx.items[pos[sel]]
                if self.confirm_ratio is None:
                    matches[d] = idx.labels[int(items[0])]
                    continue
                _, first = np.unique(items, return_index=True)
                for f in sorted(first)[: self.max_candidates]:
                    k = sel[f]
                    if self._confirm(
                        texts[int(d)].as_py() or "", int(items[f]), int(starts[k]), int(idx.positions[pos[k]])
                    ):
                        matches[d] = idx.labels[int(items[f])]
                        break
        col = pa.array(matches, pa.string())
        if S.CONTAM_MATCH in batch.column_names:
            return batch.set_column(batch.column_names.index(S.CONTAM_MATCH), S.CONTAM_MATCH, col)
        return batch.append_column(S.CONTAM_MATCH, col)
