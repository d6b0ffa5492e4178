"""Prometheus metrics of the API and the ASGI middleware that records them (`GET /metrics` serves them).

Each app has its own registry (several apps can live in one test process). When
``PROMETHEUS_MULTIPROC_DIR`` is set (``curator serve --workers N`` sets it), values are shared through
files and ``/metrics`` aggregates every worker process.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
UNMATCHED_ROUTE = "<unmatched>"


class ApiMetrics:
    """The API's counters and histograms.

    Attributes:
        requests: ``edu_curator_api_requests_total{route,method,status}``.
        latency: ``edu_curator_api_request_duration_seconds{route,method}``.
        documents: ``edu_curator_api_documents_scored_total{model}``.
        errors: ``edu_curator_api_errors_total{code}`` (the ``error.code`` of every error answer).
        batch_docs: ``edu_curator_api_model_batch_documents{model}``: documents per model call
            (shows how much the micro-batcher merges).
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "edu_curator_api_requests", "HTTP requests answered.", ["route", "method", "status"], registry=r
        )
        self.latency = Histogram(
            "edu_curator_api_request_duration_seconds",
            "Request latency.",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.documents = Counter("edu_curator_api_documents_scored", "Documents scored.", ["model"], registry=r)
        self.errors = Counter("edu_curator_api_errors", "Error answers by error code.", ["code"], registry=r)
        self.batch_docs = Histogram(
            "edu_curator_api_model_batch_documents",
            "Documents per model call.",
            ["model"],
            buckets=_BATCH_BUCKETS,
            registry=r,
        )

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type (all workers' values in multiprocess mode)."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry), CONTENT_TYPE_LATEST
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Pure ASGI middleware: counts every HTTP request by route template, method and status, and times it."""

    def __init__(self, app, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or UNMATCHED_ROUTE
            method = scope.get("method", "")
            self.metrics.requests.labels(path, method, str(status)).inc()
            self.metrics.latency.labels(path, method).observe(time.perf_counter() - start)
