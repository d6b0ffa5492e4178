"""Teacher annotation: sample documents, ask for an additive 0-5 educational score, write Parquet.

The output (``text``, ``score`` int 0-5, ``justification``, ``prompt_hash``, ``teacher_model``,
``template_id``, ``id``) feeds ``curator train-classifier --annotations FILE --label-field score``
directly. Failed prompts are not written (they are recorded in the cache's failure table, and a
rerun of the same command asks the teacher only for them). :func:`agreement_report` compares the
teacher's labels with a classifier's scores (Spearman, F1 at 3, confusion matrix).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from curator.schema import ID, PROMPT_HASH, TEACHER_MODEL, TEMPLATE_ID, TEXT
from generators.base import SamplingParams, TeacherClient, TeacherRequest
from generators.cache import ResponseCache, generate_cached
from generators.prompts import get_template

# Annotation label columns (the names `curator train-classifier --label-field` expects).
SCORE = "score"
JUSTIFICATION = "justification"

ANNOTATION_SCHEMA = pa.schema(
    [
        pa.field(ID, pa.string()),
        pa.field(TEXT, pa.string()),
        pa.field(SCORE, pa.int8()),
        pa.field(JUSTIFICATION, pa.string()),
        pa.field(PROMPT_HASH, pa.string()),
        pa.field(TEACHER_MODEL, pa.string()),
        pa.field(TEMPLATE_ID, pa.string()),
    ]
)


def read_documents(paths: list[str], fmt: str = "auto", input_settings=None) -> pa.Table:
    """All documents (``id``, ``text``) from JSONL/Parquet/HF inputs via :mod:`curator.readers`."""
    from curator.readers import read_shard
    from curator.readers.base import expand_inputs

    tables = []
    for shard in expand_inputs(list(paths), fmt):
        for docs, _quarantine in read_shard(shard, input_settings):
            if docs.num_rows:
                tables.append(docs.select([ID, TEXT]))
    if not tables:
        return pa.table({ID: pa.array([], pa.string()), TEXT: pa.array([], pa.string())})
    return pa.concat_tables(tables)


def sample_rows(table: pa.Table, n: int | None, seed: int = 0) -> pa.Table:
    """Up to ``n`` rows drawn without replacement (reproducible for ``seed``; original order kept)."""
    if n is None or n >= table.num_rows:
        return table
    idx = np.sort(np.random.default_rng(seed).choice(table.num_rows, size=n, replace=False))
    return table.take(pa.array(idx))


def annotate_table(
    docs: pa.Table,
    client: TeacherClient,
    cache: ResponseCache | None,
    sampling: SamplingParams | None = None,
    max_doc_chars: int = 4000,
    template_id: str = "annotate_edu",
) -> tuple[pa.Table, dict[str, Any]]:
    """Ask ``client`` to score every document of ``docs`` (columns ``id``, ``text``).

    Returns:
        ``(table with ANNOTATION_SCHEMA, stats)``; stats: requested/cached/generated/failed
        and the first few failure messages.
    """
    template = get_template(template_id)
    sampling = sampling or SamplingParams(temperature=0.0, max_tokens=256)
    ids = docs.column(ID).to_pylist()
    texts = docs.column(TEXT).to_pylist()
    requests = [
        TeacherRequest(messages=template.render(text=t[:max_doc_chars]), sampling=sampling, output_model=template.output_model)
        for t in texts
    ]
    results, stats = generate_cached(client, requests, cache)
    rows = {f.name: [] for f in ANNOTATION_SCHEMA}
    errors = []
    for doc_id, text, res in zip(ids, texts, results):
        if not res.ok:
            errors.append(res.error)
            continue
        rows[ID].append(doc_id)
        rows[TEXT].append(text)
        rows[SCORE].append(int(res.parsed["score"]))
        rows[JUSTIFICATION].append(res.parsed["justification"])
        rows[PROMPT_HASH].append(res.prompt_hash)
        rows[TEACHER_MODEL].append(client.model)
        rows[TEMPLATE_ID].append(template.ref)
    stats["errors"] = errors[:10]
    stats["rows"] = len(rows[ID])
    return pa.table(rows, schema=ANNOTATION_SCHEMA), stats


def annotate_files(
    paths: list[str],
    out: str | Path,
    client: TeacherClient,
    cache_dir: str | Path,
    sample: int | None = None,
    seed: int = 0,
    sampling: SamplingParams | None = None,
    max_doc_chars: int = 4000,
    fmt: str = "auto",
) -> dict[str, Any]:
    """Read ``paths``, sample ``sample`` docs, annotate them and write ``out`` (Parquet, atomically)."""
    import pyarrow.parquet as pq

    docs = sample_rows(read_documents(paths, fmt), sample, seed)
    with ResponseCache(cache_dir) as cache:
        table, stats = annotate_table(docs, client, cache, sampling, max_doc_chars)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(out)
    stats["out"] = str(out)
    return stats


def agreement_report(teacher_scores, classifier_scores) -> dict[str, Any]:
    """Agreement of a classifier's float scores with the teacher's 0-5 labels.

    Uses :func:`classifiers.evaluation.compute_metrics` (Spearman, binary F1 at 3, confusion
    matrix, macro-F1, MSE...).
    """
    from classifiers.evaluation import compute_metrics

    return compute_metrics(list(teacher_scores), list(classifier_scores), threshold=3.0)
