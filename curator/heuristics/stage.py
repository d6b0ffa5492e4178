"""The heuristics stage: adds ``n_chars``, ``n_words`` and ``heuristic_flags`` to a batch.

It only annotates; dropping flagged documents is the pipeline's separate filter step, which
counts drops per rule (a document's first failing rule is its drop reason).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.heuristics.rules import batch_text_stats, failed_rules_of
from curator.settings import HeuristicSettings
from curator.stage import STAGE_CPUS, Resources, Stage


class HeuristicStage(Stage):
    name = "heuristics"
    input_columns = (S.TEXT,)
    output_columns = (S.N_CHARS, S.N_WORDS, S.HEURISTIC_FLAGS)
    resources = Resources(num_cpus=STAGE_CPUS, batch_size=2048)

    def __init__(self, settings: dict | HeuristicSettings | None = None, first_only: bool = True) -> None:
        super().__init__()
        self.settings = (
            settings if isinstance(settings, HeuristicSettings) else HeuristicSettings.model_validate(settings or {})
        )
        self.first_only = first_only

    def process(self, batch: pa.Table) -> pa.Table:
        texts = batch.column(S.TEXT).to_pylist()
        cfg = self.settings
        if cfg.enabled:
            stats = batch_text_stats(texts, cfg)
            flags = [failed_rules_of(s, cfg, self.first_only) for s in stats]
            n_words = pa.array([s.n_words for s in stats], type=pa.int64())
        else:
            flags = [[] for _ in texts]
            n_words = pa.array([len(t.split()) for t in texts], type=pa.int64())
        n_chars = pc.utf8_length(batch.column(S.TEXT)).cast(pa.int64())
        out = batch
        for name, arr in (
            (S.N_CHARS, n_chars),
            (S.N_WORDS, n_words),
            (S.HEURISTIC_FLAGS, pa.array(flags, type=pa.list_(pa.string()))),
        ):
            if name in out.column_names:
                out = out.drop_columns([name])
            out = out.append_column(name, arr)
        return out
