"""The CPU engine actor's in-process vLLM engine: real engine in a real Ray actor, and its thread logic."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from generators.inprocess_engine import EngineDeadError, InProcessEngine, supports
from generators.ray_engine_stage import ATTEMPTS_KEY, CHECK_KEY, DATA_COLUMN, MESSAGES_KEY
from generators.vllm_env import CPU_ENGINE_ENV, VLLM_ENV, engine_kwargs_for


@pytest.mark.llm
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_in_process_stage_answers_in_the_actor_process(ray_local, tiny_model):
    # A real engine in a real Ray actor (a fresh process, as in a build): JSON answers parse, an
    # over-long prompt fails its row only, and vLLM runs no EngineCore process beside the actor.
    import psutil

    from generators.base import model_path
    from generators.prompts import EduScore
    from generators.ray_engine_stage import ChatEngineStageUDF

    @ray_local.remote(num_cpus=1)
    class Host:
        def __init__(self, model: str, engine_kwargs: dict) -> None:
            self.udf = ChatEngineStageUDF(
                DATA_COLUMN,
                ["sampling_params"],
                max_reasks=1,
                in_process=True,
                batch_size=8,
                max_concurrent_batches=8,
                model=model,
                engine_kwargs=engine_kwargs,
                task_type="generate",
                max_pending_requests=None,
                dynamic_lora_loading_path=None,
                should_continue_on_error=True,
                log_engine_metrics=False,
            )

        async def run(self, rows: list[dict]) -> tuple[list[dict], list[str], str]:
            outs = [row async for batch in self.udf({DATA_COLUMN: rows}) for row in batch[DATA_COLUMN]]
            children = [" ".join(c.cmdline()[:3]) for c in psutil.Process().children(recursive=True)]
            return outs, children, type(self.udf.engine_stage).__name__

        def close(self) -> bool:
            thread = self.udf.engine_stage.engine._thread
            self.udf.engine_stage.shutdown()
            return thread.is_alive()

    kwargs = engine_kwargs_for(
        True, 64 * 2**20, 512, {"disable_log_stats": True, "distributed_executor_backend": "uni"}
    )
    host = Host.options(runtime_env={"env_vars": {**VLLM_ENV, **CPU_ENGINE_ENV, "OMP_NUM_THREADS": "1"}}).remote(
        str(tiny_model), kwargs
    )
    schema = json.dumps(EduScore.model_json_schema())
    check = json.dumps({"model": model_path(EduScore), "min_chars": 1})
    rows = [
        {
            "idx": i,
            MESSAGES_KEY: json.dumps([{"role": "user", "content": f"Rate text {i}."}]),
            CHECK_KEY: check,
            "sampling_params": {"temperature": 0.8, "max_tokens": 96, "structured_outputs": {"json": schema}},
        }
        for i in range(6)
    ]
    rows.append(
        {"idx": 6, "prompt": "word " * 2000, CHECK_KEY: "", "sampling_params": {"temperature": 0.0, "max_tokens": 4}}
    )
    outs, children, stage = ray_local.get(host.run.remote(rows), timeout=500)
    assert stage == "InProcessEngineStage"
    assert children == []  # no EngineCore (nor any other) process: the model ran in the actor
    by_idx = {r["idx"]: r for r in outs}
    assert sorted(by_idx) == list(range(7))
    for i in range(6):
        row = by_idx[i]
        assert row["__inference_error__"] == "" and row[ATTEMPTS_KEY] >= 1
        EduScore.model_validate_json(row["generated_text"])  # guided JSON: parses
        assert row["num_generated_tokens"] > 0 and row["finish_reason"] in ("stop", "length")
    assert by_idx[6]["__inference_error__"] and not by_idx[6]["generated_text"]  # that row alone failed
    assert ray_local.get(host.close.remote(), timeout=60) is False  # the engine thread stopped


class _FakeEngine:
    """Stands in for ``LLMEngine`` (a real engine cannot be made to die on cue): unfinished
    requests, and a step that fails."""

    def __init__(self) -> None:
        self.requests: list[str] = []

    def has_unfinished_requests(self) -> bool:
        return bool(self.requests)

    def step(self):
        raise RuntimeError("simulated engine failure")


class _FakeLLM:
    def __init__(self) -> None:
        self.llm_engine = _FakeEngine()

    def enqueue(self, prompt, params, use_tqdm=False):
        if prompt == "bad":
            raise ValueError("prompt too long")
        self.llm_engine.requests.append(prompt)
        return [f"{len(self.llm_engine.requests)}-abcdefgh"]


def test_a_failing_step_fails_every_pending_request_and_marks_the_engine_dead():
    engine = InProcessEngine.__new__(InProcessEngine)
    engine.llm, engine.dead = _FakeLLM(), None
    import queue

    engine._inbox, engine._waiting = queue.SimpleQueue(), {}

    async def main():
        loop = asyncio.get_running_loop()
        bad, good = loop.create_future(), loop.create_future()
        engine._inbox.put(("bad", None, loop, bad))
        engine._inbox.put(("fine", None, loop, good))
        thread = engine._thread = threading.Thread(target=engine._serve)
        thread.start()
        await asyncio.to_thread(thread.join, 10)
        results = await asyncio.gather(bad, good, return_exceptions=True)
        return thread.is_alive(), results

    alive, (bad, good) = asyncio.run(main())
    assert not alive  # the thread ended with the engine
    assert isinstance(bad, ValueError)  # refused at admission: that request's own error
    assert isinstance(good, EngineDeadError) and "simulated engine failure" in str(good)
    assert isinstance(engine.dead, RuntimeError) and engine._waiting == {}

    async def late():
        return await engine.generate("more", None)

    with pytest.raises(EngineDeadError):  # a dead engine refuses new requests at once
        asyncio.run(late())
    engine.dead = None  # as if the thread ended between generate's check and its request: not left waiting
    with pytest.raises(EngineDeadError):
        asyncio.run(asyncio.wait_for(late(), 10))


def test_in_process_stage_stands_in_for_text_generation_only():
    assert supports("generate") and not supports("embed")
    assert not supports("generate", dynamic_lora_loading_path="s3://loras")
    assert not supports("generate", log_engine_metrics=True)  # vllm.LLM takes no Ray stat loggers
