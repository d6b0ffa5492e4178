"""`GET /v1/models`: the models this server loaded at start, with their cards."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from classifiers.api.deps import get_registry, require_api_key
from classifiers.api.registry import ModelRegistry
from classifiers.api.schemas import ErrorResponse, ModelInfo, ModelsResponse

router = APIRouter(tags=["models"], dependencies=[Depends(require_api_key)])


@router.get(
    "/models", response_model=ModelsResponse, responses={401: {"model": ErrorResponse}}, summary="Loaded models"
)
async def list_models(registry: ModelRegistry = Depends(get_registry)) -> ModelsResponse:
    """Every model a request may name (`model` in `POST /v1/score`); the default one is marked."""
    default = registry.settings.default_model
    return ModelsResponse(
        models=[
            ModelInfo(name=m.name, version=m.version, backend=m.backend, default=m.name == default, card=m.card())
            for m in registry.models.values()
        ]
    )
