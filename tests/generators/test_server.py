"""Annotation and synthesis through a real vLLM OpenAI-compatible server (tiny local model)."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curator.schema import (
    DOC_SCHEMA,
    EDU_SCORE,
    ID,
    PROMPT_HASH,
    SAMPLING_PARAMS,
    SEED_ID,
    SOURCE,
    TEACHER_MODEL,
    TEMPLATE_ID,
    TEXT,
)
from curator.settings import SynthesisSettings
from generators.annotate import JUSTIFICATION, SCORE, agreement_report, annotate_files, annotate_table
from generators.base import SamplingParams
from generators.server_client import ServerTeacherClient
from generators.synthesize import run_synthesis

pytestmark = [pytest.mark.llm, pytest.mark.slow]

DOCS = [
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Buy cheap shoes now!!! Free shipping, limited offer, click here.",
    "The Pythagorean theorem states that a^2 + b^2 = c^2 for right triangles.",
    "Mitochondria produce ATP through cellular respiration in eukaryotic cells.",
    "Our cafe opens at 9am. Parking behind the building.",
    "Newton's second law: force equals mass times acceleration, F = ma.",
]


def _client(server, **kw) -> ServerTeacherClient:
    kw.setdefault("backoff_s", 0.05)
    kw.setdefault("max_concurrency", 4)
    return ServerTeacherClient(server.base_url, **kw)


def test_annotation_through_server_is_valid_and_cached(vllm_server, tmp_path):
    inp = tmp_path / "docs.jsonl"
    inp.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(DOCS)) + "\n")
    client = _client(vllm_server)
    assert client.model == vllm_server.served_name  # picked from /v1/models
    assert client._batch_ok is True and client.batch_size == 4  # vLLM's batch endpoint, batches of max_concurrency
    out = tmp_path / "ann.parquet"
    stats = annotate_files(
        [str(inp)],
        out,
        client,
        tmp_path / "cache",
        sample=5,
        seed=1,
        sampling=SamplingParams(temperature=0.0, max_tokens=400),
    )
    assert stats["requested"] == 5 and stats["generated"] == 5 and stats["failed"] == 0, stats
    table = pq.read_table(out)
    assert table.num_rows == 5
    assert set(table.column_names) >= {TEXT, SCORE, JUSTIFICATION, PROMPT_HASH, TEACHER_MODEL}
    scores = table.column(SCORE).to_pylist()
    assert all(isinstance(s, int) and 0 <= s <= 5 for s in scores)
    assert all(j for j in table.column(JUSTIFICATION).to_pylist())
    assert set(table.column(TEACHER_MODEL).to_pylist()) == {vllm_server.served_name}
    assert set(table.column(TEXT).to_pylist()) <= set(DOCS)
    sent = client.stats["requests_sent"]
    # rerun: everything from the cache, zero requests to the server, same output
    stats2 = annotate_files(
        [str(inp)],
        out,
        client,
        tmp_path / "cache",
        sample=5,
        seed=1,
        sampling=SamplingParams(temperature=0.0, max_tokens=400),
    )
    assert stats2["cached"] == 5 and stats2["generated"] == 0
    assert client.stats["requests_sent"] == sent
    assert pq.read_table(out).column(SCORE).to_pylist() == scores
    report = agreement_report(scores, [float(s) for s in scores])
    assert report["accuracy"] == 1.0 and report["n"] == 5


def test_response_format_mode_also_parses(vllm_server):
    client = _client(vllm_server, structured="response_format")
    docs = pa.table({ID: ["a", "b"], TEXT: DOCS[:2]})
    table, stats = annotate_table(docs, client, None, SamplingParams(temperature=0.7, max_tokens=400))
    assert stats["failed"] == 0 and table.num_rows == 2


def test_synthesis_rows_carry_provenance(vllm_server, tmp_path):
    seeds = pa.table(
        {
            ID: [f"s{i}" for i in range(6)],
            TEXT: DOCS,
            EDU_SCORE: pa.array([4.5, 1.0, 4.8, 3.2, 2.0, 3.6], pa.float32()),
        }
    )
    settings = SynthesisSettings(
        num_samples=6, seed=3, min_output_chars=5, teacher={"base_url": vllm_server.base_url, "max_tokens": 32}
    )
    client = _client(vllm_server)
    table, stats = run_synthesis(seeds, settings, tmp_path / "cache", client=client)
    assert stats["requested"] == 6 and stats["failed"] == 0, stats
    assert table.schema == DOC_SCHEMA
    assert table.num_rows == stats["rows"] >= 4  # same seed+template+audience drawn twice -> one row
    rows = table.to_pylist()
    for r in rows:
        assert r[SOURCE] == "synthetic" and r[SEED_ID] in {"s0", "s2", "s3", "s5"}
        assert r[TEMPLATE_ID].split("/v")[0] in {
            "qa_reasoning",
            "worked_problem",
            "textbook_section",
            "exercises",
            "encyclopedic_rephrase",
        }
        assert len(r[PROMPT_HASH]) == 64 and r[TEACHER_MODEL] == vllm_server.served_name
        assert json.loads(r[SAMPLING_PARAMS])["max_tokens"] == 32
        assert r[ID].startswith("syn-") and r[TEXT]
        high = r[SEED_ID] in {"s0", "s2"}
        assert (r[TEMPLATE_ID].startswith("encyclopedic_rephrase")) != high
    # rerun: deterministic ids, all cached, no new server requests
    sent = client.stats["requests_sent"]
    table2, stats2 = run_synthesis(seeds, settings, tmp_path / "cache", client=client)
    assert stats2["cached"] == 6 and stats2["generated"] == 0 and client.stats["requests_sent"] == sent
    assert table2.column(ID).to_pylist() == table.column(ID).to_pylist()


def test_cli_annotate_and_synthesize(vllm_server, tmp_path):
    from typer.testing import CliRunner

    from pipelines.cli import app

    inp = tmp_path / "docs.jsonl"
    inp.write_text("\n".join(json.dumps({"id": f"d{i}", "text": t}) for i, t in enumerate(DOCS)) + "\n")
    runner = CliRunner()
    ann = tmp_path / "ann.parquet"
    r = runner.invoke(
        app,
        [
            "annotate",
            str(inp),
            "--sample",
            "3",
            "--out",
            str(ann),
            "--base-url",
            vllm_server.base_url,
            "--max-tokens",
            "400",
        ],
    )
    assert r.exit_code == 0, r.output
    assert pq.read_table(ann).num_rows == 3
    seeds = tmp_path / "seeds.parquet"
    pq.write_table(pa.table({ID: ["s0", "s1"], TEXT: DOCS[:2], EDU_SCORE: pa.array([4.5, 3.5], pa.float32())}), seeds)
    syn = tmp_path / "syn.parquet"
    r = runner.invoke(
        app,
        [
            "synthesize",
            str(seeds),
            "--out",
            str(syn),
            "-n",
            "2",
            "--base-url",
            vllm_server.base_url,
            "--max-tokens",
            "24",
        ],
    )
    assert r.exit_code == 0, r.output
    t = pq.read_table(syn)
    assert t.schema == DOC_SCHEMA and t.num_rows >= 1 and set(t.column(SOURCE).to_pylist()) == {"synthetic"}
