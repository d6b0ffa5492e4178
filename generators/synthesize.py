"""Synthetic reasoning documents from high-scoring seeds, routed by score like Nemotron-CC.

Seeds are filtered documents with ``edu_score >= seed_min_score``, sampled reproducibly
(``settings.seed``). Seeds scoring ``>= high_score`` get a question-answer / worked-problem /
textbook / exercises template (distillation and knowledge extraction); middling seeds get an
encyclopedic rephrasing. Each sample also draws an audience (young learners ... experts). Every
output row conforms to :data:`curator.schema.DOC_SCHEMA` with ``source="synthetic"`` and its
provenance: ``seed_id``, ``template_id`` (``<template>/v<version>+<audience>``), ``prompt_hash``,
``teacher_model``, ``sampling_params`` (JSON); its ``id`` is derived from the prompt hash, so a
rerun produces the same ids. Dedup/decontamination and writing into ``OUT/phase2`` are the
pipeline's job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curator.schema import (
    DOC_SCHEMA,
    EDU_SCORE,
    ID,
    N_CHARS,
    N_WORDS,
    PROMPT_HASH,
    SAMPLING_PARAMS,
    SEED_ID,
    SOURCE,
    TEACHER_MODEL,
    TEMPLATE_ID,
    TEXT,
    conform,
)
from curator.settings import SynthesisSettings
from generators.base import SamplingParams, TeacherClient, TeacherRequest
from generators.cache import ResponseCache, generate_cached
from generators.prompts import load_audiences, load_templates

SYNTHETIC_SOURCE = "synthetic"


@dataclass(frozen=True)
class SynthesisJob:
    """One planned synthetic document: which seed, template and audience."""

    seed_id: str
    seed_text: str
    seed_score: float | None
    template_id: str
    audience: str


def route(score: float | None, settings: SynthesisSettings) -> dict[str, float]:
    """Template weights for a seed: high-scoring -> QA/distillation family, else rephrasing."""
    if score is not None and score >= settings.high_score:
        return settings.high_templates
    return settings.mid_templates


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    keys = sorted(weights)
    w = np.array([max(0.0, float(weights[k])) for k in keys])
    if w.sum() <= 0:
        raise ValueError(f"template weights {weights} must have a positive entry")
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def plan_jobs(seeds: pa.Table, settings: SynthesisSettings) -> list[SynthesisJob]:
    """Choose ``num_samples`` (seed, template, audience) triples reproducibly from eligible seeds.

    Seeds are drawn without replacement while there are enough, then cycled in a fresh shuffle.
    """
    n = seeds.num_rows
    ids = seeds.column(ID).to_pylist() if n else []
    texts = seeds.column(TEXT).to_pylist() if n else []
    scores = seeds.column(EDU_SCORE).to_pylist() if EDU_SCORE in seeds.column_names else [None] * n
    eligible = [i for i in range(n) if texts[i] and (scores[i] is None or scores[i] >= settings.seed_min_score)]
    if not eligible or settings.num_samples == 0:
        return []
    rng = np.random.default_rng(settings.seed)
    order: list[int] = []
    while len(order) < settings.num_samples:
        order.extend(int(eligible[j]) for j in rng.permutation(len(eligible)))
    order = order[: settings.num_samples]
    templates = load_templates()
    audiences = load_audiences()
    unknown = (set(settings.high_templates) | set(settings.mid_templates)) - set(templates)
    unknown |= set(settings.audiences) - set(audiences)
    if unknown:
        from curator.exceptions import ConfigError

        raise ConfigError(
            f"synthesis settings name unknown templates/audiences {sorted(unknown)}; "
            f"known templates {sorted(templates)}, audiences {sorted(audiences)}"
        )
    jobs = []
    for i in order:
        tid = _pick(rng, route(scores[i], settings))
        aud = settings.audiences[int(rng.integers(len(settings.audiences)))]
        jobs.append(SynthesisJob(str(ids[i]), texts[i], scores[i], tid, aud))
    return jobs


def build_request(job: SynthesisJob, settings: SynthesisSettings) -> TeacherRequest:
    """Chat request for one job (the sampling seed is derived from the job, so answers are reproducible)."""
    template = load_templates()[job.template_id]
    aud = load_audiences()[job.audience]
    messages = template.render(
        text=job.seed_text[: settings.max_seed_chars], audience_name=aud["name"], audience_style=aud["style"]
    )
    t = settings.teacher
    job_seed = int(
        hashlib.sha256(f"{settings.seed}|{job.seed_id}|{job.template_id}|{job.audience}".encode()).hexdigest()[:8], 16
    )
    sampling = SamplingParams(
        temperature=t.temperature,
        top_p=t.top_p,
        max_tokens=t.max_tokens,
        seed=job_seed if t.per_request_seed else None,
    )
    return TeacherRequest(
        messages=messages,
        sampling=sampling,
        output_model=template.output_model,
        min_chars=settings.min_output_chars,
        meta={"template_ref": f"{template.ref}+{job.audience}"},
    )


def synthetic_id(prompt_hash: str) -> str:
    """Deterministic document id of a synthetic row."""
    return "syn-" + hashlib.sha256(prompt_hash.encode()).hexdigest()[:24]


def run_synthesis(
    seeds: pa.Table, settings: SynthesisSettings, cache_dir: Path, client: TeacherClient | None = None
) -> tuple[pa.Table, dict[str, Any]]:
    """Generate synthetic documents from ``seeds`` (needs ``id``, ``text``; ``edu_score`` if present).

    Args:
        seeds: filtered documents.
        settings: the ``synthesis`` section (its ``teacher`` says how to reach the LLM).
        cache_dir: response cache directory (``settings.teacher.cache_dir`` wins if set).
        client: an existing teacher client (default: one made from ``settings.teacher``, closed after).

    Returns:
        ``(rows conforming to DOC_SCHEMA, stats)``; stats: requested, cached, generated, failed,
        rows, by_template, teacher counters and the first failure messages. Failed prompts are
        recorded in the cache; calling again asks the teacher only for missing/failed ones.
    """
    jobs = plan_jobs(seeds, settings)
    stats: dict[str, Any] = {"requested": 0, "cached": 0, "generated": 0, "failed": 0, "rows": 0}
    if not jobs:
        return conform(pa.table({ID: pa.array([], pa.string())}), DOC_SCHEMA), stats
    own = client is None
    if own:
        from generators import make_teacher

        client = make_teacher(settings.teacher)
    try:
        requests = [build_request(j, settings) for j in jobs]
        with ResponseCache(settings.teacher.cache_dir or cache_dir) as cache:
            results, gstats = generate_cached(client, requests, cache)
        stats.update(gstats)
        rows: dict[str, list] = {
            k: []
            for k in (
                ID,
                TEXT,
                SOURCE,
                SEED_ID,
                TEMPLATE_ID,
                PROMPT_HASH,
                TEACHER_MODEL,
                SAMPLING_PARAMS,
                N_CHARS,
                N_WORDS,
            )
        }
        seen: set[str] = set()
        by_template: dict[str, int] = {}
        errors = []
        for job, req, res in zip(jobs, requests, results):
            if not res.ok:
                errors.append(res.error)
                continue
            if res.prompt_hash in seen:  # same prompt drawn twice: one row
                continue
            seen.add(res.prompt_hash)
            text = str(res.parsed)
            rows[ID].append(synthetic_id(res.prompt_hash))
            rows[TEXT].append(text)
            rows[SOURCE].append(SYNTHETIC_SOURCE)
            rows[SEED_ID].append(job.seed_id)
            rows[TEMPLATE_ID].append(req.meta["template_ref"])
            rows[PROMPT_HASH].append(res.prompt_hash)
            rows[TEACHER_MODEL].append(client.model)
            rows[SAMPLING_PARAMS].append(req.sampling.to_json())
            rows[N_CHARS].append(len(text))
            rows[N_WORDS].append(len(text.split()))
            by_template[job.template_id] = by_template.get(job.template_id, 0) + 1
        stats["rows"] = len(rows[ID])
        stats["by_template"] = by_template
        stats["errors"] = errors[:10]
        stats["teacher"] = dict(client.stats)
        return conform(pa.table(rows), DOC_SCHEMA), stats
    finally:
        if own:
            client.close()


def read_seeds(path: str | Path) -> pa.Table:
    """Seed documents from a Parquet file or directory (e.g. ``OUT/phase1``)."""
    import pyarrow.dataset as ds

    table = ds.dataset(str(path), format="parquet").to_table()
    keep = [c for c in (ID, TEXT, EDU_SCORE) if c in table.column_names]
    return table.select(keep)


def sampling_json(settings: SynthesisSettings) -> str:
    """The run's sampling settings as JSON (for manifests)."""
    t = settings.teacher
    return json.dumps({"temperature": t.temperature, "top_p": t.top_p, "max_tokens": t.max_tokens}, sort_keys=True)
