"""Assembles the API: routers, error handlers, middlewares, and a lifespan that loads the models once.

:func:`create_app` builds an app from :class:`ApiSettings` (nothing is loaded at import time);
:func:`create_app_from_env` is the factory ``uvicorn --factory`` / ``curator serve --workers N`` uses
in every worker process, reading the settings from ``EDU_CURATOR_API_*`` env vars.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from classifiers.api.deps import get_metrics, require_api_key
from classifiers.api.limits import BodySizeLimitMiddleware, ScoreGuardMiddleware
from classifiers.api.metrics import ApiMetrics, MetricsMiddleware
from classifiers.api.registry import ModelRegistry
from classifiers.api.routers import health, models, score
from classifiers.api.schemas import ErrorResponse, error_body
from classifiers.api.settings import ApiSettings

log = logging.getLogger(__name__)

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "unavailable",
}

API_DESCRIPTION = """Score documents for educational value (0-5) with the edu-curator classifiers.

Send a batch to `POST /v1/score`; `GET /v1/models` lists the models a request may name.
Errors always answer `{"error": {"code", "message", "limit"?, "value"?}}`.
When the server has an API key, `/v1/*` and `/metrics` need `Authorization: Bearer <key>`.
"""


_UNAUTHORIZED = {"model": ErrorResponse, "description": "The server has an API key and the request lacks it."}


def _json_error(status: int, body: dict, metrics: ApiMetrics, headers: dict | None = None) -> JSONResponse:
    metrics.errors.labels(body["error"]["code"]).inc()
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI, metrics: ApiMetrics) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = []
        for err in exc.errors():
            loc = [str(x) for x in err.get("loc", ())]
            details.append({"loc": loc, "msg": str(err.get("msg", "")), "type": str(err.get("type", ""))})
        first = details[0] if details else {"loc": [], "msg": "invalid request"}
        where = ".".join(first["loc"]) or "body"
        message = f"invalid request: {where}: {first['msg']}"
        if len(details) > 1:
            message += f" (and {len(details) - 1} more)"
        return _json_error(422, error_body("validation_error", message, details=details), metrics)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail
        if isinstance(detail, dict) and "code" in detail:
            body = error_body(**detail)
        else:
            code = _STATUS_CODES.get(exc.status_code, "error" if exc.status_code < 500 else "server_error")
            body = error_body(code, str(detail))
        return _json_error(exc.status_code, body, metrics, headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return _json_error(500, error_body("internal_error", "internal error; see the server log"), metrics)


def _document_limits(app: FastAPI, settings: ApiSettings) -> None:
    """Write this server's limits and model names into its OpenAPI schema (maxItems, maxLength, enum)."""
    base_openapi = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = base_openapi()
            schemas = spec.get("components", {}).get("schemas", {})
            docs = schemas.get("ScoreRequest", {}).get("properties", {}).get("documents")
            if docs is not None:
                docs["maxItems"] = settings.max_docs_per_request
            request = schemas.get("ScoreRequest", {})
            model = request.get("properties", {}).get("model")
            if model is not None:  # only registered names are valid
                names = list(settings.models)
                model["anyOf"] = [{"type": "string", "enum": names}, {"type": "null"}]
                model.pop("pattern", None)
                model.pop("maxLength", None)
            for example in request.get("examples", []):
                if example.get("model") is not None:
                    example["model"] = settings.default_model
            text = schemas.get("Document", {}).get("properties", {}).get("text")
            if text is not None:
                text["maxLength"] = settings.max_chars_per_doc
            if settings.api_key is None:  # no key: no operation needs the bearer scheme
                spec.get("components", {}).pop("securitySchemes", None)
                for path in spec.get("paths", {}).values():
                    for op in path.values():
                        if isinstance(op, dict):
                            op.pop("security", None)
                            if "401" in op.get("responses", {}):
                                del op["responses"]["401"]
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: ApiSettings | None = None, loader: Callable[[str], Any] | None = None) -> FastAPI:
    """Build the API app. Models load when the app starts (its lifespan), not here.

    Args:
        settings: the API settings (default: from ``EDU_CURATOR_API_*`` env vars).
        loader: ``spec -> classifier`` instead of :func:`classifiers.load_classifier` (tests); with
            it, scoring runs in a thread.

    Returns:
        The FastAPI app.
    """
    settings = settings or ApiSettings()
    metrics = ApiMetrics()
    registry = ModelRegistry(settings, metrics, loader=loader)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await registry.load()
        log.info("edu-curator API ready: models %s", ", ".join(registry.models))
        try:
            yield
        finally:
            await registry.close()

    app = FastAPI(
        title="edu-curator scoring API",
        version="1",
        description=API_DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.metrics = metrics
    app.state.registry = registry
    key = settings.api_key
    app.state.api_key = key.encode("utf-8", "surrogateescape") if key else None

    app.include_router(score.router, prefix="/v1")
    app.include_router(models.router, prefix="/v1")
    app.include_router(health.router)

    @app.get(
        "/metrics",
        tags=["metrics"],
        summary="Prometheus metrics",
        dependencies=[Depends(require_api_key)],
        response_class=Response,
        responses={200: {"content": {"text/plain": {}}}, 401: _UNAUTHORIZED},
    )
    async def prometheus_metrics(m: ApiMetrics = Depends(get_metrics)) -> Response:
        data, content_type = m.render()
        return Response(data, media_type=content_type)

    _install_error_handlers(app, metrics)
    _document_limits(app, settings)
    # Added last = outermost: metrics see every answer, including body-size refusals.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    count_error = lambda c: metrics.errors.labels(c).inc()  # noqa: E731
    app.add_middleware(
        ScoreGuardMiddleware, api_key=app.state.api_key, max_docs=settings.max_docs_per_request, on_error=count_error
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes, on_error=count_error)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def create_app_from_env() -> FastAPI:
    """App factory for ``uvicorn --factory`` and multi-worker serving: settings from the environment."""
    return create_app(ApiSettings())
