"""The in-process teacher path: Ray Data's vLLM processor (ray.data.llm) with the tiny local model."""

from __future__ import annotations

import pyarrow as pa
import pytest

from curator.schema import EDU_SCORE, ID, SOURCE, TEACHER_MODEL, TEXT
from curator.settings import SynthesisSettings
from generators.annotate import SCORE, annotate_table
from generators.base import SamplingParams, TeacherRequest
from generators.cache import ResponseCache, generate_cached
from generators.engine_client import RayEngineTeacherClient
from generators.prompts import get_template
from generators.synthesize import build_request, plan_jobs, run_synthesis

pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.timeout(600)]

TEXTS = [
    "Plants make glucose by photosynthesis.",
    "Volcanoes form where tectonic plates meet.",
    "A prime number has exactly two divisors.",
    "Sound travels faster in water than in air.",
]


def test_ray_data_engine_annotation_and_synthesis(ray_local, tiny_model, vllm_env, tmp_path):
    client = RayEngineTeacherClient(str(tiny_model), cpu=True, batch_size=8, max_model_len=2048, max_invalid_retries=1)
    docs = pa.table({ID: [f"d{i}" for i in range(4)], TEXT: TEXTS})
    ann_sampling = SamplingParams(temperature=0.0, max_tokens=400)
    template = get_template("annotate_edu")
    # the requests annotate_table makes (its answer regex included), so that it finds them in the cache below
    ann_reqs = [
        TeacherRequest(
            template.render(text=t),
            ann_sampling,
            output_model=template.output_model,
            regex=template.answer_regex(ann_sampling.max_tokens),
        )
        for t in TEXTS
    ]
    seeds = pa.table({ID: ["s0", "s1", "s2"], TEXT: TEXTS[:3], EDU_SCORE: pa.array([4.6, 3.4, 4.1], pa.float32())})
    settings = SynthesisSettings(
        num_samples=3,
        seed=5,
        min_output_chars=5,
        teacher={"mode": "engine", "model": str(tiny_model), "max_tokens": 24},
    )
    syn_reqs = [build_request(j, settings) for j in plan_jobs(seeds, settings)]
    with ResponseCache(tmp_path / "cache") as cache:
        # one engine run answers both kinds of request
        results, stats = generate_cached(client, ann_reqs + syn_reqs, cache)
    assert stats["failed"] == 0 and stats["generated"] == len(ann_reqs) + len(
        set(r.prompt_hash(client.model) for r in syn_reqs)
    ), (stats, [r.error for r in results])
    assert all(r.ok for r in results)
    sent = client.stats["requests_sent"]
    # the job's time is split at its engine being up: start-up (import, engine start) and generation
    assert client.stats["engine_start_ms"] > 1000 and client.stats["engine_generate_ms"] > 0, client.stats
    # of the start-up, the engine actor's boot (Ray's part) came first: it is a part, not the whole
    assert 0 < client.stats["actor_boot_ms"] < client.stats["engine_start_ms"], client.stats
    # the public functions now run from the cache: no second engine start
    with ResponseCache(tmp_path / "cache") as cache:
        table, astats = annotate_table(docs, client, cache, ann_sampling)
    assert astats["cached"] == 4 and table.num_rows == 4
    assert all(0 <= s <= 5 for s in table.column(SCORE).to_pylist())
    syn, sstats = run_synthesis(seeds, settings, tmp_path / "cache", client=client)
    assert sstats["cached"] == 3 and sstats["generated"] == 0 and syn.num_rows >= 1
    assert set(syn.column(SOURCE).to_pylist()) == {"synthetic"} and set(syn.column(TEACHER_MODEL).to_pylist()) == {
        str(tiny_model)
    }
    assert client.stats["requests_sent"] == sent
