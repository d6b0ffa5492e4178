"""Everything that talks to a teacher LLM: annotation and synthetic reasoning data through vLLM.

* :mod:`generators.base` — :class:`TeacherClient`, :class:`TeacherRequest`, :class:`TeacherResult`.
* :mod:`generators.server_client` — any OpenAI-compatible server (``vllm serve``).
* :mod:`generators.engine_client` — in-process vLLM: Ray Data ``ray.data.llm`` or ``vllm.LLM``.
* :mod:`generators.ray_engine_stage` — Ray Data LLM's vLLM engine stage, staged without vLLM in the driver.
* :mod:`generators.cache` — durable response cache and failure records.
* :mod:`generators.prompts` — versioned YAML templates (``generators/templates``).
* :mod:`generators.annotate` — teacher 0-5 labels for classifier training.
* :mod:`generators.synthesize` — synthetic documents from high-scoring seeds.
* :mod:`generators.tiny_model` — a tiny random-weight model for tests (no downloads).
"""

from __future__ import annotations

from generators.base import SamplingParams, TeacherClient, TeacherRequest, TeacherResult

__all__ = ["SamplingParams", "TeacherClient", "TeacherRequest", "TeacherResult", "make_teacher"]


def make_teacher(settings, check: bool = True) -> TeacherClient:
    """A teacher client for :class:`curator.settings.TeacherSettings` (server or engine mode).

    Raises:
        TeacherError: server mode and nothing answers at ``base_url`` (with the start command);
            engine mode without a ``model``.
    """
    from curator.exceptions import TeacherError

    if settings.mode == "server":
        from generators.server_client import ServerTeacherClient

        return ServerTeacherClient.from_settings(settings, check=check)
    if not settings.model:
        raise TeacherError("engine mode needs synthesis.teacher.model (a model path or hub id)")
    common = dict(
        model=settings.model,
        cpu=settings.engine_cpu,
        kv_cache_bytes=settings.engine_kv_cache_bytes,
        max_model_len=settings.engine_max_model_len,
        engine_kwargs=settings.engine_kwargs,
        max_invalid_retries=settings.max_invalid_retries,
    )
    if settings.engine_backend == "vllm":
        from generators.engine_client import VllmEngineTeacherClient

        return VllmEngineTeacherClient(**common)
    from generators.engine_client import RayEngineTeacherClient

    return RayEngineTeacherClient(
        **common,
        batch_size=settings.engine_batch_size,
        engine_metrics=settings.engine_metrics,
        engine_cpus=settings.engine_cpus,
    )
