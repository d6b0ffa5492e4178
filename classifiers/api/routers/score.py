"""`POST /v1/score`: educational-level scores for a batch of documents.

A document the model cannot take (text or id that is not valid UTF-8: JSON lets a lone surrogate
through as ``\\ud800``) is refused with 422 ``invalid_document`` naming its index before any model
call; one the model still refuses fails its own request only, with 422 ``unscorable_document``
naming the index (the micro-batcher isolates it from the requests merged with it).
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Depends, HTTPException, Response

from classifiers.api.deps import get_metrics, get_registry, get_settings, require_api_key
from classifiers.api.metrics import ApiMetrics
from classifiers.api.registry import ModelRegistry
from classifiers.api.schemas import ErrorResponse, ScoreRequest, ScoreResponse
from classifiers.api.settings import ApiSettings
from classifiers.base import scores_to_int
from curator.exceptions import DocumentError

log = logging.getLogger(__name__)
router = APIRouter(tags=["score"], dependencies=[Depends(require_api_key)])

_ERRORS = {
    400: {"model": ErrorResponse, "description": "The body could not be read as JSON."},
    401: {"model": ErrorResponse, "description": "The server has an API key and the request lacks it."},
    413: {"model": ErrorResponse, "description": "A limit was exceeded: body size, documents or characters."},
    415: {"model": ErrorResponse, "description": "The body's Content-Type is not JSON."},
    422: {
        "model": ErrorResponse,
        "description": "Invalid body, unknown model name, or a document the model cannot score (`invalid_document` / "
        "`unscorable_document`, the message names its index).",
    },
    503: {"model": ErrorResponse, "description": "Models not loaded yet or the scorer is down."},
}


def _limit_error(code: str, message: str, limit: str, value: int) -> HTTPException:
    return HTTPException(status_code=413, detail={"code": code, "message": message, "limit": limit, "value": value})


@router.post("/score", response_model=ScoreResponse, responses=_ERRORS, summary="Score documents")
async def score(
    body: ScoreRequest,
    settings: ApiSettings = Depends(get_settings),
    registry: ModelRegistry = Depends(get_registry),
    metrics: ApiMetrics = Depends(get_metrics),
) -> Response:
    """Educational-level score (0-5) of each document, its integer level, and whether it passes the
    server's threshold. Documents come back in request order; `id` defaults to the position."""
    docs = body.documents
    if len(docs) > settings.max_docs_per_request:
        raise _limit_error(
            "too_many_documents",
            f"{len(docs)} documents in one request; the limit max_docs_per_request is {settings.max_docs_per_request}",
            "max_docs_per_request",
            settings.max_docs_per_request,
        )
    max_chars = settings.max_chars_per_doc
    texts = [d.text for d in docs]
    for i, t in enumerate(texts):
        if len(t) > max_chars:
            raise _limit_error(
                "document_too_long",
                f"document {i} has {len(t)} characters; the limit max_chars_per_doc is {max_chars}",
                "max_chars_per_doc",
                max_chars,
            )
    for i, d in enumerate(docs):
        bad = _not_utf8(d.text, "text") or (d.id is not None and _not_utf8(d.id, "id"))
        if bad:
            message = f"document {i}: {bad} holds unpaired surrogates (not valid UTF-8)"
            raise HTTPException(422, detail={"code": "invalid_document", "message": message})
    if not registry.ready:
        raise HTTPException(503, detail={"code": "not_ready", "message": "models are still loading; retry shortly"})
    model = registry.get(body.model)
    if model is None:
        names = ", ".join(sorted(registry.models))
        raise HTTPException(
            422, detail={"code": "unknown_model", "message": f"unknown model {body.model!r}; this server has: {names}"}
        )
    try:
        scores = await model.batcher.submit(texts)
    except DocumentError as exc:
        raise HTTPException(422, detail={"code": "unscorable_document", "message": str(exc)}) from exc
    except Exception as exc:
        log.error("scoring failed: %s: %s", type(exc).__name__, exc)
        raise HTTPException(
            503, detail={"code": "scoring_failed", "message": f"scoring failed ({type(exc).__name__}); retry"}
        ) from exc
    metrics.documents.labels(model.name).inc(len(texts))
    threshold = settings.threshold
    ints = scores_to_int(scores).tolist()
    keep = (scores >= threshold).tolist()
    results = [
        {"id": d.id if d.id is not None else str(i), "edu_score": round(s, 6), "edu_int_score": n, "keep": k}
        for i, (d, s, n, k) in enumerate(zip(docs, scores.tolist(), ints, keep))
    ]
    payload = {"model": model.name, "model_version": model.version, "threshold": threshold, "results": results}
    return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json")


def _not_utf8(value: str, name: str) -> str | None:
    """``name`` if ``value`` cannot be encoded as UTF-8 (a lone surrogate), else None."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return name
    return None
