"""The one teacher interface: requests in, results out, whatever reaches the LLM.

A :class:`TeacherRequest` holds chat messages, :class:`SamplingParams` and an optional output
schema (a pydantic model). A :class:`TeacherClient` turns a list of requests into a list of
:class:`TeacherResult` in the same order; a result carries the parsed output *or* an error, the
raw text, the number of attempts and the request's ``prompt_hash`` (sha256 over messages, model,
sampling parameters and schema: the response-cache key). Clients never raise for one bad answer:
failures come back as results so the caller can record them and retry only those later.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import random
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


class SamplingParams(BaseModel):
    """Sampling parameters sent to the teacher (part of the cache key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(1.0, gt=0, le=1)
    max_tokens: int = Field(1024, gt=0)
    seed: int | None = None

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), sort_keys=True, separators=(",", ":"))


def schema_of(model: type[BaseModel] | None) -> dict | None:
    """JSON schema of a pydantic output model (``None`` for free text)."""
    return None if model is None else model.model_json_schema()


def compute_prompt_hash(
    messages: list[dict], model: str, sampling: SamplingParams, schema: dict | None, regex: str | None = None
) -> str:
    """sha256 over everything that determines an answer: messages, model, sampling, schema (and the
    answer regex, when the request has one: requests without one keep their hashes)."""
    key: dict[str, Any] = {"messages": messages, "model": model, "sampling": sampling.model_dump(), "schema": schema}
    if regex is not None:
        key["regex"] = regex
    blob = json.dumps(
        key,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class TeacherRequest:
    """One prompt for the teacher.

    Args:
        messages: OpenAI-style chat messages (``[{"role": ..., "content": ...}]``).
        sampling: sampling parameters.
        output_model: pydantic model the answer must validate against (JSON); ``None`` = free text.
        min_chars: a free-text answer shorter than this (after stripping) is invalid.
        regex: the structured-output constraint to send instead of ``output_model``'s JSON schema
            (the answer is still validated against ``output_model``). A regex leaves the model no
            free whitespace whatever the server's structured-output settings: a JSON schema, under
            vLLM's default ``xgrammar`` backend (``any_whitespace``), lets a weak or random-weight
            model fill ``max_tokens`` with spaces and newlines before the first key.
        meta: caller's bookkeeping (seed id, template id...), not sent and not hashed.
    """

    messages: list[dict]
    sampling: SamplingParams = field(default_factory=SamplingParams)
    output_model: type[BaseModel] | None = None
    min_chars: int = 1
    meta: dict = field(default_factory=dict)
    regex: str | None = None

    def prompt_hash(self, model: str) -> str:
        return compute_prompt_hash(self.messages, model, self.sampling, schema_of(self.output_model), self.regex)

    def structured_outputs(self) -> dict | None:
        """vLLM's ``structured_outputs`` for this request: ``{"regex": ...}``, ``{"json": schema}``
        or ``None`` (free text)."""
        if self.regex is not None:
            return {"regex": self.regex}
        schema = schema_of(self.output_model)
        return None if schema is None else {"json": schema}


@dataclass
class TeacherResult:
    """The teacher's answer to one request (or why there is none).

    ``parsed`` is the validated output: a dict for a JSON schema, the stripped text otherwise.
    ``error`` is ``None`` on success, else a short ``kind: detail`` string (``invalid``,
    ``timeout``, ``connection``, ``server``...). ``raw`` is kept either way.
    """

    prompt_hash: str
    parsed: Any = None
    raw: str = ""
    error: str | None = None
    attempts: int = 0
    cached: bool = False
    finish_reason: str | None = None
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None


def validate_answer(raw: str, request: TeacherRequest) -> tuple[Any, str | None]:
    """Parse and validate a raw answer. Returns ``(parsed, None)`` or ``(None, "invalid: why")``."""
    return check_answer(raw, request.output_model, request.min_chars)


def model_path(output_model: type[BaseModel] | None) -> str:
    """``module:qualname`` of an output model importable by that name (``""`` otherwise): how an
    engine actor finds the model to validate answers with (:func:`load_model_path`)."""
    if output_model is None:
        return ""
    name = f"{output_model.__module__}:{output_model.__qualname__}"
    try:
        return name if load_model_path(name) is output_model else ""
    except (ImportError, AttributeError):
        return ""


def load_model_path(name: str) -> type[BaseModel] | None:
    """The output model named by :func:`model_path` (``None`` for ``""``)."""
    if not name:
        return None
    module, _, qualname = name.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def check_answer(raw: str, output_model: type[BaseModel] | None, min_chars: int = 1) -> tuple[Any, str | None]:
    """:func:`validate_answer` without the request: free text of at least ``min_chars``, or JSON
    that ``output_model`` validates."""
    if output_model is None:
        text = (raw or "").strip()
        if len(text) < min_chars:
            return None, f"invalid: answer shorter than {min_chars} chars"
        return text, None
    try:
        obj = json.loads(raw)
    except (json.JSONDecodeError, TypeError) as exc:
        return None, f"invalid: not JSON ({exc.msg if hasattr(exc, 'msg') else exc})"
    try:
        return output_model.model_validate(obj).model_dump(), None
    except ValidationError as exc:
        first = exc.errors()[0]
        return None, f"invalid: {'.'.join(map(str, first['loc']))}: {first['msg']}"


def backoff_delays(
    retries: int, base_s: float, max_s: float = 30.0, jitter: float = 0.5, rng: random.Random | None = None
) -> list[float]:
    """Exponential backoff with jitter: ``base * 2**i`` scaled by ``[1-jitter, 1+jitter]``, capped."""
    rng = rng or random.Random()
    out = []
    for i in range(retries):
        d = min(max_s, base_s * (2**i))
        out.append(max(0.0, d * (1 + jitter * (2 * rng.random() - 1))))
    return out


class TeacherClient(ABC):
    """Anything that answers :class:`TeacherRequest` lists.

    Subclasses implement :meth:`generate`; results come back in request order. ``stats`` counts
    what happened (requests sent, retries, errors by kind). :meth:`generate_iter` hands results
    back as they are ready, which is how :func:`generators.cache.generate_cached` asks (it stores
    each group as it comes).
    """

    model: str = ""
    #: requests per :meth:`generate` call in the default :meth:`generate_iter` (results are cached
    #: after each call). Clients that pay a fixed cost per call (an engine start) raise it.
    chunk_size: int = 64

    def __init__(self) -> None:
        self.stats: dict[str, int] = {}

    def count(self, key: str, n: int = 1) -> None:
        self.stats[key] = self.stats.get(key, 0) + n

    @abstractmethod
    def generate(self, requests: list[TeacherRequest]) -> list[TeacherResult]:
        """Answer every request (failures come back as results with ``error`` set)."""

    def generate_iter(self, requests: list[TeacherRequest]) -> Iterator[list[tuple[int, TeacherResult]]]:
        """Answer every request, handing results back in groups as they are ready: each group is a
        list of ``(index into requests, result)``, each index comes exactly once.

        Default: one :meth:`generate` call per ``chunk_size`` requests, a group per call. Clients
        that keep working while the caller stores a group override it (the server client streams
        results as they finish, with no pause between chunks).
        """
        step = max(1, self.chunk_size)
        for start in range(0, len(requests), step):
            yield list(enumerate(self.generate(requests[start : start + step]), start=start))

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (engines, HTTP pools)."""
