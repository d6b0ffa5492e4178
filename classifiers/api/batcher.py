"""Micro-batching: concurrent requests for one model are merged into one model call off the event loop.

fastText's ``predict`` holds the GIL for the whole call, so running it in a thread would still stall
the event loop. :class:`ProcessScorer` runs every model in one child process (spawned, models loaded
once), fed over a socket pair by the event loop, which keeps parsing requests while the child computes.
:class:`ThreadScorer` runs the already loaded classifier in a thread (no extra memory; for tests and
tiny models).

:class:`MicroBatcher` is continuous batching: it dispatches what is queued as soon as a model call
slot is free (``max_inflight`` per model), so an idle server answers a lone request at once and a busy
one merges everything that arrived during the previous call, up to ``max_docs`` documents. An optional
``max_wait_s`` waits a little longer for company before dispatching.

One client cannot fail another: when a merged model call fails, every request in it is scored again on
its own, and a request that still fails alone is bisected to the first document the model refuses,
which fails that request only (:class:`~curator.exceptions.DocumentError` with the document's index).
A scorer that died fails only the requests that were in flight (the next call starts a new one).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import multiprocessing
import pickle
import socket
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from curator.exceptions import DocumentError

log = logging.getLogger(__name__)
_HEADER = struct.Struct("!Q")  # payload length of a message between the server and its scoring process

# --- the child process -------------------------------------------------------------------------------
_CHILD_MODELS: dict = {}


def _child_init(specs: dict[str, str]) -> None:
    from classifiers import load_classifier

    for name, spec in specs.items():
        _CHILD_MODELS[name] = load_classifier(spec)


def _child_predict(name: str, texts: list[str]) -> np.ndarray:
    return np.asarray(_CHILD_MODELS[name].predict(texts), dtype=np.float32)


def _child_main(sock: socket.socket, specs: dict[str, str]) -> None:
    """The scoring process: load the models, then answer ``(name, texts)`` requests in order."""
    init_error = None
    try:
        _child_init(specs)
    except Exception as exc:  # answer every request with it: the server's start-up reports it
        init_error = f"cannot load the models: {type(exc).__name__}: {exc}"
    inbox = sock.makefile("rb")  # buffered: read(n) returns n bytes, or fewer once the server has closed its end
    while True:
        head = inbox.read(_HEADER.size)
        if len(head) < _HEADER.size:
            return
        size = _HEADER.unpack(head)[0]
        payload = inbox.read(size)
        if len(payload) < size:
            return
        name, texts = pickle.loads(payload)
        try:
            if init_error is not None:
                raise RuntimeError(init_error)
            answer = (True, _child_predict(name, texts))
        except Exception as exc:  # the server answers 503 for this call only
            answer = (False, f"{type(exc).__name__}: {exc}")
        out = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        sock.sendall(_HEADER.pack(len(out)) + out)


# --- scorers -----------------------------------------------------------------------------------------
class ThreadScorer:
    """Calls ``classifier.predict`` in a one-thread pool of this process.

    Args:
        classifiers: model name -> object with ``predict(list[str]) -> np.ndarray``.
    """

    def __init__(self, classifiers: dict) -> None:
        self._classifiers = classifiers
        self._pool: Executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edu-score")

    async def start(self) -> None:
        return None

    async def predict(self, name: str, texts: list[str]) -> np.ndarray:
        clf = self._classifiers[name]
        out = await asyncio.get_running_loop().run_in_executor(self._pool, clf.predict, texts)
        return np.asarray(out, dtype=np.float32)

    def alive(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


class ProcessScorer:
    """Runs every model in one spawned child process that loads them once (by directory, not pickle).

    The child is fed over a socket pair that the event loop reads and writes itself (asyncio
    streams: length-prefixed pickles, answered in order), not through ``ProcessPoolExecutor``,
    whose feeder and result threads cost ~290 us of this process's CPU per call against ~50 us
    (measured with 32 x 2 KB texts) and contend with the event loop for the GIL.

    A child that dies fails only the calls it had in flight and is replaced at once, without waiting
    for the next request (``/readyz`` recovers by itself); a call that finds it dead starts one too.

    Args:
        specs: model name -> model directory or ``default`` (what :func:`classifiers.load_classifier` takes).
    """

    RESPAWN_DELAY_S = 0.5  # between a child's death and its replacement (a child that dies at once must not spin)

    def __init__(self, specs: dict[str, str]) -> None:
        self._specs = dict(specs)
        self._proc = None
        self._writer: asyncio.StreamWriter | None = None
        self._pending: collections.deque[asyncio.Future] = collections.deque()
        self._reader_task: asyncio.Task | None = None
        self._respawn_task: asyncio.Task | None = None
        self._dead = False
        self._closing = False
        self._spawn_lock = asyncio.Lock()

    async def _spawn(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = socket.socketpair()
        proc = ctx.Process(target=_child_main, args=(child, self._specs), daemon=True, name="edu-curator-scorer")
        proc.start()
        child.close()
        reader, writer = await asyncio.open_connection(sock=parent)
        self._pending = collections.deque()  # each child answers its own calls only
        self._proc, self._writer, self._dead = proc, writer, False
        answers = self._read_answers(reader, self._pending)
        self._reader_task = asyncio.get_running_loop().create_task(answers, name="scorer-answers")

    async def _read_answers(self, reader: asyncio.StreamReader, pending: collections.deque) -> None:
        try:
            while True:
                head = await reader.readexactly(_HEADER.size)
                payload = await reader.readexactly(_HEADER.unpack(head)[0])
                ok, value = pickle.loads(payload)
                fut = pending.popleft()
                if fut.done():
                    continue
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(RuntimeError(f"scoring failed in the child: {value}"))
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            if pending is self._pending:  # not a child already replaced
                self._dead = True
                if not self._closing:
                    log.error("scoring process died; starting a new one")
                    self._respawn_task = asyncio.get_running_loop().create_task(self._respawn(), name="scorer-respawn")
            while pending:  # the child died (or was closed): nobody must wait forever
                fut = pending.popleft()
                if not fut.done():
                    fut.set_exception(ChildProcessError("scoring process died"))

    async def _respawn(self) -> None:
        await asyncio.sleep(self.RESPAWN_DELAY_S)
        await self._ensure_child()

    async def _ensure_child(self) -> None:
        """Replace a dead child (once, whoever notices first)."""
        async with self._spawn_lock:
            # is_alive: the reader may not have seen the death yet
            if (self._dead or not self._proc.is_alive()) and not self._closing:
                self._stop_child()
                await self._spawn()

    async def start(self) -> None:
        """Spawn the child and wait until it has loaded every model (one warm-up call each)."""
        await self._spawn()
        for name in self._specs:
            await self.predict(name, ["warm up"])

    async def predict(self, name: str, texts: list[str]) -> np.ndarray:
        if self._writer is None:
            raise RuntimeError("scorer not started")
        if self._dead or not self._proc.is_alive():
            await self._ensure_child()
        fut = asyncio.get_running_loop().create_future()
        payload = pickle.dumps((name, texts), protocol=pickle.HIGHEST_PROTOCOL)
        self._pending.append(fut)
        self._writer.write(_HEADER.pack(len(payload)) + payload)
        return await fut

    def alive(self) -> bool:
        return self._proc is not None and not self._dead and self._proc.is_alive()

    def _stop_child(self) -> None:
        """Close the socket (in the event loop) and end the child."""
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.terminate()
            proc.join(5)

    async def aclose(self) -> None:
        self._closing = True
        if self._respawn_task is not None:
            self._respawn_task.cancel()
        self._stop_child()
        self._proc = None


# --- the batcher -------------------------------------------------------------------------------------
@dataclass
class _Pending:
    texts: Sequence[str]
    future: asyncio.Future = field(repr=False)


class MicroBatcher:
    """Merges concurrent ``submit`` calls for one model into few model calls.

    Args:
        predict: ``async (texts) -> scores`` that runs one model call off the event loop.
        max_docs: a model call closes at this many documents (a bigger single request goes alone).
        max_wait_s: extra time to wait for more requests once one is queued (0: none).
        max_inflight: model calls running at once.
        on_batch: called with the number of documents of each model call (metrics).
    """

    def __init__(
        self,
        predict: Callable[[list[str]], "asyncio.Future[np.ndarray]"],
        max_docs: int = 2048,
        max_wait_s: float = 0.0,
        max_inflight: int = 1,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._predict = predict
        self.max_docs = max_docs
        self.max_wait_s = max_wait_s
        self._slots = asyncio.Semaphore(max_inflight)
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._on_batch = on_batch
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="micro-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        for t in list(self._running):
            t.cancel()
        while not self._queue.empty():
            p = self._queue.get_nowait()
            if not p.future.done():
                p.future.set_exception(RuntimeError("server shutting down"))

    async def submit(self, texts: Sequence[str]) -> np.ndarray:
        """Scores for ``texts`` (float32, same order), computed in a shared model call."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        fut = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pending(texts, fut))
        return await fut

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()
            try:
                batch = [await self._queue.get()]
                n = len(batch[0].texts)
                deadline = loop.time() + self.max_wait_s
                while n < self.max_docs:
                    if self._queue.empty():
                        remaining = deadline - loop.time()
                        if remaining <= 0:
                            break
                        try:
                            item = await asyncio.wait_for(self._queue.get(), remaining)
                        except TimeoutError:
                            break
                    else:
                        item = self._queue.get_nowait()
                    batch.append(item)
                    n += len(item.texts)
            except BaseException:
                self._slots.release()
                raise
            task = loop.create_task(self._run(batch, n))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(self, batch: list[_Pending], n: int) -> None:
        try:
            live = [p for p in batch if not p.future.done()]  # clients that went away are dropped
            if not live:
                return
            texts: list[str] = []
            for p in live:
                texts.extend(p.texts)
            if self._on_batch is not None:
                self._on_batch(len(texts))
            try:
                try:
                    scores = await self._predict(texts)
                except Exception as exc:  # noqa: BLE001 - find whose documents failed; the others are answered
                    log.warning(
                        "a model call of %d documents (%d requests) failed: %s: %s",
                        len(texts),
                        len(live),
                        type(exc).__name__,
                        exc,
                    )
                    for p in live:
                        await self._alone(p, exc if len(live) == 1 else None)
                    return
            except asyncio.CancelledError:  # stop(): nobody must wait forever
                for p in live:
                    if not p.future.done():
                        p.future.set_exception(RuntimeError("server shutting down"))
                raise
            start = 0
            for p in live:
                end = start + len(p.texts)
                if not p.future.done():
                    p.future.set_result(scores[start:end])
                start = end
        finally:
            self._slots.release()

    async def _alone(self, p: _Pending, exc: Exception | None) -> None:
        """Score one request by itself (``exc``: it already failed alone); on failure name its bad document."""
        if p.future.done():
            return
        if exc is None:
            try:
                scores = await self._predict(list(p.texts))
            except Exception as e:  # noqa: BLE001
                exc = e
            else:
                p.future.set_result(scores)
                return
        if isinstance(exc, ChildProcessError):  # the scorer died: the server's fault, not a document's
            p.future.set_exception(exc)
            return
        index = await self._first_bad(list(p.texts))
        if index is None or p.future.done():
            if not p.future.done():
                p.future.set_exception(exc)
            return
        log.warning("document %d of a request cannot be scored: %s: %s", index, type(exc).__name__, exc)
        message = f"document {index} cannot be scored by the model ({type(exc).__name__})"
        p.future.set_exception(DocumentError(index, message))

    async def _first_bad(self, texts: list[str]) -> int | None:
        """Index of the first document the model refuses on its own, by bisection; None if none does."""
        lo, hi = 0, len(texts)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            try:
                await self._predict(texts[lo:mid])
            except ChildProcessError:
                return None
            except Exception:  # noqa: BLE001 - a bad document is in the left half
                hi = mid
            else:
                lo = mid
        try:
            await self._predict(texts[lo:hi])
        except ChildProcessError:
            return None
        except Exception:  # noqa: BLE001
            return lo
        return None
