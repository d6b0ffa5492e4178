"""Typed request and response bodies of the API, with the examples shown in the OpenAPI docs.

Field names of a scored document (``id``, ``text``, ``edu_score``, ``edu_int_score``) are the
column names of :mod:`curator.schema`; a test checks they stay equal.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from classifiers.api.settings import MODEL_NAME_PATTERN

_EXAMPLE_TEXT = (
    "Photosynthesis is the process by which green plants use sunlight, water and carbon dioxide "
    "to make glucose and oxygen. It takes place mainly in the chloroplasts of leaf cells."
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Document(_Body):
    """One document to score."""

    id: str | None = Field(None, max_length=1024, description="Echoed back; default: the document's position.")
    text: str = Field(description="The document text (at most `max_chars_per_doc` characters).")


class ScoreRequest(_Body):
    """A batch of documents, optionally naming a registered model."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"documents": [{"id": "doc-1", "text": _EXAMPLE_TEXT}, {"text": "Buy cheap watches now!!!"}]},
                {"documents": [{"text": _EXAMPLE_TEXT}], "model": "default"},
            ]
        },
    )

    documents: list[Document] = Field(description="At most `max_docs_per_request` documents.")
    model: str | None = Field(
        None,
        max_length=64,
        pattern=MODEL_NAME_PATTERN,
        description="A model name from `GET /v1/models`; default: the server's default model.",
    )


class ScoreResult(_Body):
    """The score of one document."""

    id: str
    edu_score: float = Field(ge=0, le=5, description="Educational level, 0-5.")
    edu_int_score: int = Field(
        ge=0, le=5, description="The level 0..5: `edu_score` rounded half up (the model's calibrated thresholds)."
    )
    keep: bool = Field(description="`edu_score >= threshold`.")


class ScoreResponse(_Body):
    """Scores for every document of a request, in request order."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "model": "default",
                    "model_version": "edu-fasttext-3f2a9c81b0d4",
                    "threshold": 3.0,
                    "results": [
                        {"id": "doc-1", "edu_score": 3.62, "edu_int_score": 4, "keep": True},
                        {"id": "1", "edu_score": 0.41, "edu_int_score": 0, "keep": False},
                    ],
                }
            ]
        },
    )

    model: str
    model_version: str
    threshold: float
    results: list[ScoreResult]


class ModelInfo(_Body):
    """A model the server loaded at start."""

    name: str
    version: str
    backend: str
    default: bool
    card: dict[str, Any] = Field(description="The model card (hyper-parameters, training data, metrics, limits).")


class ModelsResponse(_Body):
    models: list[ModelInfo]


class HealthResponse(_Body):
    status: str = Field(examples=["ok"])


class ReadyResponse(_Body):
    status: str = Field(examples=["ready"])
    models: list[str] = Field(default_factory=list)
    detail: str | None = None


class ErrorDetail(_Body):
    """What went wrong, and which limit was hit if any."""

    code: str = Field(examples=["too_many_documents"])
    message: str
    limit: str | None = Field(None, examples=["max_docs_per_request"], description="The limit that was exceeded.")
    value: int | float | None = Field(None, examples=[1024], description="That limit's configured value.")
    details: list[dict[str, Any]] | None = Field(None, description="Per-field validation errors.")


class ErrorResponse(_Body):
    """The body of every 4xx/5xx answer."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "too_many_documents",
                        "message": "2000 documents in one request; the limit max_docs_per_request is 1024",
                        "limit": "max_docs_per_request",
                        "value": 1024,
                    }
                }
            ]
        },
    )

    error: ErrorDetail


def error_body(code: str, message: str, limit: str | None = None, value: Any = None, details: Any = None) -> dict:
    """The JSON body of an error answer (``None`` fields left out)."""
    err: dict[str, Any] = {"code": code, "message": message}
    if limit is not None:
        err["limit"] = limit
        err["value"] = value
    if details is not None:
        err["details"] = details
    return {"error": err}
