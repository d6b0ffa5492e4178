"""Probes: `GET /healthz` (the process answers) and `GET /readyz` (models loaded, scorer alive).

Both are open even when the server has an API key, so orchestrators can probe without it.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from classifiers.api.deps import get_registry
from classifiers.api.registry import ModelRegistry
from classifiers.api.schemas import HealthResponse, ReadyResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthResponse, summary="Liveness")
async def healthz() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get(
    "/readyz",
    response_model=ReadyResponse,
    response_model_exclude_none=True,
    responses={503: {"model": ReadyResponse}},
    summary="Readiness",
)
async def readyz(registry: ModelRegistry = Depends(get_registry)):
    """200 once every model is loaded and the scorer is alive; 503 otherwise."""
    if registry.is_ready():
        return ReadyResponse(status="ready", models=list(registry.models))
    detail = "models loading" if not registry.ready else "scoring process is down"
    return JSONResponse(
        ReadyResponse(status="not_ready", detail=detail).model_dump(exclude_none=True), status_code=503
    )
