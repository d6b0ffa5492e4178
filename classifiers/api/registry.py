"""The models a server loaded at start, by registered name, each with its micro-batcher.

Names come from :class:`~classifiers.api.settings.ApiSettings.models`; a request can only pick one of
these names. Nothing a request sends is ever used as a path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from classifiers.api.batcher import MicroBatcher, ProcessScorer, ThreadScorer
from classifiers.api.metrics import ApiMetrics
from classifiers.api.settings import ApiSettings

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """One served model: its registered name, classifier (for version and card) and batcher."""

    name: str
    classifier: Any
    batcher: MicroBatcher

    @property
    def version(self) -> str:
        return str(self.classifier.version)

    @property
    def backend(self) -> str:
        return str(getattr(self.classifier, "backend", ""))

    def card(self) -> dict:
        card = getattr(self.classifier, "card", None)
        if card is None:
            return {}
        if hasattr(card, "model_dump"):
            return card.model_dump(mode="json")
        if isinstance(card, dict):
            return card
        from dataclasses import asdict, is_dataclass

        return asdict(card) if is_dataclass(card) else {"repr": repr(card)}


class ModelRegistry:
    """Loads every configured model once, starts its scorer and batchers, and looks models up by name.

    Args:
        settings: the API settings.
        metrics: where batch sizes are recorded.
        loader: ``spec -> classifier``; default :func:`classifiers.load_classifier`. With a custom
            loader the scorer runs in a thread (a child process could not rebuild the objects).
    """

    def __init__(self, settings: ApiSettings, metrics: ApiMetrics, loader: Callable[[str], Any] | None = None) -> None:
        self.settings = settings
        self.metrics = metrics
        self._loader = loader
        self.models: dict[str, LoadedModel] = {}
        self.scorer: ThreadScorer | ProcessScorer | None = None
        self.ready = False

    async def load(self) -> None:
        loader = self._loader
        if loader is None:
            from classifiers import load_classifier

            loader = load_classifier
        classifiers = {}
        for name, spec in self.settings.models.items():
            log.info("loading model %r from %s", name, spec)
            classifiers[name] = await asyncio.to_thread(loader, spec)
        if self.settings.scoring_executor == "process" and self._loader is None:
            self.scorer = ProcessScorer(self.settings.models)
            inflight = self.settings.max_inflight_batches
        else:
            self.scorer = ThreadScorer(classifiers)
            inflight = 1  # one thread: a second call in flight would only wait
        await self.scorer.start()
        for name, clf in classifiers.items():
            batcher = MicroBatcher(
                self._predict_fn(name),
                max_docs=self.settings.batch_max_docs,
                max_wait_s=self.settings.batch_max_wait_ms / 1000.0,
                max_inflight=inflight,
                on_batch=self.metrics.batch_docs.labels(name).observe,
            )
            batcher.start()
            self.models[name] = LoadedModel(name, clf, batcher)
        self.ready = True

    def _predict_fn(self, name: str):
        async def _predict(texts: list[str]):
            return await self.scorer.predict(name, texts)

        return _predict

    def is_ready(self) -> bool:
        return self.ready and self.scorer is not None and self.scorer.alive()

    def get(self, name: str | None) -> LoadedModel | None:
        return self.models.get(name or self.settings.default_model)

    async def close(self) -> None:
        self.ready = False
        for m in self.models.values():
            await m.batcher.stop()
        if self.scorer is not None:
            await self.scorer.aclose()
