"""Request limits enforced before the body is parsed (pure ASGI middlewares).

:class:`BodySizeLimitMiddleware`: a ``Content-Length`` above the limit is refused without reading the
body; a body without one (chunked) is read up to the limit and refused as soon as it passes it. Either
way the answer is 413 with ``error.code = body_too_large``, ``limit = max_body_bytes`` and the limit's value.

:class:`ScoreGuardMiddleware` (``POST /v1/score``) answers what needs no parsing before FastAPI parses
and validates the body (validating a 16 MB body of a million empty documents costs seconds of event-loop
time): a missing or wrong API key (401), a ``Content-Type`` that is not JSON (415), and too many
documents (413 ``too_many_documents``, counted from the raw JSON, or from a plain ``json.loads`` when a
byte count of ``{`` cannot rule it out).
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from types import SimpleNamespace

from classifiers.api.schemas import error_body

_BODY_METHODS = {"POST", "PUT", "PATCH"}


class BodySizeLimitMiddleware:
    """Refuses request bodies larger than ``max_bytes`` with a JSON 413.

    Args:
        app: the wrapped ASGI app.
        max_bytes: the limit.
        on_error: called with the error code (metrics).
    """

    def __init__(self, app, max_bytes: int, on_error: Callable[[str], None] | None = None) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_error = on_error

    async def _refuse(self, send, seen: str) -> None:
        if self.on_error is not None:
            self.on_error("body_too_large")
        body = json.dumps(
            error_body(
                "body_too_large",
                f"request body is {seen}; the limit max_body_bytes is {self.max_bytes} bytes",
                limit="max_body_bytes",
                value=self.max_bytes,
            )
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        declared = None
        for k, v in scope.get("headers", ()):
            if k == b"content-length":
                try:
                    declared = int(v)
                except ValueError:
                    declared = None
                break
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, f"{declared} bytes (Content-Length)")
            return
        if declared is not None:
            # The server (h11/httptools) never delivers more than Content-Length bytes: no need to count.
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read and count, then replay the body as one message.
        chunks: list[bytes] = []
        total = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            total += len(chunk)
            if total > self.max_bytes:
                await self._refuse(send, f"more than {self.max_bytes} bytes (streamed)")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def _receive():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, _receive, send)


def _answer(status: int, body: dict, headers: list | None = None):
    data = json.dumps(body).encode()
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(data)).encode()),
            *(headers or []),
        ],
    }
    return start, {"type": "http.response.body", "body": data}


def bearer_ok(authorization: bytes | None, key: bytes) -> bool:
    """``Authorization: Bearer <key>`` (scheme case-insensitive, constant-time comparison)."""
    if not authorization:
        return False
    scheme, _, given = authorization.partition(b" ")
    return scheme.lower() == b"bearer" and bool(given.strip()) and hmac.compare_digest(given.strip(), key)


class ScoreGuardMiddleware:
    """401 / 415 / 413 for ``POST <path>`` before the body is parsed.

    Args:
        app: the wrapped ASGI app.
        api_key: the key (bytes) or None (no authentication).
        max_docs: the documents-per-request limit.
        on_error: called with the error code (metrics).
        path: the guarded route.
    """

    def __init__(
        self,
        app,
        api_key: bytes | None,
        max_docs: int,
        on_error: Callable[[str], None] | None = None,
        path: str = "/v1/score",
    ) -> None:
        self.app = app
        self.api_key = api_key
        self.max_docs = max_docs
        self.on_error = on_error
        self.path = path

    async def _refuse(self, scope, send, status: int, body: dict, headers: list | None = None) -> None:
        scope["route"] = SimpleNamespace(path=self.path)  # the metrics count it under its route, as if routed
        if self.on_error is not None:
            self.on_error(body["error"]["code"])
        start, message = _answer(status, body, headers)
        await send(start)
        await send(message)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") != self.path:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        if self.api_key is not None and not bearer_ok(headers.get(b"authorization"), self.api_key):
            body = error_body("unauthorized", "missing or wrong API key: send `Authorization: Bearer <key>`")
            await self._refuse(scope, send, 401, body, [(b"www-authenticate", b"Bearer")])
            return
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if ctype and ctype != b"application/json" and not ctype.endswith(b"+json"):
            message = f"Content-Type {ctype.decode('latin-1')!r} is not JSON: send `Content-Type: application/json`"
            body = error_body("unsupported_media_type", message)
            await self._refuse(scope, send, 415, body)
            return
        chunks: list[bytes] = []
        while True:  # the body is already bounded by BodySizeLimitMiddleware
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        n = self._documents(raw)
        if n is not None and n > self.max_docs:
            body = error_body(
                "too_many_documents",
                f"{n} documents in one request; the limit max_docs_per_request is {self.max_docs}",
                limit="max_docs_per_request",
                value=self.max_docs,
            )
            await self._refuse(scope, send, 413, body)
            return
        replayed = False

        async def _receive():
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, _receive, send)

    def _documents(self, raw: bytes) -> int | None:
        """Documents in the body if it may be over the limit, else None (the route checks the rest)."""
        if raw.count(b"{") - 1 <= self.max_docs:  # each document is an object: fewer braces, fewer documents
            return None
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            return None  # FastAPI answers the parse error
        docs = data.get("documents") if isinstance(data, dict) else None
        return len(docs) if isinstance(docs, list) else None
