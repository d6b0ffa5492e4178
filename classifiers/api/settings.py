"""Settings of the scoring REST API (`ApiSettings`), read from arguments or `EDU_CURATOR_API_*` env vars.

The API key itself is never a settings field: ``api_key_env`` names the environment variable that
holds it (``EDU_CURATOR_API_KEY`` by default), so it is not logged, dumped or passed on a command line.
:meth:`ApiSettings.to_env` turns settings into env vars so ``uvicorn --workers N`` (an app factory in
fresh processes) rebuilds exactly the same settings.
"""

from __future__ import annotations

import json
import os
import re
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "EDU_CURATOR_API_"
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class ApiSettings(BaseSettings):
    """Everything `curator serve` and :func:`classifiers.api.create_app` need.

    Args:
        models: registered model name -> model directory (or ``default`` for the shipped model).
            Requests may name only these; the first one is the default model.
        threshold: ``keep`` is ``edu_score >= threshold``; the default 2.5 is the calibrated level-3 decision
            (``edu_int_score >= 3``, FineWeb-Edu's filter).
        max_docs_per_request: more documents in one request -> 413 ``too_many_documents``.
        max_chars_per_doc: a longer ``text`` -> 413 ``document_too_long``.
        max_body_bytes: a larger request body (Content-Length or streamed) -> 413 ``body_too_large``.
        api_key_env: name of the env var holding the API key; unset or empty: no authentication.
        cors_origins: allowed CORS origins (none by default; ``*`` is refused).
        batch_max_docs: the micro-batcher closes a model call at this many documents.
        batch_max_wait_ms: how long the micro-batcher waits for more requests before a model call
            (0: never wait; requests that arrive while the model is busy are merged anyway).
        scoring_executor: ``process`` (default: scoring runs in a child process, so fastText, which holds
            the GIL, never stalls the event loop) or ``thread`` (same process; lower memory).
        max_inflight_batches: model calls in flight per model (2 overlaps transfer with compute).
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", validate_assignment=True)

    models: dict[str, str] = Field(default_factory=lambda: {"default": "default"}, min_length=1)
    threshold: float = Field(2.5, ge=0, le=5)
    max_docs_per_request: int = Field(1024, gt=0)
    max_chars_per_doc: int = Field(100_000, gt=0)
    max_body_bytes: int = Field(16 * 2**20, gt=0)
    api_key_env: str = "EDU_CURATOR_API_KEY"
    cors_origins: list[str] = Field(default_factory=list)
    batch_max_docs: int = Field(2048, gt=0)
    batch_max_wait_ms: float = Field(0.0, ge=0, le=1000)
    scoring_executor: Literal["process", "thread"] = "process"
    max_inflight_batches: int = Field(2, ge=1, le=16)

    @field_validator("models")
    @classmethod
    def _names_are_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name, path in v.items():
            if not re.match(MODEL_NAME_PATTERN, name):
                raise ValueError(f"model name {name!r} must match {MODEL_NAME_PATTERN} (letters, digits, . _ -)")
            if not str(path).strip():
                raise ValueError(f"model {name!r} has an empty directory")
        return v

    @field_validator("cors_origins")
    @classmethod
    def _no_wildcard(cls, v: list[str]) -> list[str]:
        if any(o.strip() == "*" for o in v):
            raise ValueError("wildcard CORS origin '*' is not allowed; list the origins explicitly")
        return v

    @property
    def default_model(self) -> str:
        """The model used when a request names none: the first registered one."""
        return next(iter(self.models))

    @property
    def api_key(self) -> str | None:
        """The API key from the environment (``None``: authentication off)."""
        return os.environ.get(self.api_key_env) or None

    def to_env(self) -> dict[str, str]:
        """These settings as ``EDU_CURATOR_API_*`` env vars (JSON for lists and mappings)."""
        out: dict[str, str] = {}
        for name, value in self.model_dump(mode="json").items():
            out[ENV_PREFIX + name.upper()] = json.dumps(value) if isinstance(value, (dict, list)) else str(value)
        return out
