"""FastAPI dependencies: settings, the model registry, metrics and the optional API-key check.

Everything lives on ``app.state`` (set by :func:`classifiers.api.app.create_app`), so tests can build
apps with their own settings and ``app.dependency_overrides`` still works.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in its thread pool, a
thread hop per dependency per request (the four of them as ``def``: 4.2-4.75 ms of server CPU per
32-document request under ``benchmarks/bench_api.py``'s load; as ``async def``: 3.0 ms).
"""

from __future__ import annotations

import hmac

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from classifiers.api.metrics import ApiMetrics
from classifiers.api.registry import ModelRegistry
from classifiers.api.settings import ApiSettings

_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>` when the server has an API key.")


async def get_settings(request: Request) -> ApiSettings:
    return request.app.state.settings


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


async def get_metrics(request: Request) -> ApiMetrics:
    return request.app.state.metrics


async def require_api_key(
    request: Request, credentials: HTTPAuthorizationCredentials | None = Depends(_bearer)
) -> None:
    """401 unless the server has no key or the request carries ``Authorization: Bearer <key>``.

    The comparison is constant-time (:func:`hmac.compare_digest` on bytes).
    """
    key: bytes | None = request.app.state.api_key
    if key is None:
        return
    given = credentials.credentials.encode("utf-8", "surrogateescape") if credentials is not None else b""
    if not given or not hmac.compare_digest(given, key):
        raise HTTPException(
            status_code=401,
            detail={
                "code": "unauthorized",
                "message": "missing or wrong API key: send `Authorization: Bearer <key>`",
            },
            headers={"WWW-Authenticate": "Bearer"},
        )
