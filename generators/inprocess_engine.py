"""A CPU engine actor's vLLM engine in its own process: ``vllm.LLM`` stepped by one thread.

Ray's vLLM engine stage builds ``vllm.AsyncLLMEngine``, which always runs vLLM's EngineCore in a
second process: it starts by importing vLLM again (~9 s of one core on a 2-core machine, after the
actor's own ~10 s import) and then keeps a core's fifth busy relaying outputs. On a GPU worker
that is noise next to the model; on a CPU worker it was 40% of a 256-prompt Ray job here. So a CPU
engine actor runs :class:`InProcessEngineStage` instead: one ``vllm.LLM`` (with
``VLLM_ENABLE_V1_MULTIPROCESSING=0``: model, scheduler and outputs in the actor process) and a
daemon thread that builds the engine (so that torch's OpenMP threads are set up for the thread
that runs the model), takes requests from the actor's event loop, steps the engine, and resolves
each request's future when it finishes -- what ``LLM.generate`` does, with requests arriving while
it runs.

The stage has the interface :class:`generators.ray_engine_stage.ChatEngineStageUDF` uses of ray's
``vLLMEngineStageUDF`` (``udf(batch)`` yielding rows in ray's output layout, ``get_tokenizer``,
``shutdown``), and ray's row semantics: sampling parameters as a dict (``structured_outputs``
included), at most ``max_pending_requests`` requests in the engine (default ray's,
``ceil(1.1 * max_num_seqs)``; ``RayEngineTeacherClient`` lifts it on CPU), a failed row becomes an
``__inference_error__`` row when ``should_continue_on_error``, and a dead engine exits the actor
(``os._exit(1)``) so that Ray restarts it and retries its tasks.

vLLM and torch are imported when the engine starts, in the actor: the driver may import this module.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

logger = logging.getLogger(__name__)

_STOP = object()  # the engine thread's sentinel
PENDING_FACTOR = 1.1  # requests in the engine per scheduler slot (ray's default pending limit)


class EngineDeadError(RuntimeError):
    """The engine's step raised: every request in it failed, and no more can be served."""


def _external_id(request_id: str) -> str:
    """The id a request's outputs carry: the caller's, without the ``-`` + 8 random characters
    vLLM appends to make its own (unless ``VLLM_DISABLE_REQUEST_ID_RANDOMIZATION``)."""
    from vllm import envs

    return request_id if envs.VLLM_DISABLE_REQUEST_ID_RANDOMIZATION else request_id.rsplit("-", 1)[0]


class InProcessEngine:
    """``vllm.LLM`` in this process, served to asyncio callers by one stepping thread.

    Args:
        model: model path or hub id.
        engine_kwargs: ``vllm.LLM`` arguments (built here: with ``VLLM_ENABLE_V1_MULTIPROCESSING=0``
            in the environment the engine runs in this process).
    """

    def __init__(self, model: str, **engine_kwargs: Any) -> None:
        self.llm = None
        self.dead: BaseException | None = None
        self._inbox: queue.SimpleQueue = queue.SimpleQueue()
        self._waiting: dict[str, tuple[asyncio.AbstractEventLoop, asyncio.Future]] = {}
        started = threading.Event()
        failed: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run, args=(model, engine_kwargs, started, failed), name="vllm-inprocess-engine", daemon=True
        )
        self._thread.start()
        started.wait()
        if failed:
            raise failed[0]
        self.max_num_seqs = int(self.llm.llm_engine.vllm_config.scheduler_config.max_num_seqs)

    def _run(self, model: str, engine_kwargs: dict, started: threading.Event, failed: list) -> None:
        # The engine is built in the thread that steps it: vLLM's CPU worker sets up torch's
        # OpenMP threads (count, core binding) for the thread that builds it, and OpenMP keeps them
        # per calling thread. Stepped from another thread, the model ran with unbound OpenMP threads
        # here: 30% slower (256 prompts: 3.3-3.7 s instead of 2.55-2.7 s).
        try:
            from vllm import LLM

            self.llm = LLM(model=model, **engine_kwargs)
        except BaseException as exc:  # noqa: BLE001 -- handed to the constructor's caller
            failed.append(exc)
            return
        finally:
            started.set()
        self._serve()

    def get_tokenizer(self):
        return self.llm.get_tokenizer()

    async def generate(self, prompt: str, params) -> Any:
        """The finished ``RequestOutput`` of ``prompt`` under ``params`` (a ``vllm.SamplingParams``)."""
        if self.dead is not None:
            raise EngineDeadError(f"the vLLM engine died: {self.dead!r}")
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._inbox.put((prompt, params, loop, future))
        if not self._thread.is_alive():  # it ended after the check above: nobody will take the request
            self._drain(EngineDeadError(f"the vLLM engine died: {self.dead!r}"))
        return await future

    @staticmethod
    def _resolve(
        loop: asyncio.AbstractEventLoop, future: asyncio.Future, result: Any = None, error: BaseException | None = None
    ) -> None:
        def settle() -> None:
            if future.done():  # cancelled by its caller
                return
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)

        loop.call_soon_threadsafe(settle)

    def _admit(self, item) -> None:
        prompt, params, loop, future = item
        try:
            (request_id,) = self.llm.enqueue(prompt, params, use_tqdm=False)
        except Exception as exc:  # this request only (too long a prompt, bad parameters)
            self._resolve(loop, future, error=exc)
            return
        self._waiting[_external_id(request_id)] = (loop, future)

    def _serve(self) -> None:
        engine = self.llm.llm_engine
        while True:
            # block while there is nothing to step; otherwise take what arrived since the last step
            items = [] if engine.has_unfinished_requests() else [self._inbox.get()]
            while True:
                try:
                    items.append(self._inbox.get_nowait())
                except queue.Empty:
                    break
            for item in items:
                if item is _STOP:
                    self._fail_all(EngineDeadError("the vLLM engine was shut down"), dead=False)
                    return
                self._admit(item)
            if not engine.has_unfinished_requests():
                continue
            try:
                outputs = engine.step()
            except BaseException as exc:  # noqa: BLE001 -- the engine is gone: fail everything in it
                logger.exception("vLLM engine step failed")
                self._fail_all(exc, dead=True)
                return
            for out in outputs:
                if out.finished:
                    waiter = self._waiting.pop(out.request_id, None)
                    if waiter is not None:
                        self._resolve(*waiter, result=out)

    def _fail_all(self, exc: BaseException, dead: bool) -> None:
        if dead:
            self.dead = exc
        error = exc if isinstance(exc, EngineDeadError) else EngineDeadError(f"the vLLM engine died: {exc!r}")
        for loop, future in self._waiting.values():
            self._resolve(loop, future, error=error)
        self._waiting.clear()
        self._drain(error)

    def _drain(self, error: BaseException) -> None:
        """Fail the requests that arrived too late to be admitted."""
        while True:
            try:
                item = self._inbox.get_nowait()
            except queue.Empty:
                break
            if item is not _STOP:
                self._resolve(item[2], item[3], error=error)

    def shutdown(self, timeout_s: float = 30) -> None:
        """Stop the thread (pending requests fail) and release the engine."""
        if self._thread.is_alive():
            self._inbox.put(_STOP)
            self._thread.join(timeout_s)
        core = getattr(getattr(self.llm, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()


def sampling_params(spec: dict) -> Any:
    """``vllm.SamplingParams`` from a row's sampling dict, as ray's stage makes them
    (``structured_outputs`` becomes ``StructuredOutputsParams``; Arrow arrays become lists)."""
    import vllm
    from ray.llm._internal.batch.stages.common import maybe_convert_ndarray_to_list

    spec = dict(spec)
    structured = maybe_convert_ndarray_to_list(spec.pop("structured_outputs", None))
    if structured:
        structured = vllm.sampling_params.StructuredOutputsParams(
            **{k: v for k, v in structured.items() if v is not None}
        )
    return vllm.SamplingParams(**maybe_convert_ndarray_to_list(spec), structured_outputs=structured or None)


def supports(
    task_type: Any = "generate", dynamic_lora_loading_path: str | None = None, log_engine_metrics: bool = False
) -> bool:
    """Whether :class:`InProcessEngineStage` can stand for ray's stage with these arguments
    (``vllm.LLM`` takes no stat loggers, so no export of engine metrics to Ray)."""
    return (
        str(getattr(task_type, "value", task_type)) == "generate"
        and not dynamic_lora_loading_path
        and not log_engine_metrics
    )


class InProcessEngineStage:
    """Ray's ``vLLMEngineStageUDF`` for a CPU actor, with :class:`InProcessEngine` as its engine.

    Takes the constructor arguments ray's stage takes (``engine_stage_arguments``); text generation
    only (the Ray path's task), no dynamic LoRA, no metrics export (:func:`supports`).
    """

    def __init__(
        self,
        data_column: str,
        expected_input_keys: list[str] | None,
        batch_size: int,
        max_concurrent_batches: int,
        model: str,
        engine_kwargs: dict,
        task_type: str = "generate",
        max_pending_requests: int | None = None,
        dynamic_lora_loading_path: str | None = None,
        should_continue_on_error: bool = False,
        log_engine_metrics: bool = False,
    ) -> None:
        from ray.llm._internal.batch.stages.base import StatefulStageUDF

        if not supports(task_type, dynamic_lora_loading_path, log_engine_metrics):
            raise ValueError(
                "the in-process engine stage serves text generation, without dynamic LoRA or Ray metrics export: "
                "use ray's stage"
            )
        self.idx_column = StatefulStageUDF.IDX_IN_BATCH_COLUMN
        self.should_continue_on_error = should_continue_on_error
        # what ray's engine wrapper takes out of the engine arguments (the processor config puts the
        # task there too) and puts in (the runner)
        kwargs = {k: v for k, v in engine_kwargs.items() if k not in ("model", "model_source", "task_type")}
        self.engine = InProcessEngine(model, **{**kwargs, "runner": "generate"})
        limit = (
            max_pending_requests
            if max_pending_requests is not None
            else math.ceil(PENDING_FACTOR * self.engine.max_num_seqs)
        )
        self.max_pending_requests = limit
        self._semaphore = asyncio.Semaphore(limit) if limit > 0 else None
        self._request_id = 0
        if batch_size * max_concurrent_batches < self.engine.max_num_seqs:
            logger.warning(
                "batch_size (%d) x max_concurrent_batches (%d) < max_num_seqs (%d): the engine will not be full",
                batch_size,
                max_concurrent_batches,
                self.engine.max_num_seqs,
            )

    def get_tokenizer(self):
        return self.engine.get_tokenizer()

    def shutdown(self) -> None:
        self.engine.shutdown()

    async def _generate(self, row: dict[str, Any], batch_uuid: str) -> dict[str, Any]:
        from ray.llm._internal.batch.stages.vllm_engine_stage import vLLMOutputData

        idx = row[self.idx_column]
        prompt = row.pop("prompt", None)
        try:
            params = sampling_params(row.pop("sampling_params"))
            started = time.perf_counter()
            if self._semaphore is None:
                out = await self.engine.generate(prompt, params)
            else:
                async with self._semaphore:
                    out = await self.engine.generate(prompt, params)
            self._request_id += 1
            # ray's output fields, plus why generation stopped ("length": cut at max_tokens)
            return {
                **vLLMOutputData.from_vllm_engine_output(out).model_dump(),
                "finish_reason": out.outputs[0].finish_reason,
                "request_id": self._request_id,
                self.idx_column: idx,
                "batch_uuid": batch_uuid,
                "time_taken_llm": time.perf_counter() - started,
                "params": str(params),
                "__inference_error__": "",
            }
        except EngineDeadError as exc:
            # as ray's stage does on a fatal engine error: exit the actor, so that Ray restarts it
            # and retries its tasks on a fresh engine (raising would retry them on this dead one)
            logger.error("vLLM engine died, exiting the actor to have it restarted: %s", exc)
            if self.engine.dead is not None:
                os._exit(1)
            raise
        except Exception as exc:
            if not self.should_continue_on_error:
                raise
            error = f"{type(exc).__name__}: {exc}"
            logger.warning("inference failed for row %s of batch %s: %s", idx, batch_uuid, error)
            return {
                **vLLMOutputData(prompt=(prompt or "")[:500], prompt_token_ids=None, num_input_tokens=0).model_dump(),
                "finish_reason": None,
                "request_id": -1,
                self.idx_column: idx,
                "batch_uuid": batch_uuid,
                "time_taken_llm": -1,
                "params": "",
                "__inference_error__": error,
            }

    async def udf(self, batch: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        """Every row of ``batch`` through the engine, yielded as each finishes."""
        batch_uuid = uuid.uuid4().hex
        tasks = [asyncio.create_task(self._generate(row, batch_uuid)) for row in batch]
        try:
            for done in asyncio.as_completed(tasks):
                yield await done
        finally:
            for task in tasks:
                task.cancel()
