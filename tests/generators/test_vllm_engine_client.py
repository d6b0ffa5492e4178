"""The direct ``vllm.LLM`` teacher (``engine_backend: vllm``) with the tiny local model, on CPU."""

from __future__ import annotations

import os

import psutil
import pytest

from generators.base import SamplingParams, TeacherRequest
from generators.engine_client import VllmEngineTeacherClient
from generators.prompts import get_template

pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.timeout(600)]


def test_direct_engine_answers_next_to_numba_and_restores_the_environment(tiny_model, vllm_env, monkeypatch):
    # vllm 0.32's in-process engine fails on llvmlite's objects (numba: the dedup kernels import it,
    # so a build's process has it): with llvmlite loaded the client keeps vLLM's own engine processes
    import llvmlite.binding  # noqa: F401

    # the fixture's environment has the CPU setting; the client must set it itself
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    client = VllmEngineTeacherClient(str(tiny_model), cpu=True, max_model_len=2048, max_invalid_retries=1)
    template = get_template("annotate_edu")
    reqs = [
        TeacherRequest(
            template.render(text=t),
            SamplingParams(temperature=0.0, max_tokens=300),
            output_model=template.output_model,
        )
        for t in ["Plants make glucose by photosynthesis.", "A prime number has exactly two divisors."]
    ]
    reqs[1].regex = template.answer_regex(300)  # the annotation constraint (a regex) goes to the engine too
    reqs.append(TeacherRequest([{"role": "user", "content": "Say hello."}], SamplingParams(max_tokens=8)))
    engine_procs: list[psutil.Process] = []
    try:
        results = client.generate(reqs)
        # not single-process here: the engine runs in its own process
        started = {p.pid for p in psutil.Process().children(recursive=True)} - before
        engine_procs = [
            p for p in psutil.process_iter(["pid", "name"]) if p.pid in started and "VLLM" in (p.info["name"] or "")
        ]
        assert engine_procs
    finally:
        client.close()
    _, alive = psutil.wait_procs(engine_procs, timeout=60)
    assert not alive  # close() stopped them
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in os.environ  # never left set in this process
    assert len(results) == 3 and all(r.completion_tokens > 0 for r in results)
    assert all(r.ok for r in results[:2]), [r.error for r in results]  # schema-constrained answers parse
    assert all(0 <= r.parsed["score"] <= 5 for r in results[:2])
    assert client.stats["requests_sent"] >= 3 and client.stats.get("errors_engine", 0) == 0
