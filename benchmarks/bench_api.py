"""Benchmark of the scoring REST API: served docs/s vs bare model predict docs/s on the same batches.

Starts `curator serve` (a real uvicorn subprocess on 127.0.0.1) for each configuration tried
(workers 1 and 2), drives it with 16 concurrent keep-alive clients that each send batches of 32
~2 KB English documents (../shared/data/web/gensim_test_corpora.jsonl, or generated text when it is
missing), and measures the bare model's ``predict`` on the same batches in this process. The load
generator is a minimal asyncio HTTP/1.1 client (lighter than httpx), because it shares the machine's
cores with the server. Bare and served are measured in ``--rounds`` alternating slices (the clients
idle during the bare ones), because this machine's speed drifts by tens of percent within minutes.
Bounded: at most ``--requests`` requests and about ``--seconds`` of each side per configuration.

Prints ONE JSON line: the best configuration's docs/s, p50/p99 latency (ms), and
``ratio`` = served docs/s / bare predict docs/s (one process, the same 32-document batches, in the
slices between that configuration's), plus every configuration's figures.

    .venv/bin/python benchmarks/bench_api.py [--model default|DIR] [--requests 20000] [--seconds 15] [--rounds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

CORPUS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "web" / "gensim_test_corpora.jsonl"
CLIENTS = 16
BATCH = 32
DOC_CHARS = 2000


def load_docs(n: int) -> list[str]:
    """~2 KB English documents from the shared corpus (or generated when it is missing)."""
    texts: list[str] = []
    if CORPUS.is_file():
        with CORPUS.open(encoding="utf-8") as f:
            for line in f:
                t = json.loads(line).get("text", "")
                if len(t) >= 200:
                    texts.append(t)
    if not texts:
        rng = random.Random(0)
        words = "the of and a to in is for that on with as by this are be from at an it science theorem data".split()
        texts = [" ".join(rng.choice(words) for _ in range(400)) for _ in range(200)]
    out = []
    for i in range(n):
        t = texts[i % len(texts)]
        while len(t) < DOC_CHARS:
            t = t + " " + texts[(i * 7 + len(t)) % len(texts)]
        out.append(t[:DOC_CHARS])
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _client(port: int, requests: list[bytes], deadline: float, lat: list[float], check: list[bytes]) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    done = 0
    try:
        for req in requests:
            if time.perf_counter() > deadline:
                break
            t0 = time.perf_counter()
            writer.write(req)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            lat.append(time.perf_counter() - t0)
            if status != 200:
                raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
            if not check:
                check.append(body)
            done += 1
    finally:
        writer.close()
    return done


class BarePredict:
    """The baseline: the bare model's ``predict`` on the request batches, one after another, in this process."""

    def __init__(self, model_spec: str, batches: list[list[str]]) -> None:
        from classifiers import load_classifier

        self.clf = load_classifier(model_spec)
        self.batches = batches
        self.clf.predict(batches[0])
        self._i = 0

    def run(self, seconds: float) -> tuple[int, float]:
        """Predict for about ``seconds``: ``(documents, elapsed seconds)``."""
        t0 = time.perf_counter()
        n = 0
        while time.perf_counter() - t0 < seconds:
            b = self.batches[self._i % len(self.batches)]
            self._i += 1
            self.clf.predict(b)
            n += len(b)
        return n, time.perf_counter() - t0


async def drive(
    port: int, bodies: list[bytes], n_requests: int, seconds: float, bare: BarePredict, rounds: int
) -> dict:
    """Alternate ``rounds`` slices of bare predict and of served load (the clients idle during the
    bare slices), each about ``seconds / rounds`` long: the machine's speed drifts by tens of percent
    within minutes, and alternating short slices puts both sides under the same drift."""
    head = "POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n"
    reqs = [head.format(len(b)).encode() + b for b in bodies]
    per_round = max(CLIENTS, n_requests // rounds)
    # warm-up (not timed)
    warm = [[reqs[(c + i * CLIENTS) % len(reqs)] for i in range(3)] for c in range(CLIENTS)]
    await asyncio.gather(*(_client(port, r, time.perf_counter() + 30, [], []) for r in warm))
    lat: list[float] = []
    check: list[bytes] = []
    n_req = 0
    served_s = 0.0
    bare_docs = 0
    bare_s = 0.0
    slice_s = seconds / rounds
    for k in range(rounds):
        d, e = bare.run(slice_s)
        bare_docs += d
        bare_s += e
        per_client = [
            [reqs[(c + (k * per_round) + i * CLIENTS) % len(reqs)] for i in range(per_round // CLIENTS)]
            for c in range(CLIENTS)
        ]
        t0 = time.perf_counter()
        counts = await asyncio.gather(*(_client(port, r, t0 + slice_s, lat, check) for r in per_client))
        served_s += time.perf_counter() - t0
        n_req += sum(counts)
    results = json.loads(check[0])["results"]
    assert len(results) == BATCH and all(0 <= r["edu_score"] <= 5 for r in results)
    served = n_req * BATCH / served_s
    near = bare_docs / bare_s
    return {
        "requests": n_req,
        "docs_per_s": round(served, 1),
        "p50_ms": round(float(np.percentile(lat, 50)) * 1000, 2),
        "p99_ms": round(float(np.percentile(lat, 99)) * 1000, 2),
        "wall_s": round(served_s, 2),
        "bare_predict_docs_per_s": round(near, 1),
        "ratio": round(served / near, 3),
    }


def run_config(
    model: str, workers: int, executor: str, bodies, n_requests: int, seconds: float, bare: BarePredict, rounds: int
) -> dict:
    port = free_port()
    cmd = [
        sys.executable,
        "-c",
        "from pipelines.cli import main; main()",
        "serve",
        "--model",
        model,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--executor",
        executor,
        "--log-level",
        "warning",
        "--max-body-bytes",
        str(64 * 2**20),
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("EDU_CURATOR_API_KEY", "PROMETHEUS_MULTIPROC_DIR")}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"server exited: {log.read().decode(errors='replace')[-2000:]}")
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("server not ready in 120 s")
                time.sleep(0.2)
            out = asyncio.run(drive(port, bodies, n_requests, seconds, bare, rounds))
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            calls = sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("edu_curator_api_model_batch_documents_count")
            )
            docs = sum(
                float(line.rsplit(" ", 1)[1])
                for line in metrics.splitlines()
                if line.startswith("edu_curator_api_model_batch_documents_sum")
            )
            if calls:
                out["mean_docs_per_model_call"] = round(docs / calls, 1)
            return {"workers": workers, "executor": executor, **out}
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="default", help="`default` or a model directory")
    ap.add_argument("--requests", type=int, default=20000, help="requests per configuration (upper bound)")
    ap.add_argument("--seconds", type=float, default=15.0, help="time per configuration (upper bound)")
    ap.add_argument("--rounds", type=int, default=10, help="alternating bare/served slices per configuration")
    ap.add_argument("--configs", default="1:process,2:process,1:thread,2:thread", help="workers:executor list")
    args = ap.parse_args()

    docs = load_docs(BATCH * 64)
    batches = [docs[i : i + BATCH] for i in range(0, len(docs), BATCH)]
    bodies = [
        json.dumps({"documents": [{"id": str(i), "text": t} for i, t in enumerate(b)]}).encode() for b in batches
    ]
    bare = BarePredict(args.model, batches)
    configs = []
    for spec in args.configs.split(","):
        w, ex = spec.split(":")
        try:
            configs.append(run_config(args.model, int(w), ex, bodies, args.requests, args.seconds, bare, args.rounds))
        except Exception as exc:  # report, do not hide
            configs.append({"workers": int(w), "executor": ex, "error": str(exc)[:500]})
    ok = [c for c in configs if "docs_per_s" in c]
    best = max(ok, key=lambda c: c["docs_per_s"]) if ok else {}
    print(
        json.dumps(
            {
                "benchmark": "api_score",
                "clients": CLIENTS,
                "batch": BATCH,
                "doc_chars": DOC_CHARS,
                "model": args.model,
                "cpus": os.cpu_count(),
                "docs_per_s": best.get("docs_per_s"),
                "p50_ms": best.get("p50_ms"),
                "p99_ms": best.get("p99_ms"),
                "best_config": {k: best.get(k) for k in ("workers", "executor")},
                "bare_predict_docs_per_s": best.get("bare_predict_docs_per_s"),
                "ratio": best.get("ratio"),
                "configs": configs,
            }
        )
    )


if __name__ == "__main__":
    main()
