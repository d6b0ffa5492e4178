"""Ray Data's vLLM engine stage, handed to Ray Data without importing vLLM in the driver.

``ray.data.llm.build_processor`` imports vLLM, torch and transformers in the driver (~10 s on 2
cores) before the job starts; only then does the engine actor start, and it imports them all again.
The two imports ran one after the other: on a 2-core machine that was the whole gap between the
Ray Data job and a plain ``vllm.LLM`` script (the actor, EngineCore and worker start-ups took what
the script's do). :func:`run_engine_stage` maps a dataset through ray's own ``vLLMEngineStageUDF``
on an actor pool, with the constructor and ``map_batches`` arguments ``build_processor`` gives it
(:func:`engine_stage_arguments`), from light modules only, so the engine actor starts at once. The
actor applies the model's chat template with the engine's own tokenizer (as ``vllm.LLM.chat``
does): no chat-template stage (one more process loading transformers) and no tokenizer in the
driver. The driver builds and reads the rows in the processor's layout itself: no preprocess or
postprocess map stage (each is a task worker process starting while the engine starts). On a
CPU worker the actor runs the engine in its own process (:mod:`generators.inprocess_engine`):
ray's async engine starts a second process that imports vLLM again.

This leans on ray 2.60's ``ray.llm._internal.batch`` (``ray`` is pinned to it):
``tests/generators/test_ray_engine_stage.py`` compares the stage with ``build_processor``'s, so a
Ray upgrade that changes either fails there, not in a build.
"""

from __future__ import annotations

import copy
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from ray.llm._internal.batch.processor.base import Processor
from ray.llm._internal.batch.stages.base import StatefulStage, StatefulStageUDF

from generators.vllm_env import breaks_in_process_engine

MESSAGES_KEY = "messages_json"  # a row's chat messages (JSON text), rendered in the engine actor
# a row's answer check (JSON text: {"model": "module:qualname" or "", "min_chars": n}), run in the actor
CHECK_KEY = "answer_check"
ATTEMPTS_KEY = "engine_attempts"  # out: how many times the actor asked the engine for the row
READY_KEY = "engine_ready_at"  # out: when the row's engine was up (epoch seconds): start-up vs generation time
# out: when the row's actor began to build its engine (epoch seconds): Ray's actor boot vs vLLM's start
INIT_KEY = "engine_init_at"
DATA_COLUMN = Processor.DATA_COLUMN  # the struct column the stages read and extend ("__data")


class ChatEngineStageUDF(StatefulStageUDF):
    """Ray's ``vLLMEngineStageUDF``, imported in the actor; renders ``messages_json`` rows first.

    With ``max_reasks``, an answer that fails its row's :data:`CHECK_KEY` (the driver's own
    :func:`generators.base.check_answer`) is asked again in this actor, up to ``max_reasks`` times:
    re-asking from the driver means a second job, i.e. a second engine start (~35 s for the tiny
    model on CPU, minutes for a large one) for a handful of rows.

    With ``in_process`` (CPU engines) the engine is :class:`generators.inprocess_engine.InProcessEngineStage`:
    ``vllm.LLM`` in this actor's process, instead of ray's async engine and its EngineCore process.
    """

    def __init__(
        self,
        data_column: str,
        expected_input_keys: list[str] | None = None,
        max_reasks: int = 0,
        in_process: bool = False,
        **engine_stage_kwargs: Any,
    ) -> None:
        super().__init__(data_column, expected_input_keys)
        self._init_at = time.time()  # the actor is up (worker, ray.data, this class): the engine starts now
        if in_process and not breaks_in_process_engine():  # vllm 0.32's in-process engine fails next to llvmlite
            from generators.inprocess_engine import InProcessEngineStage as stage_class
        else:
            from ray.llm._internal.batch.stages.vllm_engine_stage import vLLMEngineStageUDF as stage_class

        self.engine_stage = stage_class(data_column, list(expected_input_keys or []), **engine_stage_kwargs)
        self.max_reasks = max_reasks
        self._tokenizer = None
        self._checks: dict[str, Any] = {}
        self._ready_at = time.time()

    def _passes(self, row: dict[str, Any], out: dict[str, Any]) -> bool:
        """Whether ``out`` passes ``row``'s answer check (no check, or an engine error: it passes;
        the driver has the last word either way)."""
        spec = row.get(CHECK_KEY)
        if not spec or out.get("__inference_error__"):
            return True
        if spec not in self._checks:
            from generators.base import load_model_path

            want = json.loads(spec)
            try:
                self._checks[spec] = (load_model_path(want.get("model", "")), int(want.get("min_chars", 1)))
            except (ImportError, AttributeError):  # a model this process cannot import
                self._checks[spec] = None
        if self._checks[spec] is None:
            return True
        from generators.base import check_answer

        return check_answer(out.get("generated_text") or "", *self._checks[spec])[1] is None

    def __del__(self) -> None:
        # Ray Data drops the UDF when the actor exits gracefully; shut the engine's processes down
        # here, explicitly (left to the inner stage's own __del__, a reference cycle would leave
        # vLLM's EngineCore and worker processes orphaned until the actor process dies)
        stage = self.__dict__.pop("engine_stage", None)
        if stage is None:
            return
        llm = stage.__dict__.pop("llm", None)  # ray's stage's engine wrapper
        if llm is not None:
            llm.shutdown()
        elif hasattr(stage, "shutdown"):  # the in-process engine's thread
            stage.shutdown()

    def render(self, messages: list[dict]) -> str:
        """The chat prompt for ``messages``: the model's template, with the engine's tokenizer."""
        if self._tokenizer is None:
            stage = self.engine_stage
            self._tokenizer = (
                stage.get_tokenizer() if hasattr(stage, "get_tokenizer") else stage.llm.engine.get_tokenizer()
            )
        return self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    async def udf(self, batch: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        for row in batch:
            messages = row.pop(MESSAGES_KEY, None)
            if not row.get("prompt") and messages:
                row["prompt"] = self.render(json.loads(messages))
        # the engine stage pops the prompt and sampling params off its rows: re-asks get copies
        originals = {row[self.IDX_IN_BATCH_COLUMN]: copy.deepcopy(row) for row in batch} if self.max_reasks else {}
        pending = batch
        for attempt in range(1, self.max_reasks + 2):
            again = []
            async for out in self.engine_stage.udf(pending):
                idx = out[self.IDX_IN_BATCH_COLUMN]
                if attempt <= self.max_reasks and not self._passes(originals[idx], out):
                    again.append(copy.deepcopy(originals[idx]))
                    continue
                out[ATTEMPTS_KEY] = attempt
                out[READY_KEY] = self._ready_at
                out[INIT_KEY] = self._init_at
                yield out
            if not again:
                break
            pending = again


class ChatEngineStage(StatefulStage):
    """The engine stage: :class:`ChatEngineStageUDF` on an actor pool."""

    fn: type[StatefulStageUDF] = ChatEngineStageUDF

    def get_required_input_keys(self) -> dict[str, str]:
        return {"sampling_params": "vLLM sampling parameters (a dict)"}

    def get_optional_input_keys(self) -> dict[str, str]:
        return {
            "prompt": "the rendered prompt",
            MESSAGES_KEY: "chat messages as JSON, rendered in the actor when there is no prompt",
        }


def engine_stage_arguments(config) -> tuple[dict, dict]:
    """``(fn_constructor_kwargs, map_batches_kwargs)`` of the engine stage for ``config`` (a
    ``vLLMEngineProcessorConfig``): what ``build_processor`` passes to ray's ``vLLMEngineStage``
    and what that stage's validator makes of them. A Ray-executor engine (tensor x pipeline
    parallel > 1, placement groups per worker) is left to ray's own stage class, which imports
    vLLM here: on such clusters the engine's start-up dwarfs the import.
    """
    import ray.data

    engine_kwargs = dict(config.engine_kwargs)
    fn_kwargs: dict[str, Any] = {
        "batch_size": config.batch_size,
        "max_concurrent_batches": config.max_concurrent_batches,
        "model": config.model_source,
        "engine_kwargs": engine_kwargs,
        "task_type": config.task_type,
        "max_pending_requests": config.max_pending_requests,
        "dynamic_lora_loading_path": config.dynamic_lora_loading_path,
        "should_continue_on_error": config.should_continue_on_error,
        "log_engine_metrics": config.log_engine_metrics,
    }
    map_kwargs: dict[str, Any] = {
        "zero_copy_batch": True,
        "compute": ray.data.ActorPoolStrategy(
            **config.get_concurrency(autoscaling_enabled=True),
            max_tasks_in_flight_per_actor=config.max_tasks_in_flight_per_actor,
        ),
        # batches in flight per actor (Ray Core's max_concurrency): they overlap in the engine
        "max_concurrency": config.max_concurrent_batches,
        "accelerator_type": config.accelerator_type,
        "runtime_env": config.runtime_env,
    }
    placement = config.placement_group_config
    bundles_per_replica = int(engine_kwargs.get("tensor_parallel_size", 1)) * int(
        engine_kwargs.get("pipeline_parallel_size", 1)
    )
    engine_kwargs.setdefault("distributed_executor_backend", "uni" if bundles_per_replica == 1 else "ray")
    if engine_kwargs["distributed_executor_backend"] == "ray":
        from ray.llm._internal.batch.stages import vLLMEngineStage

        stage = vLLMEngineStage(
            fn_constructor_kwargs={**fn_kwargs, "placement_group_config": placement}, map_batches_kwargs=map_kwargs
        )
        return stage.fn_constructor_kwargs, stage.map_batches_kwargs
    remote: dict[str, Any] = {}
    if config.accelerator_type:
        remote["accelerator_type"] = config.accelerator_type
    if not placement:
        remote["num_gpus"] = bundles_per_replica
    else:
        placement = dict(placement)
        per_worker = placement.pop("bundle_per_worker", None)
        bundles = (
            [dict(per_worker) for _ in range(bundles_per_replica)] if per_worker is not None else placement["bundles"]
        )
        total = Counter()
        for bundle in bundles:
            total.update(bundle)
        cpus, gpus = total.pop("CPU", 0), total.pop("GPU", 0)
        if cpus:
            remote["num_cpus"] = cpus
        if gpus:
            remote["num_gpus"] = gpus
        if total:
            remote["resources"] = dict(total)
    map_kwargs.update(remote)
    return fn_kwargs, map_kwargs


def engine_stage(config, max_reasks: int = 0, in_process: bool = False) -> ChatEngineStage:
    """The engine stage for ``config`` (a ``vLLMEngineProcessorConfig``), re-asking answers that
    fail their row's check up to ``max_reasks`` times in the actor. ``in_process`` (for CPU
    engines): the actor runs :class:`generators.inprocess_engine.InProcessEngineStage` (``vllm.LLM``
    in the actor's process) instead of ray's stage (an async engine whose EngineCore is a second
    process); ignored where that stage cannot stand in (a Ray-executor engine, LoRA, metrics export)."""
    from generators.inprocess_engine import supports

    fn_kwargs, map_kwargs = engine_stage_arguments(config)
    in_process = (
        in_process
        and fn_kwargs["engine_kwargs"].get("distributed_executor_backend") == "uni"
        and supports(fn_kwargs["task_type"], fn_kwargs["dynamic_lora_loading_path"], fn_kwargs["log_engine_metrics"])
    )
    return ChatEngineStage(
        fn_constructor_kwargs={**fn_kwargs, "max_reasks": max_reasks, "in_process": in_process},
        map_batches_kwargs=map_kwargs,
    )


def run_engine_stage(ds, config, max_reasks: int = 0, in_process: bool = False):
    """``ds`` through the engine stage, lazily (a Dataset). Rows in and out have the layout the
    processor's stages use: one :data:`DATA_COLUMN` struct per row, holding ``sampling_params``
    and ``prompt`` or :data:`MESSAGES_KEY`, optionally :data:`CHECK_KEY` (plus anything to carry
    along); out, the engine's fields are added (``generated_text``, ``num_generated_tokens``,
    ``finish_reason``, or ``__inference_error__`` when ``should_continue_on_error``) and
    :data:`ATTEMPTS_KEY`, :data:`INIT_KEY` and :data:`READY_KEY`. The caller builds and reads the
    rows: no preprocess/postprocess map stage (each is a task worker process starting while the
    engine starts, ~2 s of CPU apiece on 2 cores). ``in_process``: see :func:`engine_stage`."""
    stage = engine_stage(config, max_reasks, in_process)
    return ds.map_batches_internal(
        stage.fn, **stage.get_dataset_map_batches_kwargs(batch_size=config.batch_size, data_column=DATA_COLUMN)
    )
