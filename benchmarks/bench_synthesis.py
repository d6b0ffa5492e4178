"""Benchmark: synthesis rows/s and tokens/s through both teacher paths vs raw ``vllm.LLM.generate``.

On the same ``--n`` seeds (so the same chat prompts), each with a cold response cache:

* ``server``: a real vLLM OpenAI-compatible server subprocess on 127.0.0.1 (started and warmed up
  with a few short requests outside the timing, like a long-lived ``vllm serve``; given the
  scheduler limits ``vllm.LLM`` has on CPU, ``--max-num-seqs 256 --max-num-batched-tokens 4096``,
  and its ``--disable-log-stats`` default, as the README says to), then
  :func:`generators.synthesize.run_synthesis` with the client the pipeline builds from
  ``synthesis.teacher`` (``mode: server``: batches of ``server_batch_size`` conversations through
  vLLM's ``/chat/completions/batch``). It alternates with the ``raw``
  baseline in ``--rounds`` rounds (order flipped each round, fresh seeds each round), so that the
  machine's drift, which moved a single before/after comparison by +-20%, hits both alike;
* ``ray``: :func:`run_synthesis` with ``mode: engine``, ``engine_backend: ray`` -- one Ray Data
  job through ``ray.data.llm``'s vLLM engine stage, which starts its engine inside the job (Ray
  itself is started outside the timing, as a cluster would be, with Ray Data's helper actors up
  as after a build's earlier stages, and the machine let go idle before
  each timing, as before ``raw_cold``'s). It alternates with ``raw_cold``
  in ``--rounds`` rounds the same way (one job against one script swung 0.74-1.06 here);
* ``raw`` (baseline, same run): one in-process ``vllm.LLM`` with the same engine arguments,
  ``generate`` on the same prompts rendered with the model's chat template, same sampling
  (temperature, top_p, max_tokens). ``init_s`` is its engine start, ``gen_s`` its warm
  ``generate`` calls, one per round, of every prompt (after the same untimed warm-up prompts as the
  server's);
* ``raw_cold`` (baseline of the Ray path, same run): the same job as a plain script in a fresh
  process -- import vLLM, start ``LLM``, ``generate`` -- timed to its results in hand.

Figures of rounds are summed (``round_ratios`` lists each round's, ``median_round_ratio`` is their median:
less swayed by one round the machine slowed down).

``ratio`` = pipeline tokens/s / baseline tokens/s: the server path against the warm ``generate``
(neither server start nor engine start is timed), the Ray path, which starts an engine on every
job, against ``raw_cold`` (``ratio_vs_init_and_generate``, against an engine start without the
import, and ``ratio_vs_warm_generate`` are also given). The Ray job's time is also split where its
engine came up (``engine_start_s``: Ray Data, the actor, vLLM's import and engine start, of which
``actor_boot_s`` is Ray's part, until the actor began to build its engine; ``generate_s``: the
rest): ``steady_ratio`` is its tokens/s over ``generate_s`` against the warm ``generate`` -- the
pipeline's throughput once running, which a long build sees. ``raw_cold`` is
split the same way, where its ``LLM`` was up: ``start_vs_cold`` and ``generate_vs_cold`` are the
script's seconds over the job's for each part (1.0: the job is as fast). Every side runs
with the environment the pipeline gives its engines (on CPU ``VLLM_ENABLE_V1_MULTIPROCESSING=0``,
:func:`generators.vllm_env.engine_env`). vLLM's on-disk model-info cache is filled
before any timing. The synthesis templates are free text (no JSON schema), so neither side does
guided decoding. Prints ONE JSON line on stdout (logs go to stderr). The defaults (5 rounds: a
server round is ~4 s here, and single rounds swing +-15%) take about 5 minutes on 2 cores:

    .venv/bin/python benchmarks/bench_synthesis.py --n 256 --max-tokens 128 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pyarrow as pa

KV_BYTES = 128 * 2**20
MAX_MODEL_LEN = 2048
WARMUP = [f"warm up {i}" for i in range(8)]  # untimed short prompts, the same for the server and the raw engine


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _seeds(n: int, offset: int = 0) -> pa.Table:
    from curator.schema import EDU_SCORE, ID, TEXT

    topics = [
        "photosynthesis",
        "plate tectonics",
        "prime numbers",
        "the water cycle",
        "Newton's laws",
        "cell division",
        "fractions",
        "electric circuits",
    ]
    idx = range(offset, offset + n)
    texts = [
        f"An introduction to {topics[i % len(topics)]}, part {i}: key ideas, definitions and a worked example."
        for i in idx
    ]
    return pa.table(
        {
            ID: [f"b{i}" for i in idx],
            TEXT: texts,
            EDU_SCORE: pa.array([3.0 + (i % 5) * 0.5 for i in idx], pa.float32()),
        }
    )


def _settings(args, teacher: dict):
    from curator.settings import SynthesisSettings

    base = {"max_tokens": args.max_tokens, "temperature": args.temperature, "top_p": 1.0, "per_request_seed": False}
    return SynthesisSettings(num_samples=args.n, seed=0, min_output_chars=1, teacher={**base, **teacher})


def _path_figures(wall_s: float, stats: dict) -> dict:
    teacher = stats.get("teacher", {})
    tokens = int(teacher.get("completion_tokens", 0))
    fig = {
        "rows": stats["rows"],
        "failed": stats["failed"],
        "wall_s": round(wall_s, 3),
        "tokens": tokens,
        "rows_s": round(stats["rows"] / wall_s, 2),
        "tok_s": round(tokens / wall_s, 1),
        "retries": int(teacher.get("retries", 0)),
        "errors": stats.get("errors", [])[:3],
    }
    if "engine_generate_ms" in teacher:  # Ray path: until its engine was up (of it, the actor's boot), and after
        fig["engine_start_s"], fig["generate_s"] = (
            teacher["engine_start_ms"] / 1000,
            teacher["engine_generate_ms"] / 1000,
        )
        fig["actor_boot_s"] = teacher.get("actor_boot_ms", 0) / 1000
    return fig


def _start_server(model: str, work: Path) -> tuple[subprocess.Popen, int]:
    """A vLLM OpenAI-compatible server subprocess, ready and warmed up (outside any timing)."""
    from generators.vllm_env import CPU_SCHEDULER

    port = _port()
    cmd = [
        sys.executable,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model,
        "--served-model-name",
        "teacher",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--enforce-eager",
        "--dtype",
        "float32",
        "--kv-cache-memory-bytes",
        str(KV_BYTES),
        "--max-model-len",
        str(MAX_MODEL_LEN),
        # the scheduler limits vllm.LLM has on CPU (the server's own default is half of each)
        "--max-num-seqs",
        str(CPU_SCHEDULER["max_num_seqs"]),
        "--max-num-batched-tokens",
        str(CPU_SCHEDULER["max_num_batched_tokens"]),
        "--disable-log-stats",  # vllm.LLM's default
        "--structured-outputs-config",
        '{"backend": "guidance", "disable_any_whitespace": true}',
    ]
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen(cmd, env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.time() + 300
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.time() > deadline:
            os.killpg(proc.pid, 9)
            raise SystemExit(f"server failed to start; see {work / 'server.log'}")
        time.sleep(1)
    # warm-up (a long-lived server has served requests before): the same WARMUP short prompts,
    # all at once, that the raw engine gets
    import asyncio

    async def _warm() -> None:
        async with httpx.AsyncClient(timeout=120) as c:
            rs = await asyncio.gather(
                *(
                    c.post(
                        f"http://127.0.0.1:{port}/v1/chat/completions",
                        json={"model": "teacher", "messages": [{"role": "user", "content": m}], "max_tokens": 8},
                    )
                    for m in WARMUP
                )
            )
            for r in rs:
                r.raise_for_status()

    asyncio.run(_warm())
    return proc, port


class RawEngine:
    """The baseline: one in-process ``vllm.LLM`` with the pipeline's engine arguments, warmed up."""

    def __init__(self, args, model: str) -> None:
        from vllm import LLM, SamplingParams

        from generators.vllm_env import engine_kwargs_for

        self.args = args
        t0 = time.perf_counter()
        self.llm = LLM(model=model, **engine_kwargs_for(None, KV_BYTES, MAX_MODEL_LEN))
        self.init_s = time.perf_counter() - t0
        self.tok = self.llm.get_tokenizer()
        self.llm.generate(
            [
                self.tok.apply_chat_template(
                    [{"role": "user", "content": m}], tokenize=False, add_generation_prompt=True
                )
                for m in WARMUP
            ],
            SamplingParams(max_tokens=8),
            use_tqdm=False,
        )

    def generate(self, seeds: pa.Table) -> dict:
        """One warm ``generate`` of the pipeline's prompts for ``seeds`` (chat template applied in the timing)."""
        from vllm import SamplingParams

        messages, sampling = _raw_job(self.args, seeds)
        t0 = time.perf_counter()
        prompts = [self.tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in messages]
        outs = self.llm.generate(prompts, SamplingParams(**sampling), use_tqdm=False)
        gen_s = time.perf_counter() - t0
        tokens = sum(len(o.outputs[0].token_ids) for o in outs)
        rows = sum(1 for o in outs if o.outputs[0].text.strip())
        return {"rows": rows, "gen_s": gen_s, "tokens": tokens}


def _wait_quiet(max_s: float = 20.0) -> None:
    """Untimed: wait until the machine is idle (two 0.5 s samples under 30% CPU), so that Ray's
    start-up tail (its prestarted workers and agents keep starting for seconds after ``ray.init``
    returns) or the teardown of the previous job does not land in a timing."""
    import psutil

    deadline, quiet = time.monotonic() + max_s, 0
    while quiet < 2 and time.monotonic() < deadline:
        quiet = quiet + 1 if psutil.cpu_percent(interval=0.5) < 30 else 0


def _sum_figures(parts: list[dict], seconds_key: str) -> dict:
    rows, tokens, secs = (sum(p[k] for p in parts) for k in ("rows", "tokens", seconds_key))
    return {
        "rows": rows,
        "tokens": tokens,
        seconds_key: round(secs, 3),
        "rows_s": round(rows / secs, 2),
        "tok_s": round(tokens / secs, 1),
    }


def _alternating_rounds(args, runs: list[tuple[str, object]]) -> dict[str, list[dict]]:
    """Each ``(name, run)`` of ``runs`` as ``run(seeds, round)`` in ``--rounds`` rounds, in the given
    order in even rounds and reversed in odd ones, each round on fresh seeds (no prefix-cache or
    response-cache hits across rounds): slow drift of the machine hits both alike. Returns every
    run's figures, a list per name."""
    parts: dict[str, list[dict]] = {name: [] for name, _ in runs}
    for r in range(args.rounds):
        seeds = _seeds(args.n, offset=(r + 1) * args.n)
        for name, run in runs if r % 2 == 0 else runs[::-1]:
            parts[name].append(run(seeds, r))
    return parts


def _path_totals(parts: list[dict], base_parts: list[dict], base_seconds: str) -> dict:
    """A path's figures summed over its rounds, with each round's ratio against its baseline."""
    fig = _sum_figures(parts, "wall_s")
    fig.update(
        failed=sum(p["failed"] for p in parts),
        retries=sum(p["retries"] for p in parts),
        errors=[e for p in parts for e in p["errors"]][:3],
        round_ratios=[
            round((p["tokens"] / p["wall_s"]) / (b["tokens"] / b[base_seconds]), 3) for p, b in zip(parts, base_parts)
        ],
    )
    fig["median_round_ratio"] = round(statistics.median(fig["round_ratios"]), 3)
    return fig


def run_server_vs_raw(args, model: str, work: Path) -> tuple[dict, dict]:
    """The server path and the warm raw ``generate`` in ``--rounds`` alternating rounds. Returns
    ``(server, raw)`` figures."""
    from generators.synthesize import run_synthesis

    proc, port = _start_server(model, work)
    teacher = {"mode": "server", "base_url": f"http://127.0.0.1:{port}/v1", "timeout_s": 300}
    if args.concurrency:
        teacher["max_concurrency"] = args.concurrency
    settings = _settings(args, teacher)

    def server_round(seeds: pa.Table, r: int) -> dict:
        t0 = time.perf_counter()
        _, stats = run_synthesis(seeds, settings, work / f"cache_server_{r}")
        return _path_figures(time.perf_counter() - t0, stats)

    try:
        raw = RawEngine(args, model)
        parts = _alternating_rounds(args, [("raw", lambda seeds, r: raw.generate(seeds)), ("server", server_round)])
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()
    server = _path_totals(parts["server"], parts["raw"], "gen_s")
    server["max_concurrency"] = settings.teacher.max_concurrency
    raw_fig = _sum_figures(parts["raw"], "gen_s")
    raw_fig["init_s"] = round(raw.init_s, 3)
    raw_fig["tok_s_with_init"] = round(
        (raw_fig["tokens"] / args.rounds) / (raw.init_s + raw_fig["gen_s"] / args.rounds), 1
    )  # per round
    server["ratio"] = round(server["tok_s"] / raw_fig["tok_s"], 3)
    return server, raw_fig


def run_ray(args, model: str, seeds: pa.Table, work: Path) -> dict:
    """One Ray path job on ``seeds`` with a cold response cache under ``work`` (Ray started and
    stopped outside the timing)."""
    import ray
    import ray.data

    from generators.synthesize import run_synthesis

    ray.init(num_cpus=os.cpu_count(), include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
    try:
        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = False
        settings = _settings(
            args,
            {
                "mode": "engine",
                "engine_backend": "ray",
                "model": model,
                "engine_max_model_len": MAX_MODEL_LEN,
                "engine_kv_cache_bytes": KV_BYTES,
            },
        )
        # Ray Data's own helper actors (stats, autoscaling coordinator, actor locations) start with
        # the first Ray Data job on a cluster; in a build, the stages before synthesis started them
        ray.data.range(8, override_num_blocks=2).map_batches(lambda b: b).take_all()
        _wait_quiet()
        t0 = time.perf_counter()
        _, stats = run_synthesis(seeds, settings, work / "cache")
        wall = time.perf_counter() - t0
    finally:
        ray.shutdown()
    return _path_figures(wall, stats)


def _raw_job(args, seeds: pa.Table) -> tuple[list[list[dict]], dict]:
    """The chat messages the pipeline sends for ``seeds`` and their sampling, for the raw baselines."""
    from generators.synthesize import build_request, plan_jobs

    settings = _settings(args, {})
    reqs = [build_request(j, settings) for j in plan_jobs(seeds, settings)]
    t = settings.teacher
    return [r.messages for r in reqs], {"temperature": t.temperature, "top_p": t.top_p, "max_tokens": t.max_tokens}


def run_raw(args, model: str, seeds: pa.Table) -> dict:
    """One warm raw ``generate`` of ``seeds`` (the Ray path's secondary baselines when the server path is not run)."""
    raw = RawEngine(args, model)
    fig = _sum_figures([raw.generate(seeds)], "gen_s")
    fig["init_s"] = round(raw.init_s, 3)
    fig["tok_s_with_init"] = round(fig["tokens"] / (raw.init_s + fig["gen_s"]), 1)
    return fig


RAW_COLD = r"""
import json, sys, time


def main():  # under a __main__ guard: vLLM's CPU engine spawns processes that re-import this file
    from vllm import LLM, SamplingParams
    from generators.vllm_env import engine_kwargs_for
    spec = json.load(open(sys.argv[1]))
    llm = LLM(model=spec["model"], **engine_kwargs_for(None, spec["kv_bytes"], spec["max_model_len"]))
    ready_at = time.time()  # the engine is up: the Ray job's engine_ready_at counterpart
    tok = llm.get_tokenizer()
    prompts = [tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True) for m in spec["messages"]]
    outs = llm.generate(prompts, SamplingParams(**spec["sampling"]), use_tqdm=False)
    json.dump({"ready_at": ready_at, "done_at": time.time(), "tokens": sum(len(o.outputs[0].token_ids) for o in outs),
               "rows": sum(1 for o in outs if o.outputs[0].text.strip())}, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
"""


def run_raw_cold(args, model: str, seeds: pa.Table, work: Path) -> dict:
    """The same job as a plain script: a fresh process imports vLLM, starts ``LLM`` and generates.

    ``result_s``: from the process's start (measured here) to its results in hand (measured in the
    child: vLLM's engine teardown after that, ~8 s here, is not counted); ``exit_s``: to the
    process's exit. The Ray path is timed the same way, to :func:`run_synthesis` returning. Split
    where the engine came up, as the Ray job's is: ``engine_start_s`` (process start, vLLM import,
    ``LLM``) and ``generate_s`` (chat template and ``generate``).
    """
    messages, sampling = _raw_job(args, seeds)
    spec = {
        "model": model,
        "kv_bytes": KV_BYTES,
        "max_model_len": MAX_MODEL_LEN,
        "messages": messages,
        "sampling": sampling,
    }
    (work / "raw_cold.json").write_text(json.dumps(spec))
    script = work / "raw_cold.py"
    script.write_text(RAW_COLD)
    _wait_quiet()
    t0 = time.perf_counter()
    t0_wall = time.time()
    subprocess.run(
        [sys.executable, str(script), str(work / "raw_cold.json"), str(work / "raw_cold_out.json")],
        check=True,
        stdout=sys.stderr,
        stderr=sys.stderr,
        env=dict(os.environ),
    )
    wall = time.perf_counter() - t0
    out = json.loads((work / "raw_cold_out.json").read_text())
    result_s = out["done_at"] - t0_wall
    return {
        "rows": out["rows"],
        "tokens": out["tokens"],
        "result_s": round(result_s, 3),
        "exit_s": round(wall, 3),
        "tok_s": round(out["tokens"] / result_s, 1),
        "engine_start_s": round(out["ready_at"] - t0_wall, 3),
        "generate_s": round(out["done_at"] - out["ready_at"], 3),
    }


def run_ray_vs_raw_cold(args, model: str, work: Path) -> tuple[dict, dict]:
    """The Ray path and ``raw_cold`` in ``--rounds`` alternating rounds (a single job against a
    single script swung from 0.74 to 1.06 on the same code here). Returns ``(ray, raw_cold)``
    figures, summed over the rounds."""

    def in_own_dir(run, name: str):
        def go(seeds: pa.Table, r: int) -> dict:
            (work / f"{name}_{r}").mkdir()
            return run(args, model, seeds, work / f"{name}_{r}")

        return go

    parts = _alternating_rounds(
        args, [("ray", in_own_dir(run_ray, "ray")), ("raw_cold", in_own_dir(run_raw_cold, "raw_cold"))]
    )
    ray = _path_totals(parts["ray"], parts["raw_cold"], "result_s")
    cold = _sum_figures(parts["raw_cold"], "result_s")
    for key in ("exit_s", "engine_start_s", "generate_s"):
        cold[key] = round(sum(p[key] for p in parts["raw_cold"]), 3)
    ray["ratio"] = round(ray["tok_s"] / cold["tok_s"], 3)
    if all("generate_s" in p for p in parts["ray"]):
        for key in ("engine_start_s", "actor_boot_s", "generate_s"):
            ray[key] = round(sum(p[key] for p in parts["ray"]), 3)
        ray["generate_tok_s"] = round(ray["tokens"] / ray["generate_s"], 1)
        # where the job loses against the script: its start-up (Ray Data, the actor's worker and
        # imports, vLLM's import and engine start) and its generation (rows handed to and from the
        # actor, engine steps), each as the script's seconds over the job's (1.0: as fast)
        ray["start_vs_cold"] = round(cold["engine_start_s"] / ray["engine_start_s"], 3)
        ray["generate_vs_cold"] = round(cold["generate_s"] / ray["generate_s"], 3)
    return ray, cold


def warm_vllm_caches(model: str) -> None:
    """Untimed: fill vLLM's on-disk model-info cache (its first use inspects the model class in a
    subprocess, ~10 s here), as on any machine that has run vLLM before -- whichever path ran
    first would otherwise pay it alone."""
    subprocess.run(
        [
            sys.executable,
            "-c",
            "from vllm.model_executor.models.registry import ModelRegistry as R; "
            "R._try_inspect_model_cls('LlamaForCausalLM')",
        ],
        check=True,
        stdout=sys.stderr,
        stderr=sys.stderr,
        env=dict(os.environ),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model dir (default: build the tiny random-weight model)")
    ap.add_argument("--n", type=int, default=256, help="seeds = synthetic rows requested")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=0.7)
    ap.add_argument(
        "--concurrency", type=int, default=None, help="server path max_concurrency (default: synthesis.teacher's)"
    )
    ap.add_argument("--paths", default="server,ray", help="comma list of server, ray")
    ap.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternating rounds: server / warm raw generate, and Ray job / raw_cold script",
    )
    args = ap.parse_args()
    paths = [p for p in args.paths.split(",") if p]
    # vLLM and Ray log to stdout (engine subprocesses inherit it): send all that to stderr so that
    # stdout carries only the JSON line.
    json_out = os.fdopen(os.dup(1), "w")
    sys.stdout.flush()
    os.dup2(2, 1)
    from generators.vllm_env import cuda_visible, engine_env

    # the engine environment the pipeline's engines get (on CPU vLLM's single-process executor),
    # for every side alike: server, raw engine, raw_cold script, Ray job
    os.environ.update(engine_env(cpu=not cuda_visible()))
    work = Path(tempfile.mkdtemp(prefix="bench_synthesis_"))
    os.environ.setdefault("VLLM_CACHE_ROOT", str(work / "vllm_cache"))
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(work / "inductor"))
    model = args.model
    if not model:  # built in a child process: torch/tokenizers thread pools stay out of this one
        model = str(work / "tiny")
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from generators.tiny_model import build_tiny_model; build_tiny_model(sys.argv[1])",
                model,
            ],
            check=True,
            stdout=sys.stderr,
        )
    seeds = _seeds(args.n)
    warm_vllm_caches(model)
    t_all = time.perf_counter()
    result: dict = {"bench": "synthesis", "n": args.n, "max_tokens": args.max_tokens, "temperature": args.temperature}
    if "ray" in paths:  # first: the raw engine of the server comparison lives on in this process
        result["ray"], result["raw_cold"] = run_ray_vs_raw_cold(args, model, work)
    if "server" in paths:
        result["server"], result["raw"] = run_server_vs_raw(args, model, work)
    else:
        result["raw"] = run_raw(args, model, seeds)
    raw = result["raw"]
    if "ray" in paths:
        result["ray"]["ratio_vs_init_and_generate"] = round(result["ray"]["tok_s"] / raw["tok_s_with_init"], 3)
        result["ray"]["ratio_vs_warm_generate"] = round(result["ray"]["tok_s"] / raw["tok_s"], 3)
        if "generate_tok_s" in result["ray"]:  # steady state: once the job's engine is up, against warm generate
            result["ray"]["steady_ratio"] = round(result["ray"]["generate_tok_s"] / raw["tok_s"], 3)
    result["total_s"] = round(time.perf_counter() - t_all, 1)
    result["baseline"] = (
        "vllm.LLM.generate on the same chat prompts and sampling, this run; server vs warm generate "
        "in alternating rounds, ray vs a fresh process that imports vLLM, starts LLM and generates"
    )
    print(json.dumps(result), file=json_out, flush=True)


if __name__ == "__main__":
    main()
