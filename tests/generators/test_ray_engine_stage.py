"""The Ray engine stage assembled without vLLM in the driver: the same stage ``build_processor`` makes."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from generators.ray_engine_stage import (
    ATTEMPTS_KEY,
    CHECK_KEY,
    DATA_COLUMN,
    INIT_KEY,
    MESSAGES_KEY,
    READY_KEY,
    ChatEngineStageUDF,
    engine_stage_arguments,
)

CONFIGS = {
    # what RayEngineTeacherClient asks for on a CPU machine
    "cpu_bundle": {
        "engine_kwargs": {"enforce_eager": True, "dtype": "float32"},
        "placement_group_config": {"bundles": [{"CPU": 1}]},
    },
    # the GPU defaults: no placement group -> one GPU per replica
    "gpu_default": {"engine_kwargs": {"max_num_seqs": 64}, "concurrency": 2, "accelerator_type": "A100"},
    # a bundle per worker with custom resources, autoscaling replicas
    "bundle_per_worker": {
        "engine_kwargs": {},
        "concurrency": (1, 3),
        "placement_group_config": {"bundle_per_worker": {"GPU": 1, "CPU": 2, "fast_disk": 1}},
    },
    # tensor parallel: the Ray executor (ray's own stage computes the scheduling)
    "tensor_parallel": {
        "engine_kwargs": {"tensor_parallel_size": 2},
        "placement_group_config": {"bundle_per_worker": {"GPU": 1}},
    },
}


def _config(model: str, **kw):
    from ray.data.llm import vLLMEngineProcessorConfig

    return vLLMEngineProcessorConfig(
        model_source=model,
        batch_size=8,
        max_concurrent_batches=12,
        should_continue_on_error=True,
        log_engine_metrics=False,
        runtime_env={"env_vars": {"X": "1"}},
        chat_template_stage=False,
        tokenize_stage=False,
        detokenize_stage=False,
        **kw,
    )


def _comparable(kwargs: dict) -> dict:
    out = dict(kwargs)
    fn = out.pop("ray_remote_args_fn", None)
    if fn is not None:  # a functools.partial of ray's scheduling function
        out["ray_remote_args_fn"] = (fn.func.__qualname__, fn.args)
    return out


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_engine_stage_matches_build_processor(name, ray_local, tiny_model):
    # The same constructor and map_batches arguments as ray.data.llm's own vLLM engine stage: a Ray
    # upgrade that changes what build_processor makes fails here.
    from ray.data.llm import build_processor

    spec = json.loads(json.dumps(CONFIGS[name]))  # each build gets its own copy (validators pop keys)
    stage = build_processor(_config(str(tiny_model), **spec)).get_stage_by_name("vLLMEngineStage")
    fn_kwargs, map_kwargs = engine_stage_arguments(_config(str(tiny_model), **json.loads(json.dumps(CONFIGS[name]))))
    assert fn_kwargs == stage.fn_constructor_kwargs
    assert _comparable(map_kwargs) == _comparable(stage.map_batches_kwargs)
    if name == "cpu_bundle":
        assert (
            map_kwargs["num_cpus"] == 1
            and "num_gpus" not in map_kwargs
            and fn_kwargs["engine_kwargs"]["distributed_executor_backend"] == "uni"
        )
    if name == "bundle_per_worker":
        assert (map_kwargs["num_gpus"], map_kwargs["num_cpus"], map_kwargs["resources"]) == (1, 2, {"fast_disk": 1})


def test_single_device_stage_does_not_import_vllm_in_the_driver(tiny_model):
    # the point of the module: the driver hands the stage to Ray Data without importing vLLM or torch
    code = (
        "import sys, json; from ray.data.llm import vLLMEngineProcessorConfig; "
        "from generators.ray_engine_stage import engine_stage; "
        "c = vLLMEngineProcessorConfig(model_source=sys.argv[1], batch_size=4, "
        "placement_group_config={'bundles': [{'CPU': 1}]}); "
        "s = engine_stage(c); print(json.dumps([s.fn.__name__, 'vllm' in sys.modules, 'torch' in sys.modules, "
        "'transformers' in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tiny_model)], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["ChatEngineStageUDF", False, False, False]


class _EchoEngine:
    """Stands in for ray's vLLMEngineStageUDF (run for real in test_engine.py): echoes each prompt."""

    async def udf(self, batch):
        for row in batch:
            yield {"__idx_in_batch": row["__idx_in_batch"], "generated_text": row["prompt"]}


def _udf(engine, max_reasks: int) -> ChatEngineStageUDF:
    udf = ChatEngineStageUDF.__new__(ChatEngineStageUDF)  # without starting ray's engine stage
    udf.data_column, udf.expected_input_keys = DATA_COLUMN, {"sampling_params"}
    udf.engine_stage, udf.max_reasks, udf._tokenizer, udf._checks, udf._ready_at = engine, max_reasks, None, {}, 123.0
    udf._init_at = 100.0
    return udf


def test_the_actor_renders_chat_messages_with_the_model_template(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_model))
    udf = _udf(_EchoEngine(), max_reasks=0)
    udf._tokenizer = tok
    msgs = [{"role": "user", "content": "What is a prime?"}]
    batch = {
        DATA_COLUMN: [
            {"idx": 0, MESSAGES_KEY: json.dumps(msgs), "sampling_params": {"max_tokens": 4}},
            {"idx": 1, "prompt": "already rendered", MESSAGES_KEY: json.dumps(msgs), "sampling_params": {}},
        ]
    }

    async def run():
        return [out async for out in udf(batch)]

    (out,) = asyncio.run(run())
    rows = out[DATA_COLUMN]
    assert rows[0]["generated_text"] == tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    assert "What is a prime?" in rows[0]["generated_text"] and rows[0]["generated_text"] != "What is a prime?"
    assert rows[1]["generated_text"] == "already rendered"  # a rendered prompt is kept
    assert all(MESSAGES_KEY not in r for r in rows)  # the messages are not carried on past the engine
    assert all(
        r[READY_KEY] == 123.0 for r in rows
    )  # when the engine was up, for the driver's start-up/generation split
    assert all(r[INIT_KEY] == 100.0 for r in rows)  # when the actor began to build it: Ray's boot vs vLLM's start


class _ScriptedEngine:
    """Stands in for ray's vLLMEngineStageUDF: answers each prompt from a script, one answer per ask,
    popping the prompt and sampling params off the row as the real stage does."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers, self.asked = answers, []

    async def udf(self, batch):
        for row in batch:
            prompt = row.pop("prompt")
            row.pop("sampling_params")
            self.asked.append(prompt)
            yield {
                "__idx_in_batch": row["__idx_in_batch"],
                "generated_text": self.answers[prompt].pop(0),
                "num_generated_tokens": 3,
            }


def test_invalid_answers_are_re_asked_in_the_actor_up_to_max_reasks():
    # a second job would start a second engine: the actor re-asks with the driver's own check
    from generators.base import model_path
    from generators.prompts import EduScore

    good = json.dumps({"score": 4, "justification": "clear"})
    engine = _ScriptedEngine(
        {"json": ["{not json", good], "text": ["", "", "", "never asked"], "free": ["fine"], "nocheck": [""]}
    )
    json_check = json.dumps({"model": model_path(EduScore), "min_chars": 1})
    text_check = json.dumps({"model": "", "min_chars": 2})
    rows = [
        {"idx": 0, "prompt": "json", "sampling_params": {}, CHECK_KEY: json_check},
        {"idx": 1, "prompt": "text", "sampling_params": {}, CHECK_KEY: text_check},
        {"idx": 2, "prompt": "free", "sampling_params": {}, CHECK_KEY: text_check},
        {"idx": 3, "prompt": "nocheck", "sampling_params": {}, CHECK_KEY: ""},
    ]
    udf = _udf(engine, max_reasks=2)

    async def run():
        return [out async for out in udf({DATA_COLUMN: rows})]

    (out,) = asyncio.run(run())
    got = {r["idx"]: (r["generated_text"], r[ATTEMPTS_KEY]) for r in out[DATA_COLUMN]}
    assert got == {0: (good, 2), 1: ("", 3), 2: ("fine", 1), 3: ("", 1)}
    assert sorted(engine.asked) == ["free", "json", "json", "nocheck", "text", "text", "text"]


def test_engine_reasks_count_as_retries_and_the_driver_does_not_ask_again():
    from generators.base import SamplingParams, TeacherRequest
    from generators.engine_client import _EngineBase

    class Engine(_EngineBase):
        calls = 0

        def _run(self, requests):
            Engine.calls += 1
            # the first answer needed 3 asks in the engine and is still too short; the second is fine
            return [("x", "stop", 2, "", 3), ("a long enough answer", "stop", 5, "", 1)][: len(requests)]

    client = Engine("m", max_invalid_retries=2)
    reqs = [
        TeacherRequest([{"role": "user", "content": q}], SamplingParams(max_tokens=8), min_chars=5) for q in ("a", "b")
    ]
    res = client.generate(reqs)
    assert Engine.calls == 1  # 3 asks already spent on request 0: no second job
    assert [r.attempts for r in res] == [3, 1] and res[0].error.startswith("invalid") and res[1].ok
    assert client.stats["retries"] == 2 and client.stats["requests_sent"] == 4 and client.stats["failed"] == 1
