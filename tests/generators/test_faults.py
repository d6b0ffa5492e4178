"""Teacher faults against a real vLLM server: down at start, killed mid-run, too slow, invalid answers."""

from __future__ import annotations

import threading
import time

import pyarrow as pa
import pytest

from curator.exceptions import TeacherError
from curator.schema import ID, TEXT
from generators.annotate import annotate_table
from generators.base import SamplingParams, TeacherRequest
from generators.cache import ResponseCache, generate_cached
from generators.prompts import EduScore
from generators.server_client import ServerTeacherClient

pytestmark = [pytest.mark.llm, pytest.mark.slow]


def test_server_down_at_start_gives_clear_error(unused_port):
    url = f"http://127.0.0.1:{unused_port}/v1"
    with pytest.raises(TeacherError) as exc:
        ServerTeacherClient(url)
    msg = str(exc.value)
    assert "not reachable" in msg and "start it with" in msg and "vllm.entrypoints.openai.api_server" in msg


def test_unknown_model_is_named(vllm_server):
    with pytest.raises(TeacherError, match="not served"):
        ServerTeacherClient(vllm_server.base_url, model="no-such-model")


def test_timeouts_are_retried_a_bounded_number_of_times(vllm_server):
    client = ServerTeacherClient(vllm_server.base_url, timeout_s=0.001, max_retries=2, backoff_s=0.01)
    res = client.generate([TeacherRequest([{"role": "user", "content": "hello"}], SamplingParams(max_tokens=16))])[0]
    assert not res.ok and res.error.startswith("timeout")
    assert res.attempts == 3
    assert client.stats["errors_timeout"] == 3 and client.stats["retries"] == 2 and client.stats["failed"] == 1


def test_invalid_answers_retried_then_recorded_with_raw_text(vllm_server, tmp_path):
    # max_tokens too small to close the JSON: every answer is cut, fails validation
    client = ServerTeacherClient(vllm_server.base_url, max_invalid_retries=2, backoff_s=0.01)
    docs = pa.table({ID: ["a", "b"], TEXT: ["Cells divide by mitosis.", "Rivers erode valleys."]})
    with ResponseCache(tmp_path) as cache:
        table, stats = annotate_table(docs, client, cache, SamplingParams(temperature=0.7, max_tokens=3))
        assert table.num_rows == 0 and stats["failed"] == 2
        assert client.stats["errors_invalid"] == 6 and client.stats["requests_sent"] == 6  # 1 + 2 retries each
        fails = cache.failures()
    assert len(fails) == 2
    for f in fails:
        assert f["error"].startswith("invalid") and "max_tokens" in f["error"]
        assert f["raw"].startswith("{") and f["attempts"] == 3


def test_killed_mid_run_then_rerun_asks_only_for_failed(vllm_server, tmp_path):
    n = 12
    docs = [
        TeacherRequest(
            [{"role": "user", "content": f"Explain topic number {i} in detail."}],
            SamplingParams(temperature=0.7, max_tokens=400),
            output_model=EduScore,
        )
        for i in range(n)
    ]
    client = ServerTeacherClient(vllm_server.base_url, max_concurrency=2, max_retries=2, backoff_s=0.2, timeout_s=60)
    ok_before = []

    def killer():  # kill the server once a few answers are in
        deadline = time.time() + 60
        while client.stats.get("ok", 0) < 2 and time.time() < deadline:
            time.sleep(0.02)
        ok_before.append(client.stats.get("ok", 0))
        vllm_server.stop()

    t = threading.Thread(target=killer)
    t.start()
    with ResponseCache(tmp_path) as cache:
        try:
            results, stats = generate_cached(client, docs, cache)
        finally:
            t.join()
        assert stats["failed"] >= 1 and stats["generated"] >= 1, stats
        assert stats["generated"] + stats["failed"] == n
        assert client.stats.get("errors_connection", 0) + client.stats.get("errors_server", 0) >= 1
        assert client.stats["retries"] >= 1
        failed_hashes = {r.prompt_hash for r in results if not r.ok}
        assert {f["prompt_hash"] for f in cache.failures()} == failed_hashes
        # restart; rerun asks only for the failed prompts and completes with nothing lost
        vllm_server.start()
        client2 = ServerTeacherClient(vllm_server.base_url, max_concurrency=4, backoff_s=0.05)
        results2, stats2 = generate_cached(client2, docs, cache)
        assert client2.stats["requests_sent"] == len(failed_hashes) == stats2["generated"]
        assert stats2["cached"] == n - len(failed_hashes) and stats2["failed"] == 0
        assert all(r.ok for r in results2) and cache.failures() == []
        assert cache.count()["responses"] == n
