"""Request body size limit, enforced before the body is parsed (pure ASGI middleware).

A ``Content-Length`` above the limit is refused without reading the body; a body without one
(chunked) is read up to the limit and refused as soon as it passes it. Either way the answer is
413 with ``error.code = body_too_large``, ``limit = max_body_bytes`` and the limit's value.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from curator.api.schemas import error_body

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
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), (b"connection", b"close")],
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
