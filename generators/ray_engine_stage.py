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
postprocess map stage (each is a task worker process starting while the engine starts).

This leans on ray 2.60's ``ray.llm._internal.batch`` (``ray`` is pinned to it):
``tests/generators/test_ray_engine_stage.py`` compares the stage with ``build_processor``'s, so a
Ray upgrade that changes either fails there, not in a build.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

from ray.llm._internal.batch.processor.base import Processor
from ray.llm._internal.batch.stages.base import StatefulStage, StatefulStageUDF

MESSAGES_KEY = "messages_json"  # a row's chat messages (JSON text), rendered in the engine actor
DATA_COLUMN = Processor.DATA_COLUMN  # the struct column the stages read and extend ("__data")


class ChatEngineStageUDF(StatefulStageUDF):
    """Ray's ``vLLMEngineStageUDF``, imported in the actor; renders ``messages_json`` rows first."""

    def __init__(self, data_column: str, expected_input_keys: list[str] | None = None, **engine_stage_kwargs: Any) -> None:
        super().__init__(data_column, expected_input_keys)
        from ray.llm._internal.batch.stages.vllm_engine_stage import vLLMEngineStageUDF

        self.engine_stage = vLLMEngineStageUDF(data_column, list(expected_input_keys or []), **engine_stage_kwargs)
        self._tokenizer = None

    def render(self, messages: list[dict]) -> str:
        """The chat prompt for ``messages``: the model's template, with the engine's tokenizer."""
        if self._tokenizer is None:
            self._tokenizer = self.engine_stage.llm.engine.get_tokenizer()
        return self._tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    async def udf(self, batch: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        for row in batch:
            messages = row.pop(MESSAGES_KEY, None)
            if not row.get("prompt") and messages:
                row["prompt"] = self.render(json.loads(messages))
        async for out in self.engine_stage.udf(batch):
            yield out


class ChatEngineStage(StatefulStage):
    """The engine stage: :class:`ChatEngineStageUDF` on an actor pool."""

    fn: type[StatefulStageUDF] = ChatEngineStageUDF

    def get_required_input_keys(self) -> dict[str, str]:
        return {"sampling_params": "vLLM sampling parameters (a dict)"}

    def get_optional_input_keys(self) -> dict[str, str]:
        return {"prompt": "the rendered prompt", MESSAGES_KEY: "chat messages as JSON, rendered in the actor when there is no prompt"}


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
        "compute": ray.data.ActorPoolStrategy(**config.get_concurrency(autoscaling_enabled=True),
                                              max_tasks_in_flight_per_actor=config.max_tasks_in_flight_per_actor),
        # batches in flight per actor (Ray Core's max_concurrency): they overlap in the engine
        "max_concurrency": config.max_concurrent_batches,
        "accelerator_type": config.accelerator_type,
        "runtime_env": config.runtime_env,
    }
    placement = config.placement_group_config
    bundles_per_replica = int(engine_kwargs.get("tensor_parallel_size", 1)) * int(engine_kwargs.get("pipeline_parallel_size", 1))
    engine_kwargs.setdefault("distributed_executor_backend", "uni" if bundles_per_replica == 1 else "ray")
    if engine_kwargs["distributed_executor_backend"] == "ray":
        from ray.llm._internal.batch.stages import vLLMEngineStage

        stage = vLLMEngineStage(fn_constructor_kwargs={**fn_kwargs, "placement_group_config": placement}, map_batches_kwargs=map_kwargs)
        return stage.fn_constructor_kwargs, stage.map_batches_kwargs
    remote: dict[str, Any] = {}
    if config.accelerator_type:
        remote["accelerator_type"] = config.accelerator_type
    if not placement:
        remote["num_gpus"] = bundles_per_replica
    else:
        placement = dict(placement)
        per_worker = placement.pop("bundle_per_worker", None)
        bundles = [dict(per_worker) for _ in range(bundles_per_replica)] if per_worker is not None else placement["bundles"]
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


def engine_stage(config) -> ChatEngineStage:
    """The engine stage for ``config`` (a ``vLLMEngineProcessorConfig``)."""
    fn_kwargs, map_kwargs = engine_stage_arguments(config)
    return ChatEngineStage(fn_constructor_kwargs=fn_kwargs, map_batches_kwargs=map_kwargs)


def run_engine_stage(ds, config):
    """``ds`` through the engine stage, lazily (a Dataset). Rows in and out have the layout the
    processor's stages use: one :data:`DATA_COLUMN` struct per row, holding ``sampling_params``
    and ``prompt`` or :data:`MESSAGES_KEY` (plus anything to carry along); out, the engine's
    fields are added (``generated_text``, ``num_generated_tokens``, ``finish_reason``, or
    ``__inference_error__`` when ``should_continue_on_error``). The caller builds and reads the
    rows: no preprocess/postprocess map stage (each is a task worker process starting while the
    engine starts, ~2 s of CPU apiece on 2 cores)."""
    stage = engine_stage(config)
    return ds.map_batches_internal(stage.fn, **stage.get_dataset_map_batches_kwargs(batch_size=config.batch_size, data_column=DATA_COLUMN))
