"""Teacher behind any OpenAI-compatible server (``vllm serve`` first of all).

:class:`ServerTeacherClient` posts chat completions through one ``aiohttp`` session per
:meth:`generate` / :meth:`generate_iter` call, at most ``max_concurrency`` at a time, each with a
timeout, on an event loop in a helper thread; :meth:`generate_iter` hands each answer back as it
finishes (the response cache stores it then), and the next request starts as soon as a slot is
free: no pause between chunks, and a killed run loses only the answers in flight. When the server
is vLLM's (it has ``/chat/completions/batch``), up to ``batch_size`` conversations that share their
sampling and schema go in one HTTP request: on a small machine the API server's per-request CPU
(HTTP parsing, middleware, request validation, response JSON) is CPU taken from the engine.
Other servers get one request per conversation. (aiohttp, not
httpx or the ``openai`` SDK: per request it costs a fraction of their client CPU -- 0.2 s
against 0.8-0.9 s for 256 requests with httpx, and the SDK was slower still -- which on a small
machine is CPU taken from the server; see ``benchmarks/bench_synthesis.py``.) Transport faults
(connection refused or dropped, timeout, HTTP 5xx/429) are retried with exponential backoff and
jitter up to ``max_retries`` times; answers that fail validation against the request's pydantic
model are retried up to ``max_invalid_retries`` times. After that the request comes back as a
failed :class:`~generators.base.TeacherResult` carrying the raw text: the client never raises for a
single prompt. Structured output is asked for with vLLM's ``structured_outputs`` body field (the
request's regex if it has one, else its JSON schema) or an OpenAI ``response_format`` JSON schema; the
removed ``guided_*`` fields are never used.

:meth:`ServerTeacherClient.check` (run on construction; a plain ``httpx`` GET) raises
:class:`TeacherError` with the command to start a server when nothing answers at ``base_url``.
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import queue
import random
import threading
import time
from collections.abc import Iterator
from typing import Literal

import aiohttp
import httpx

from curator.exceptions import TeacherError
from generators.base import TeacherClient, TeacherRequest, TeacherResult, backoff_delays, schema_of, validate_answer

GROUP_WAIT_S = 0.2  # generate_iter: how long a group of finished answers collects before it is handed back
BATCH_PATH = "/chat/completions/batch"  # vLLM's batch chat endpoint: a list of conversations, one choice each
# Conversations out in batches, per max_concurrency: finished answers wait for their batch's longest
# (with lengths spread evenly up to max_tokens, a batch of 16 is ~half busy on average), so the server
# gets enough to keep max_concurrency of them running while batches finish.
BATCH_OVERSUBSCRIBE = 2

START_HINT = (
    "start it with: python -m vllm.entrypoints.openai.api_server --model MODEL --host 127.0.0.1 --port 8000 "
    "(CPU: add --enforce-eager --dtype float32 --kv-cache-memory-bytes 134217728), "
    "or point --base-url / synthesis.teacher.base_url at a running OpenAI-compatible server"
)


def _text(payload: bytes) -> str:
    """A response body for an error message (decoded only when one is written)."""
    return payload.decode("utf-8", "replace")


@functools.lru_cache(maxsize=1)
def _tls_context():
    """One TLS context per process (certifi's roots; building one costs ~40 ms)."""
    return httpx.create_ssl_context()


class ServerTeacherClient(TeacherClient):
    """OpenAI-compatible server client with a concurrency limit, timeouts, retries and counters.

    Args:
        base_url: e.g. ``http://127.0.0.1:8000/v1``.
        model: served model name; empty: the server's first model.
        api_key: bearer token (vLLM ignores it unless started with ``--api-key``).
        max_concurrency: conversations the server is given at once (it batches them: too few starves
            its batch). With batches, up to :data:`BATCH_OVERSUBSCRIBE` times as many are out, the
            excess waiting in the server's queue: a batch's finished answers stay out until its
            longest is done, and would otherwise thin the server's batch.
        batch_size: conversations per HTTP request when the server has vLLM's batch endpoint
            (``/chat/completions/batch``, probed by :meth:`check`); 1: always one per request.
        timeout_s: per-request timeout.
        max_retries: retries after a transport fault (connection, timeout, 5xx, 429).
        max_invalid_retries: retries after an answer that fails validation.
        backoff_s: first backoff delay; doubles each retry, with +-50% jitter, capped at ``max_backoff_s``.
        structured: ``structured_outputs`` (vLLM extra_body) or ``response_format`` (OpenAI json_schema).
        check: contact the server now (raises :class:`TeacherError` if it is down).
    """

    def __init__(
        self,
        base_url: str,
        model: str = "",
        api_key: str | None = None,
        max_concurrency: int = 256,
        timeout_s: float = 120.0,
        max_retries: int = 4,
        max_invalid_retries: int = 2,
        backoff_s: float = 1.0,
        max_backoff_s: float = 30.0,
        structured: Literal["structured_outputs", "response_format"] = "structured_outputs",
        check: bool = True,
        seed: int | None = None,
        batch_size: int = 16,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.api_key = api_key or "EMPTY"
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_invalid_retries = max_invalid_retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.structured = structured
        self.batch_size = max(1, min(batch_size, max_concurrency))
        self._batch_ok: bool | None = None if self.batch_size > 1 else False  # None: not probed yet
        self._rng = random.Random(seed)
        if check:
            self.check()

    @classmethod
    def from_settings(cls, settings, check: bool = True) -> "ServerTeacherClient":
        """Build from :class:`curator.settings.TeacherSettings` (API key read from ``api_key_env``)."""
        return cls(
            base_url=settings.base_url,
            model=settings.model,
            api_key=os.environ.get(settings.api_key_env) or None,
            max_concurrency=settings.max_concurrency,
            timeout_s=settings.timeout_s,
            max_retries=settings.max_retries,
            max_invalid_retries=settings.max_invalid_retries,
            backoff_s=settings.backoff_s,
            structured=settings.structured_mode,
            batch_size=settings.server_batch_size,
            check=check,
        )

    # --- health -----------------------------------------------------------------------
    def check(self, timeout_s: float = 10.0) -> list[str]:
        """Ask the server for its models; fill in ``self.model`` if empty.

        Raises:
            TeacherError: nothing answers at ``base_url`` (with the start command), or the
                requested model is not served.
        """
        try:
            r = httpx.get(
                f"{self.base_url}/models",
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=timeout_s,
                verify=_tls_context(),
            )
            r.raise_for_status()
            served = [m["id"] for m in r.json().get("data", [])]
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise TeacherError(
                f"teacher server at {self.base_url} is not reachable ({type(exc).__name__}: {exc}); {START_HINT}"
            ) from exc
        if not served:
            raise TeacherError(f"teacher server at {self.base_url} serves no model; {START_HINT}")
        if not self.model:
            self.model = served[0]
        elif self.model not in served:
            raise TeacherError(
                f"model {self.model!r} is not served at {self.base_url} (it serves {served}); "
                "set --model / synthesis.teacher.model to one of them"
            )
        if self._batch_ok is None:
            self._batch_ok = self._probe_batch(timeout_s)
        return served

    def _probe_batch(self, timeout_s: float = 10.0) -> bool | None:
        """Whether the server has vLLM's batch chat endpoint: vLLM answers an empty body there with
        a validation error (400/422), other servers with 404/405. ``None``: no answer (probed again
        on the next call)."""
        try:
            r = httpx.post(
                f"{self.base_url}{BATCH_PATH}",
                json={},
                headers={"Authorization": f"Bearer {self.api_key}"},
                timeout=timeout_s,
                verify=_tls_context(),
            )
        except httpx.HTTPError:
            return None
        return r.status_code in (400, 422)

    # --- generation -------------------------------------------------------------------
    def generate(self, requests: list[TeacherRequest]) -> list[TeacherResult]:
        out: list[TeacherResult | None] = [None] * len(requests)
        for group in self.generate_iter(requests):
            for i, res in group:
                out[i] = res
        return out  # type: ignore[return-value]

    def generate_iter(self, requests: list[TeacherRequest]) -> Iterator[list[tuple[int, TeacherResult]]]:
        """Every request's result as it finishes, in groups of ``(index, result)`` (each group: what
        finished within ``GROUP_WAIT_S`` of its first result, so that the cache commits a few times
        a second, not once per answer). The requests run on an event loop in a helper
        thread (so this works inside a running loop too), ``max_concurrency`` at a time; closing the
        iterator early cancels what has not finished."""
        if not requests:
            return
        if not self.model:
            self.check()
        elif self._batch_ok is None:
            self._batch_ok = self._probe_batch()
        done: queue.SimpleQueue = queue.SimpleQueue()
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._serve, args=(loop, requests, done), name="teacher-http", daemon=True)
        thread.start()
        left = len(requests)
        try:
            while left:
                group = [done.get()]
                until = time.monotonic() + GROUP_WAIT_S
                while len(group) < left:
                    try:
                        group.append(done.get(timeout=max(0.0, until - time.monotonic())))
                    except queue.Empty:
                        break
                for item in group:
                    if isinstance(item, BaseException):
                        raise item
                left -= len(group)
                yield group
        finally:
            if thread.is_alive():
                try:
                    loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
                except RuntimeError:  # the loop just closed: the thread is ending by itself
                    pass
                thread.join()

    def _serve(self, loop: asyncio.AbstractEventLoop, requests: list[TeacherRequest], done: queue.SimpleQueue) -> None:
        """The helper thread: run every request on ``loop``, putting ``(index, result)`` on ``done``."""
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._astream(requests, done))
        except asyncio.CancelledError:  # the caller closed the iterator
            pass
        except BaseException as exc:  # noqa: BLE001 -- a bug, not a teacher fault: the caller raises it
            done.put(exc)
        finally:
            loop.close()

    async def _astream(self, requests: list[TeacherRequest], done: queue.SimpleQueue) -> None:
        # the connector keeps up to max_concurrency keep-alive connections; the semaphores are the
        # limit on conversations in flight (``sem``: one per request; ``bsem``: one per batch of
        # batch_size, BATCH_OVERSUBSCRIBE x max_concurrency in all). At most twice as many tasks as
        # that exist at once (the rest wait in the list), so a million-request call does not make a
        # million tasks.
        connector = aiohttp.TCPConnector(
            limit=self.max_concurrency, ssl=_tls_context() if self.base_url.startswith("https") else False
        )
        sem = asyncio.Semaphore(self.max_concurrency)
        size = self.batch_size if self._batch_ok else 1
        out = max(1, self.max_concurrency // size) * (BATCH_OVERSUBSCRIBE if size > 1 else 1)  # requests in flight
        bsem = asyncio.Semaphore(out)
        slots = asyncio.Semaphore(2 * out)
        tasks: set[asyncio.Task] = set()

        async def run(items: list[tuple[int, TeacherRequest]]) -> None:
            try:
                if len(items) == 1:
                    i, req = items[0]
                    done.put((i, await self._one(session, sem, req)))
                else:
                    for pair in await self._batch(session, bsem, sem, items):
                        done.put(pair)
            except Exception as exc:  # noqa: BLE001 -- a bug (_one/_batch return failures as results): the caller raises it
                done.put(exc)
            finally:
                slots.release()

        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.api_key}"},
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        ) as session:
            try:
                for items in self._batches(requests, size):
                    await slots.acquire()
                    task = asyncio.create_task(run(items))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                # every task exists now (the set drops finished ones): wait for the rest
                await asyncio.gather(*tasks)
            finally:
                for task in list(tasks):
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    def _batches(self, requests: list[TeacherRequest], size: int) -> Iterator[list[tuple[int, TeacherRequest]]]:
        """Consecutive requests that share everything but their messages (sampling, schema, regex), up
        to ``size`` at a time, as ``(index, request)`` lists."""
        batch: list[tuple[int, TeacherRequest]] = []
        key = None
        for i, req in enumerate(requests):
            k = (req.sampling, req.output_model, req.regex)
            if batch and (k != key or len(batch) == size):
                yield batch
                batch = []
            batch.append((i, req))
            key = k
        if batch:
            yield batch

    def _body(self, req: TeacherRequest) -> dict:
        """The JSON body of one ``POST /chat/completions``."""
        body: dict = {
            "model": self.model,
            "messages": req.messages,
            "temperature": req.sampling.temperature,
            "top_p": req.sampling.top_p,
            "max_tokens": req.sampling.max_tokens,
        }
        if req.sampling.seed is not None:
            body["seed"] = req.sampling.seed
        schema = schema_of(req.output_model)
        if self.structured == "response_format":  # OpenAI's API has no regex: the JSON schema, if any
            if schema is not None:
                body["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {"name": req.output_model.__name__, "schema": schema},
                }
        else:
            so = req.structured_outputs()
            if so is not None:
                body["structured_outputs"] = so
        return body

    async def _post(
        self, session: aiohttp.ClientSession, body: dict, path: str = "/chat/completions", n: int = 1
    ) -> tuple[dict | None, str | None, str]:
        """One chat completion request with ``n`` conversations: ``(response JSON, None, "")`` or
        ``(None, retry kind | "request", detail)``."""
        try:
            async with session.post(f"{self.base_url}{path}", json=body) as r:
                status, payload = r.status, await r.read()
        except TimeoutError as exc:  # aiohttp's timeouts are TimeoutError subclasses
            return None, "timeout", f"timeout after {self.timeout_s}s ({type(exc).__name__})"
        except (aiohttp.ClientError, OSError) as exc:  # refused, reset, dropped mid-response
            return None, "connection", f"cannot reach {self.base_url} ({type(exc).__name__}: {exc})"
        if status >= 500 or status == 429:
            return None, "server", f"HTTP {status}: {_text(payload)[:300]}"
        if status >= 400:  # a request the server will never accept (e.g. prompt too long)
            return None, "request", f"HTTP {status}: {_text(payload)[:500]}"
        try:
            data = json.loads(payload)
            choices = data["choices"]
            if len(choices) != n or any("message" not in c for c in choices):
                raise ValueError(f"{len(choices)} choices for {n} conversations")
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            return None, "server", f"malformed response ({type(exc).__name__}): {_text(payload)[:300]}"
        return data, None, ""

    async def _one(
        self,
        session: aiohttp.ClientSession,
        sem: asyncio.Semaphore,
        req: TeacherRequest,
        res: TeacherResult | None = None,
        invalid_fails: int = 0,
    ) -> TeacherResult:
        """One conversation, one request at a time (retries included); ``res``, ``invalid_fails``:
        a result to go on with (from a batch the server refused) and its invalid answers so far."""
        res = res or TeacherResult(prompt_hash=req.prompt_hash(self.model))
        delays = backoff_delays(self.max_retries, self.backoff_s, self.max_backoff_s, rng=self._rng)
        transport_fails = 0
        body = self._body(req)
        while True:
            res.attempts += 1
            async with sem:
                self.count("requests_sent")
                data, retry_kind, detail = await self._post(session, body)
            if retry_kind == "request":
                self.count("errors_request")
                res.error = f"request: {detail}"
                return res
            if retry_kind is not None:
                self.count(f"errors_{retry_kind}")
                res.error = f"{retry_kind}: {detail}"
                if transport_fails >= self.max_retries:
                    self.count("failed")
                    return res
                await asyncio.sleep(delays[transport_fails])
                transport_fails += 1
                self.count("retries")
                continue
            ntok = int((data.get("usage") or {}).get("completion_tokens") or 0)
            self.count("completion_tokens", ntok)
            if self._take(res, req, data["choices"][0], ntok):
                return res
            if invalid_fails >= self.max_invalid_retries:
                self.count("failed")
                return res
            invalid_fails += 1
            self.count("retries")

    def _take(self, res: TeacherResult, req: TeacherRequest, choice: dict, ntok: int) -> bool:
        """Put one answer (a response choice) in ``res`` and validate it: ``True`` when it is valid."""
        res.raw = choice["message"].get("content") or ""
        res.finish_reason = choice.get("finish_reason")
        res.completion_tokens = ntok
        parsed, err = validate_answer(res.raw, req)
        if err is None:
            res.parsed, res.error = parsed, None
            self.count("ok")
            return True
        if res.finish_reason == "length":
            err += " (answer cut at max_tokens)"
        self.count("errors_invalid")
        res.error = err
        return False

    async def _batch(
        self,
        session: aiohttp.ClientSession,
        bsem: asyncio.Semaphore,
        sem: asyncio.Semaphore,
        items: list[tuple[int, TeacherRequest]],
    ) -> list[tuple[int, TeacherResult]]:
        """Conversations that share their sampling and schema through vLLM's batch endpoint, with
        the same retries as :meth:`_one`: a transport fault re-sends the batch, invalid answers go
        again in a smaller batch of their own, and a batch the server refuses (HTTP 4xx: one
        prompt may be at fault) goes one conversation at a time. Counters count conversations."""
        results = {i: TeacherResult(prompt_hash=req.prompt_hash(self.model)) for i, req in items}
        invalid = dict.fromkeys(results, 0)
        delays = backoff_delays(self.max_retries, self.backoff_s, self.max_backoff_s, rng=self._rng)
        transport_fails = 0
        pending = list(items)
        base = self._body(items[0][1])
        base["return_token_ids"] = True  # the response's usage is the batch's: a choice's tokens are its own
        while pending:
            n = len(pending)
            for i, _ in pending:
                results[i].attempts += 1
            body = {**base, "messages": [req.messages for _, req in pending]}
            async with bsem:
                self.count("requests_sent", n)
                data, retry_kind, detail = await self._post(session, body, BATCH_PATH, n)
            if retry_kind == "request":
                self.count("errors_batch_refused", n)
                for i, _ in pending:
                    results[i].attempts -= 1  # not an answer: the single requests count their own
                await asyncio.gather(*(self._one(session, sem, req, results[i], invalid[i]) for i, req in pending))
                break
            if retry_kind is not None:
                self.count(f"errors_{retry_kind}", n)
                for i, _ in pending:
                    results[i].error = f"{retry_kind}: {detail}"
                if transport_fails >= self.max_retries:
                    self.count("failed", n)
                    break
                await asyncio.sleep(delays[transport_fails])
                transport_fails += 1
                self.count("retries", n)
                continue
            self.count("completion_tokens", int((data.get("usage") or {}).get("completion_tokens") or 0))
            again = []
            for (i, req), choice in zip(pending, sorted(data["choices"], key=lambda c: c.get("index", 0))):
                if self._take(results[i], req, choice, len(choice.get("token_ids") or ())):
                    continue
                if invalid[i] >= self.max_invalid_retries:
                    self.count("failed")
                    continue
                invalid[i] += 1
                self.count("retries")
                again.append((i, req))
            pending = again
        return list(results.items())
