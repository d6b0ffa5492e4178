"""Benchmark: synthesis tokens/s through the teacher pipeline (server path) vs raw ``vllm.LLM`` on the same prompts.

Builds the tiny local model (or uses ``--model DIR``), starts a real vLLM OpenAI-compatible server,
runs :func:`generators.synthesize.run_synthesis` on ``--n`` seeds (cold cache), stops the server,
then generates the same chat prompts with an in-process ``vllm.LLM`` (the baseline). Prints one
JSON line: ``pipeline_tok_s``, ``raw_tok_s``, ``ratio`` (pipeline / raw), rows/s, and wall times.
Bounded: the whole run is limited to about ``--n`` x ``--max-tokens`` tokens twice plus two engine starts.

    .venv/bin/python benchmarks/bench_teacher.py --n 32 --max-tokens 64
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow as pa

ENV = {"HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "VLLM_HOST_IP": "127.0.0.1"}


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seeds(n: int) -> pa.Table:
    from curator.schema import EDU_SCORE, ID, TEXT

    topics = ["photosynthesis", "plate tectonics", "prime numbers", "the water cycle", "Newton's laws", "cell division", "fractions", "electric circuits"]
    texts = [f"An introduction to {topics[i % len(topics)]}, part {i}: key ideas, definitions and a worked example." for i in range(n)]
    return pa.table({ID: [f"b{i}" for i in range(n)], TEXT: texts, EDU_SCORE: pa.array([3.0 + (i % 5) * 0.5 for i in range(n)], pa.float32())})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=None, help="model dir (default: build the tiny model)")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    os.environ.update(ENV)
    work = Path(tempfile.mkdtemp(prefix="bench_teacher_"))
    os.environ.setdefault("VLLM_CACHE_ROOT", str(work / "vllm_cache"))
    from curator.settings import SynthesisSettings
    from generators.server_client import ServerTeacherClient
    from generators.synthesize import build_request, plan_jobs, run_synthesis
    from generators.tiny_model import build_tiny_model

    model = args.model or str(build_tiny_model(work / "tiny"))
    port = _port()
    settings = SynthesisSettings(num_samples=args.n, seed=0, min_output_chars=1,
                                 teacher={"base_url": f"http://127.0.0.1:{port}/v1", "max_tokens": args.max_tokens, "temperature": 0.7, "max_concurrency": args.concurrency, "per_request_seed": False})
    seeds = _seeds(args.n)
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name", "teacher",
           "--host", "127.0.0.1", "--port", str(port), "--enforce-eager", "--dtype", "float32", "--kv-cache-memory-bytes", str(128 * 2**20),
           "--max-model-len", "2048", "--structured-outputs-config", '{"backend": "guidance", "disable_any_whitespace": true}']
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.time() + 300
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.time() > deadline:
                raise SystemExit(f"server failed to start; see {work / 'server.log'}")
            time.sleep(1)
        client = ServerTeacherClient(settings.teacher.base_url, max_concurrency=args.concurrency, timeout_s=300)
        client.generate([build_request(plan_jobs(seeds, settings)[0], settings)])  # warm-up
        client.stats.clear()
        t0 = time.perf_counter()
        table, stats = run_synthesis(seeds, settings, work / "cache", client=client)
        pipe_s = time.perf_counter() - t0
        pipe_tokens = client.stats.get("completion_tokens", 0)
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    # baseline: raw vllm.LLM.chat on exactly the same prompts and sampling
    from vllm import LLM, SamplingParams

    reqs = [build_request(j, settings) for j in plan_jobs(seeds, settings)]
    llm = LLM(model=model, enforce_eager=True, dtype="float32", kv_cache_memory_bytes=128 * 2**20, max_model_len=2048)
    params = [SamplingParams(temperature=r.sampling.temperature, max_tokens=r.sampling.max_tokens, seed=r.sampling.seed) for r in reqs]
    llm.chat([reqs[0].messages], params[:1], use_tqdm=False)  # warm-up
    t0 = time.perf_counter()
    outs = llm.chat([r.messages for r in reqs], params, use_tqdm=False)
    raw_s = time.perf_counter() - t0
    raw_tokens = sum(len(o.outputs[0].token_ids) for o in outs)
    pipe_tok_s = pipe_tokens / pipe_s
    raw_tok_s = raw_tokens / raw_s
    print(json.dumps({
        "bench": "teacher_synthesis_server", "n": args.n, "max_tokens": args.max_tokens, "rows": stats["rows"], "failed": stats["failed"],
        "pipeline_s": round(pipe_s, 3), "pipeline_tok_s": round(pipe_tok_s, 1), "pipeline_rows_s": round(stats["rows"] / pipe_s, 2),
        "raw_s": round(raw_s, 3), "raw_tok_s": round(raw_tok_s, 1), "ratio": round(pipe_tok_s / raw_tok_s, 3),
        "errors": stats.get("errors", [])[:3], "baseline": "vllm.LLM.chat on the same prompts and sampling, measured in this run",
    }))


if __name__ == "__main__":
    main()
