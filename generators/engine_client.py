"""Teacher as an in-process vLLM engine: Ray Data's vLLM engine stage, or a direct ``vllm.LLM``.

:class:`RayEngineTeacherClient` runs a batch of requests through Ray Data LLM's vLLM engine stage
(a ``ray.data.llm`` ``vLLMEngineProcessorConfig``, staged by :mod:`generators.ray_engine_stage`) --
the path for corpus builds on GPU workers of a Ray cluster. :class:`VllmEngineTeacherClient` keeps
one ``vllm.LLM`` in this process (the fast path on a single machine and the raw baseline of the
benchmark). Both validate every answer against the request's schema in the driver, re-ask invalid
ones up to ``max_invalid_retries`` times (the Ray engine actors re-ask them themselves first), and
return failures as results (never raise for one prompt).

On a CPU-only machine (``cpu=None`` and no CUDA) the engine gets CPU settings (:mod:`generators.vllm_env`, the
policy both paths share): eager mode, float32, an explicit KV cache size, vLLM's single-process executor, and
for Ray a CPU placement bundle with as many OMP threads (Ray Data's default asks for a GPU and
would wait forever) and the engine in the actor's own process (:mod:`generators.inprocess_engine`).
Structured outputs use the ``guidance`` backend without free whitespace (xgrammar let control
characters into strings on CPU).
"""

from __future__ import annotations

import json
import math
import os
import time
from typing import Any

from curator.exceptions import TeacherError
from generators.base import TeacherClient, TeacherRequest, TeacherResult, model_path, schema_of, validate_answer
from generators.vllm_env import (
    DEFAULT_MAX_NUM_SEQS,
    VLLM_ENV,
    breaks_in_process_engine,
    cuda_visible,
    engine_env,
    engine_kwargs_for,
)

# Batches one Ray Data task runs at once through an async UDF such as the vLLM stage (Ray Data's
# ``RAY_DATA_DEFAULT_ASYNC_BATCH_UDF_MAX_CONCURRENCY``, 4 in ray 2.60). The requests go in blocks of
# ``batch_size`` x this many rows: then every block is one task that keeps all its batches in the
# engine, and the actor's ``max_concurrent_batches`` tasks fill the engine's scheduler. (With two
# big blocks the engine got at most 2 x 4 batches of 16 = 128 sequences of its 256: its log showed
# ~80-108 running and none waiting; with these blocks ~150-200 run, as many as the KV cache holds.)
ASYNC_BATCHES_PER_TASK = 4
IN_PROCESS_QUEUE_FACTOR = 4  # rows in a CPU engine actor per scheduler slot (see _processor_config)


def _ray_has_gpus() -> bool:
    """Whether the Ray cluster offers GPUs (what matters for engine actors, not this driver's devices).

    Asks Ray when it is up (no torch import in the driver: ~1.5 s); before ``ray.init`` falls back
    to this machine's CUDA.
    """
    try:
        import ray

        if ray.is_initialized():
            return ray.cluster_resources().get("GPU", 0) > 0
    except Exception:  # pragma: no cover
        pass
    return cuda_visible()


def _sampling_dict(req: TeacherRequest) -> dict:
    sp: dict[str, Any] = {
        "temperature": req.sampling.temperature,
        "top_p": req.sampling.top_p,
        "max_tokens": req.sampling.max_tokens,
    }
    if req.sampling.seed is not None:
        sp["seed"] = req.sampling.seed
    return sp


class _EngineBase(TeacherClient):
    def __init__(self, model: str, max_invalid_retries: int = 2) -> None:
        super().__init__()
        self.model = model
        self.max_invalid_retries = max_invalid_retries
        for k, v in VLLM_ENV.items():
            os.environ.setdefault(k, v)

    def _run(self, requests: list[TeacherRequest]) -> list[tuple[str, str | None, int, str, int]]:
        """Answer each request: ``(text, finish_reason, completion_tokens, error, asked)``, ``asked``
        the times the engine was asked for it (more than once: re-asks inside the engine)."""
        raise NotImplementedError

    def generate(self, requests: list[TeacherRequest]) -> list[TeacherResult]:
        results = [TeacherResult(prompt_hash=r.prompt_hash(self.model)) for r in requests]
        pending = list(range(len(requests)))
        for call in range(self.max_invalid_retries + 1):
            if not pending:
                break
            if call:
                self.count("retries", len(pending))
            self.count("requests_sent", len(pending))
            outs = self._run([requests[i] for i in pending])
            still = []
            for i, (text, finish, ntok, err, asked) in zip(pending, outs):
                if asked > 1:  # invalid answers re-asked by the engine stage itself
                    self.count("retries", asked - 1)
                    self.count("requests_sent", asked - 1)
                res = results[i]
                res.attempts += asked
                res.raw, res.finish_reason, res.completion_tokens = text, finish, ntok
                self.count("completion_tokens", ntok)
                if err:
                    self.count("errors_engine")
                    res.error = f"engine: {err}"
                else:
                    parsed, verr = validate_answer(text, requests[i])
                    if verr is None:
                        res.parsed, res.error = parsed, None
                        self.count("ok")
                        continue
                    self.count("errors_invalid")
                    res.error = verr + (" (answer cut at max_tokens)" if finish == "length" else "")
                if res.attempts <= self.max_invalid_retries:
                    still.append(i)
            pending = still
        self.count("failed", sum(1 for r in results if r.error))
        return results


class VllmEngineTeacherClient(_EngineBase):
    """One ``vllm.LLM`` in this process (created on first use, reused across calls).

    The response cache asks it ``chunk_size`` (1,024) requests per call: several of the engine's
    scheduler batches (256 sequences on CPU), so that the engine runs full between the chunk
    boundaries where it drains.

    Args:
        model: model path or hub id.
        cpu: CPU engine settings (``None``: when no GPU is visible).
        kv_cache_bytes: KV cache size on CPU.
        max_model_len: context length (``None``: the model's).
        engine_kwargs: extra ``vllm.LLM`` arguments.
        max_invalid_retries: re-asks after an answer that fails validation.
    """

    chunk_size = 1024

    def __init__(
        self,
        model: str,
        cpu: bool | None = None,
        kv_cache_bytes: int = 128 * 2**20,
        max_model_len: int | None = None,
        engine_kwargs: dict | None = None,
        max_invalid_retries: int = 2,
    ) -> None:
        super().__init__(model, max_invalid_retries)
        self.cpu = (not cuda_visible()) if cpu is None else cpu
        self.engine_kwargs = engine_kwargs_for(self.cpu, kv_cache_bytes, max_model_len, engine_kwargs)
        self._llm = None

    @property
    def llm(self):
        if self._llm is None:
            try:
                from vllm import LLM
            except ImportError as exc:
                raise TeacherError("vllm is not installed: `pip install edu-curator[cpu]` (CPU) or `[gpu]`") from exc
            env, saved = engine_env(self.cpu and not breaks_in_process_engine()), dict(os.environ)
            os.environ.update(env)  # read while the engine is built (the executor is chosen then)
            try:
                self._llm = LLM(model=self.model, **self.engine_kwargs)
            except Exception as exc:
                raise TeacherError(f"cannot start a vLLM engine for {self.model!r}: {exc}") from exc
            finally:
                for k in env:
                    if k in saved:
                        os.environ[k] = saved[k]
                    else:
                        os.environ.pop(k, None)
        return self._llm

    def _run(self, requests: list[TeacherRequest]) -> list[tuple[str, str | None, int, str, int]]:
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        params = []
        for r in requests:
            spec = r.structured_outputs()
            so = StructuredOutputsParams(**spec) if spec is not None else None
            params.append(SamplingParams(**_sampling_dict(r), structured_outputs=so))
        outs = self.llm.chat([r.messages for r in requests], params, use_tqdm=False)
        return [(o.outputs[0].text, o.outputs[0].finish_reason, len(o.outputs[0].token_ids), "", 1) for o in outs]

    def close(self) -> None:
        """Stop the engine now (its processes too, when it has any), not when the GC gets to it."""
        llm, self._llm = self._llm, None
        core = getattr(getattr(llm, "llm_engine", None), "engine_core", None)
        if core is not None:
            core.shutdown()


class RayEngineTeacherClient(_EngineBase):
    """Batch inference with Ray Data LLM's vLLM engine stage (``ray.data.llm``).

    Each :meth:`generate` call builds one dataset of the requests and runs it through the engine
    stage (one engine per replica, started for the call). Ray must be initialised (or it is started
    locally).

    The job's fixed cost is start-up, so it is kept lean: the stage is handed to Ray Data without
    importing vLLM in the driver (:mod:`generators.ray_engine_stage`), so the engine actor starts at
    once, and the actor applies the chat template with the engine's tokenizer (no chat-template,
    tokenize or detokenize actors: each is one more process loading transformers while the engine
    starts). The requests travel in blocks of ``batch_size x ASYNC_BATCHES_PER_TASK`` rows: enough
    tasks in flight to keep every engine's scheduler full, and not one tiny block per row.

    Args:
        model: model path or hub id (must be readable by the Ray workers).
        cpu: CPU settings (``None``: when the Ray cluster has no GPU): a ``{"CPU": engine_cpus}`` bundle, eager,
            float32.
        concurrency: engine replicas.
        batch_size: rows per engine batch.
        chunk_size: requests per :meth:`generate` call from the cached runner (one engine start each).
        engine_kwargs: extra vLLM engine arguments (e.g. ``tensor_parallel_size``; ``disable_log_stats:
            False`` logs the engine's stats after every batch).
        engine_metrics: export the engine's metrics to Ray's Prometheus endpoint (every engine step).
        engine_cpus: CPUs each CPU engine replica reserves and computes on (``None``: the smallest
            Ray node's CPUs divided by ``concurrency``).
    """

    def __init__(
        self,
        model: str,
        cpu: bool | None = None,
        kv_cache_bytes: int = 128 * 2**20,
        max_model_len: int | None = None,
        engine_kwargs: dict | None = None,
        concurrency: int = 1,
        batch_size: int = 16,
        max_invalid_retries: int = 2,
        chunk_size: int = 100_000,
        engine_metrics: bool = False,
        engine_cpus: int | None = None,
    ) -> None:
        super().__init__(model, max_invalid_retries)
        self.engine_cpus = engine_cpus
        self.engine_metrics = engine_metrics
        self._cpu_arg, self._kv_cache_bytes, self._max_model_len, self._extra_kwargs = (
            cpu,
            kv_cache_bytes,
            max_model_len,
            engine_kwargs,
        )
        self.concurrency = concurrency
        self.batch_size = batch_size
        # every generate() call is one Ray Data job that starts its engines (tens of seconds on CPU,
        # minutes for a large model on GPUs): answer a whole synthesis/annotation run in one job
        self.chunk_size = chunk_size

    def _engine_setup(self) -> tuple[bool, dict]:
        """``(cpu, engine kwargs)``, decided when Ray is up (CPU settings when the cluster has no GPU).

        Stats logging is off unless asked for, as in ``vllm.LLM``: Ray Data's stage otherwise logs
        the engine's stats after every batch.
        """
        cpu = (not _ray_has_gpus()) if self._cpu_arg is None else self._cpu_arg
        return cpu, engine_kwargs_for(
            cpu, self._kv_cache_bytes, self._max_model_len, {"disable_log_stats": True, **(self._extra_kwargs or {})}
        )

    def _cpus_per_engine(self) -> int:
        """CPUs per CPU engine replica: ``engine_cpus``, or the smallest Ray node's CPUs shared by
        the replicas (at least one): a bundle no node can hold would leave the job waiting forever."""
        if self.engine_cpus:
            return self.engine_cpus
        import ray

        per_node = [
            n["Resources"].get("CPU", 0) for n in ray.nodes() if n.get("Alive") and n["Resources"].get("CPU", 0) >= 1
        ]
        return max(1, int(min(per_node, default=1)) // max(1, self.concurrency))

    def _num_blocks(self, n: int) -> int:
        """Blocks of ``batch_size x ASYNC_BATCHES_PER_TASK`` requests (at least two per replica)."""
        per_block = self.batch_size * ASYNC_BATCHES_PER_TASK
        return max(1, min(n, max(2 * self.concurrency, math.ceil(n / per_block))))

    def _processor_config(self, setup: tuple[bool, dict] | None = None):
        """The ``ray.data.llm`` processor config the engine stage is staged from (``setup``: what
        :meth:`_engine_setup` returned, when the caller has it already)."""
        try:
            from ray.data.llm import vLLMEngineProcessorConfig
        except ImportError as exc:
            raise TeacherError(
                f"ray.data.llm is unavailable ({exc}); "
                "install ray[data,serve] and vllm (not ray[llm], which pins CUDA vllm)"
            ) from exc
        cpu, engine_kwargs = setup or self._engine_setup()
        kw: dict[str, Any] = {}
        env = engine_env(cpu)
        # enough batches in flight to fill the engine's scheduler (Ray's default, 8 batches, is
        # 128 sequences at batch_size 16: half the 256 the engine can run at once)
        batches = max(8, math.ceil(int(engine_kwargs.get("max_num_seqs", DEFAULT_MAX_NUM_SEQS)) / self.batch_size))
        from generators.inprocess_engine import supports

        if cpu and supports(log_engine_metrics=self.engine_metrics):
            # the in-process engine (generators.inprocess_engine) queues like LLM.generate: give it
            # IN_PROCESS_QUEUE_FACTOR x the rows and no pending cap (ray's 1.1 x max_num_seqs is for
            # its async engine). 1,024 prompts: the engine got them in refills of ~190 behind the cap,
            # 15.5-15.8 s generating; all at once, 14.8 s (bench ratio 0.75-0.79 -> 0.83).
            batches *= IN_PROCESS_QUEUE_FACTOR
            kw["max_pending_requests"] = -1
        if cpu:
            # The engine reserves the CPUs it computes on (Ray Data's default asks for a GPU: it
            # would wait forever), and its OMP threads are as many (Ray would give a 1-CPU actor one).
            cpus = self._cpus_per_engine()
            kw["placement_group_config"] = {"bundles": [{"CPU": cpus}]}
            env.setdefault("OMP_NUM_THREADS", str(cpus))
        return vLLMEngineProcessorConfig(
            model_source=self.model,
            engine_kwargs=engine_kwargs,
            concurrency=self.concurrency,
            batch_size=self.batch_size,
            max_concurrent_batches=batches,
            should_continue_on_error=True,
            # per-step export of engine metrics to Ray's Prometheus endpoint: CPU the engine needs
            log_engine_metrics=self.engine_metrics,
            runtime_env={"env_vars": env},
            **kw,
        )

    def _run(self, requests: list[TeacherRequest]) -> list[tuple[str, str | None, int, str, int]]:
        import ray
        import ray.data

        if not ray.is_initialized():
            ray.init(include_dashboard=False, ignore_reinit_error=True, log_to_driver=False)
        from generators.ray_engine_stage import (
            ATTEMPTS_KEY,
            CHECK_KEY,
            DATA_COLUMN,
            INIT_KEY,
            MESSAGES_KEY,
            READY_KEY,
            run_engine_stage,
        )

        rows = []
        # Every row must carry the same sampling keys with non-null values: a seed missing from some
        # rows becomes a null in the Arrow block, arrives as a float NaN, and vLLM's engine input
        # thread dies on it (the dataset then hangs). So seeds are sent only if every request has one.
        all_seeded = all(r.sampling.seed is not None for r in requests)
        shapes: dict[tuple, tuple[str | None, str]] = {}  # per (output model, min_chars): the same for every row
        for i, r in enumerate(requests):
            key = (r.output_model, r.min_chars)
            if key not in shapes:
                schema = schema_of(r.output_model)
                # the driver's check, run in the engine actor too (re-asked there, not in a second
                # job); none for an output model the actor could not import by name
                path = model_path(r.output_model)
                check = json.dumps({"model": path, "min_chars": r.min_chars}) if path or r.output_model is None else ""
                shapes[key] = (json.dumps(schema) if schema is not None else None, check)
            schema_json, check = shapes[key]
            sp = _sampling_dict(r)
            if not all_seeded:
                sp.pop("seed", None)
            if r.regex is not None:
                sp["structured_outputs"] = {"regex": r.regex}
            elif schema_json is not None:
                sp["structured_outputs"] = {"json": schema_json}
            rows.append(
                {
                    DATA_COLUMN: {
                        "idx": i,
                        MESSAGES_KEY: json.dumps(r.messages, ensure_ascii=False),
                        "sampling_params": sp,
                        CHECK_KEY: check,
                    }
                }
            )
        ds = ray.data.from_items(rows, override_num_blocks=self._num_blocks(len(rows)))
        started = time.time()
        try:
            # a CPU engine runs in the actor's own process (generators.inprocess_engine): no
            # EngineCore process importing vLLM a second time while the job waits
            setup = self._engine_setup()
            out = run_engine_stage(
                ds, self._processor_config(setup), max_reasks=self.max_invalid_retries, in_process=setup[0]
            ).take_all()
            done = time.time()
        except TeacherError:
            raise
        except Exception as exc:
            raise TeacherError(
                f"Ray Data vLLM engine stage failed for {self.model!r}: {type(exc).__name__}: {exc}"
            ) from exc
        by_idx = {int(r[DATA_COLUMN]["idx"]): r[DATA_COLUMN] for r in out}
        ready = [r[READY_KEY] for r in by_idx.values() if r.get(READY_KEY)]
        if ready:  # the job's time until its first engine was up, and from then on
            self.count("engine_start_ms", round(1000 * max(0.0, min(ready) - started)))
            self.count("engine_generate_ms", round(1000 * max(0.0, done - min(ready))))
        inits = [r[INIT_KEY] for r in by_idx.values() if r.get(INIT_KEY)]
        if inits:  # of the start-up, Ray's part: until the first engine actor began to build its engine
            self.count("actor_boot_ms", round(1000 * max(0.0, min(inits) - started)))
        res = []
        for i in range(len(requests)):
            r = by_idx.get(i)
            if r is None:
                res.append(("", None, 0, "row lost by the engine stage", 1))
            else:
                res.append(
                    (
                        r.get("generated_text") or "",
                        str(r.get("finish_reason") or "") or None,
                        int(r.get("num_generated_tokens") or 0),
                        str(r.get("__inference_error__") or ""),
                        int(r.get(ATTEMPTS_KEY) or 1),
                    )
                )
        return res
