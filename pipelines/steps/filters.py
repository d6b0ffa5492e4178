"""The build's filters, each a :class:`~curator.stage.Filter` beside the rule it applies.

* :class:`HeuristicFilter`: rows with no heuristic flag (reason: the first failing rule);
* :class:`UrlFilter`: URLs not on the blocklist (:mod:`curator.urlfilter`);
* :class:`LanguageFilter`: allowed languages at ``language.min_score`` (:mod:`curator.langid`; its
  annotating stage is :func:`language_id_stage`);
* :class:`ScoreThreshold`: ``edu_score >= min_score`` (phase 1: ``thresholds.phase1_min_score``; the
  phase-2 cut and synthesis seeds use the same predicate).
"""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from curator import schema as S
from curator.settings import BuildConfig
from curator.stage import Filter, Stage


def passed_heuristics(table: pa.Table) -> pa.Array:
    """True where a row's ``heuristic_flags`` list is empty."""
    return pc.equal(pc.list_value_length(table.column(S.HEURISTIC_FLAGS)), 0)


def score_at_least(table: pa.Table, min_score: float) -> pa.Array:
    """True where ``edu_score >= min_score`` (a null score never passes)."""
    return pc.fill_null(pc.greater_equal(table.column(S.EDU_SCORE), min_score), False)


class HeuristicFilter(Filter):
    """Keep documents no heuristic rule flagged; the reason is the first failing rule."""

    name: ClassVar[str] = "heuristic_filter"
    input_columns: ClassVar[tuple[str, ...]] = (S.HEURISTIC_FLAGS,)

    def keep(self, batch: pa.Table) -> pa.Array:
        return passed_heuristics(batch)

    def reason(self, dropped: pa.Table) -> pa.Array:
        flags = dropped.column(S.HEURISTIC_FLAGS)
        return pc.list_element(flags, 0) if dropped.num_rows else pa.array([], pa.string())


class UrlFilter(Filter):
    """Drop documents whose URL is on the blocklist (reasons ``blocked_domain``/``_keyword``/``_pattern``,
    ``missing_url``). The blocklist loads on the driver first, so a bad file fails before any task."""

    name: ClassVar[str] = "url_filter"

    def __init__(self, settings: dict | None = None) -> None:
        super().__init__()
        self.settings = settings or {}
        self._blocklist = None

    @classmethod
    def from_config(cls, config: BuildConfig) -> UrlFilter:
        flt = cls(config.url_filter.model_dump(mode="json"))
        flt.setup()  # fail fast on the driver
        return flt

    def setup(self) -> None:
        from curator.settings import UrlFilterSettings
        from curator.urlfilter import load_blocklist

        if self._blocklist is None:
            self._blocklist = load_blocklist(UrlFilterSettings.model_validate(self.settings))

    def keep(self, batch: pa.Table) -> pa.Array:
        from curator.urlfilter import url_keep

        return url_keep(batch, self._blocklist)

    def reason(self, dropped: pa.Table) -> pa.Array:
        from curator.urlfilter import url_block_reasons

        return url_block_reasons(dropped, self._blocklist)

    def stats(self) -> dict:
        return {"blocklist": self._blocklist.summary()}


def language_id_stage(config: BuildConfig) -> Stage:
    """``language``/``language_score`` for every row (the model loads once per worker process)."""
    from curator.langid import LanguageIdStage

    return LanguageIdStage(settings=config.language.model_dump(mode="json"))


class LanguageFilter(Filter):
    """Keep allowed languages with score >= ``min_score``; reasons ``lang:<code>`` / ``low_language_score``."""

    name: ClassVar[str] = "language_filter"
    input_columns: ClassVar[tuple[str, ...]] = (S.LANGUAGE, S.LANGUAGE_SCORE)

    def __init__(self, settings: dict | None = None) -> None:
        super().__init__()
        self.settings = settings or {}

    @classmethod
    def from_config(cls, config: BuildConfig) -> LanguageFilter:
        return cls(config.language.model_dump(mode="json"))

    def _cfg(self):
        from curator.settings import LanguageSettings

        if getattr(self, "_validated", None) is None:
            self._validated = LanguageSettings.model_validate(self.settings)
        return self._validated

    def keep(self, batch: pa.Table) -> pa.Array:
        from curator.langid import language_keep

        return language_keep(batch, self._cfg())

    def reason(self, dropped: pa.Table):
        from curator.langid import language_reason

        return language_reason(self._cfg())(dropped)

    def stats(self) -> dict:
        cfg = self._cfg()
        return {"languages": cfg.languages, "min_score": cfg.min_score, "backend": cfg.backend}


class ScoreThreshold(Filter):
    """Keep ``edu_score >= min_score``; the reason reads ``edu_score < <min_score>``."""

    name: ClassVar[str] = "thresholds"
    input_columns: ClassVar[tuple[str, ...]] = (S.EDU_SCORE,)

    def __init__(self, min_score: float) -> None:
        super().__init__()
        self.min_score = min_score

    @classmethod
    def from_config(cls, config: BuildConfig) -> ScoreThreshold:
        return cls(config.thresholds.phase1_min_score)

    def keep(self, batch: pa.Table) -> pa.Array:
        return score_at_least(batch, self.min_score)

    def reason(self, dropped: pa.Table) -> str:
        return f"edu_score < {self.min_score}"
