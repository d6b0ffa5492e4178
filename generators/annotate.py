"""Teacher annotation: sample documents, ask for an additive 0-5 educational score, write Parquet.

The output (``text``, ``score`` int 0-5, ``justification``, ``prompt_hash``, ``teacher_model``,
``template_id``, ``id``) feeds ``curator train-classifier --annotations FILE --label-field score``
directly. Failed prompts are not written (they are recorded in the cache's failure table, and a
rerun of the same command asks the teacher only for them). :func:`agreement_report` compares the
teacher's labels with a classifier's scores (Spearman, F1 at 3, confusion matrix).

The answer is constrained by a regex (:func:`generators.prompts.edu_score_regex`, sized to
``max_tokens``), not by the JSON schema: any model, a random-weight one included, answers with a
valid score whatever the server's structured-output settings. A document whose prompt overflows the
teacher's context is asked again cut to half its length (up to :data:`MAX_SHORTEN` times).
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


MAX_SHORTEN = 4  # times a document that overflows the teacher's context is halved
MIN_DOC_CHARS = 200
_OVERFLOW_HINTS = ("context length", "model length", "too long")


def _context_overflow(error: str | None) -> bool:
    """Whether a failure is a prompt longer than the teacher's context (vLLM: "This model's maximum
    context length is N tokens..."; engine: "...longer than the maximum model length")."""
    e = (error or "").lower()
    return not e.startswith("invalid") and any(h in e for h in _OVERFLOW_HINTS)


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
    regex = template.answer_regex(sampling.max_tokens)
    ids = docs.column(ID).to_pylist()
    texts = docs.column(TEXT).to_pylist()

    def request(text: str, chars: int) -> TeacherRequest:
        return TeacherRequest(
            messages=template.render(text=text[:chars]),
            sampling=sampling,
            output_model=template.output_model,
            regex=regex,
        )

    results, stats = generate_cached(client, [request(t, max_doc_chars) for t in texts], cache)
    # a prompt longer than the teacher's context (a tokenizer that takes few characters per token,
    # a small max_model_len) is asked again with the document cut to half, then a quarter...
    chars = [max_doc_chars] * len(texts)
    shortened: set[int] = set()
    for _ in range(MAX_SHORTEN):
        todo = [
            i for i, r in enumerate(results) if not r.ok and _context_overflow(r.error) and chars[i] > MIN_DOC_CHARS
        ]
        if not todo:
            break
        for i in todo:
            chars[i] = max(MIN_DOC_CHARS, min(chars[i], len(texts[i])) // 2)
            shortened.add(i)
        again, st = generate_cached(client, [request(texts[i], chars[i]) for i in todo], cache)
        stats["cached"] += st["cached"]
        for i, res in zip(todo, again):
            results[i] = res
    if shortened:
        stats["generated"] = sum(1 for r in results if r.ok and not r.cached)
        stats["failed"] = sum(1 for r in results if not r.ok)
    stats["shortened"] = len(shortened)
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
