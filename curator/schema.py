"""The one data contract: every column name and the declared Arrow schemas.

A batch anywhere in edu-curator is a ``pyarrow.Table``. Column names are constants
defined here and nowhere else; stages import them. Schemas are declared, never
inferred from the first batch: :func:`conform` casts a table onto a declared schema,
adding missing columns as nulls and dropping unknown ones.
"""

from __future__ import annotations

import pyarrow as pa

# --- identity and content -------------------------------------------------------
ID = "id"
TEXT = "text"
URL = "url"
SOURCE = "source"  # input shard (or "synthetic") the row came from
CRAWL_DATE = "crawl_date"  # ISO date of the crawl (WARC/WET input)
RECORD_ID = "record_id"  # WARC record id or other upstream provenance
# --- stage columns --------------------------------------------------------------
N_CHARS = "n_chars"
N_WORDS = "n_words"
HEURISTIC_FLAGS = "heuristic_flags"  # list<string>: rules the document failed
TEXT_HASH = "text_hash"  # xxh64 of the normalized text (exact dedup key)
EDU_SCORE = "edu_score"  # float 0-5
EDU_INT_SCORE = "edu_int_score"  # int 0-5 (rounded, clipped)
DUP_CLUSTER_ID = "dup_cluster_id"  # id of the document kept for this cluster (null: unique)
CONTAM_MATCH = "contam_match"  # "benchmark:item_id" of the first matching benchmark item (null: clean)
N_TOKENS = "n_tokens"
LANGUAGE = "language"
LANGUAGE_SCORE = "language_score"
# --- synthetic rows (phase 2) ---------------------------------------------------
SEED_ID = "seed_id"
TEMPLATE_ID = "template_id"
PROMPT_HASH = "prompt_hash"
TEACHER_MODEL = "teacher_model"
SAMPLING_PARAMS = "sampling_params"  # JSON string
# --- provenance -----------------------------------------------------------------
CLASSIFIER_VERSION = "classifier_version"
CONFIG_HASH = "config_hash"
# --- side outputs ---------------------------------------------------------------
DROP_STAGE = "drop_stage"
DROP_REASON = "drop_reason"
KEPT_ID = "kept_id"  # for dedup side output: the document kept in this one's place
# --- quarantine -----------------------------------------------------------------
Q_SOURCE = "source"
Q_LOCATION = "location"  # line number, row index or record id inside the source
Q_REASON = "reason"
Q_DETAIL = "detail"
Q_RAW = "raw"  # the raw bytes (truncated) so nothing vanishes

MAX_RAW_BYTES = 64 * 1024

# Columns every reader must produce.
INPUT_SCHEMA = pa.schema(
    [
        pa.field(ID, pa.string(), nullable=False),
        pa.field(TEXT, pa.string(), nullable=False),
        pa.field(URL, pa.string()),
        pa.field(SOURCE, pa.string()),
        pa.field(CRAWL_DATE, pa.string()),
        pa.field(RECORD_ID, pa.string()),
    ]
)

# The full document schema once every stage has run (phase1/phase2 output).
DOC_SCHEMA = pa.schema(
    list(INPUT_SCHEMA)
    + [
        pa.field(N_CHARS, pa.int64()),
        pa.field(N_WORDS, pa.int64()),
        pa.field(HEURISTIC_FLAGS, pa.list_(pa.string())),
        pa.field(TEXT_HASH, pa.uint64()),
        pa.field(EDU_SCORE, pa.float32()),
        pa.field(EDU_INT_SCORE, pa.int8()),
        pa.field(DUP_CLUSTER_ID, pa.string()),
        pa.field(CONTAM_MATCH, pa.string()),
        pa.field(LANGUAGE, pa.string()),
        pa.field(LANGUAGE_SCORE, pa.float32()),
        pa.field(N_TOKENS, pa.int64()),
        pa.field(SEED_ID, pa.string()),
        pa.field(TEMPLATE_ID, pa.string()),
        pa.field(PROMPT_HASH, pa.string()),
        pa.field(TEACHER_MODEL, pa.string()),
        pa.field(SAMPLING_PARAMS, pa.string()),
        pa.field(CLASSIFIER_VERSION, pa.string()),
        pa.field(CONFIG_HASH, pa.string()),
    ]
)

# Rows dropped by a stage (written under OUT/rejected/<stage>/).
REJECTED_SCHEMA = pa.schema(
    list(DOC_SCHEMA)
    + [pa.field(DROP_STAGE, pa.string()), pa.field(DROP_REASON, pa.string()), pa.field(KEPT_ID, pa.string())]
)

# Input that could not become a document (written under OUT/quarantine/).
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field(Q_SOURCE, pa.string(), nullable=False),
        pa.field(Q_LOCATION, pa.string()),
        pa.field(Q_REASON, pa.string(), nullable=False),
        pa.field(Q_DETAIL, pa.string()),
        pa.field(Q_RAW, pa.binary()),
    ]
)


def conform(table: pa.Table, schema: pa.Schema = DOC_SCHEMA) -> pa.Table:
    """Return ``table`` with exactly ``schema``'s columns, in order, cast to their types.

    Missing columns become nulls; columns the schema does not name are dropped.
    """
    n = table.num_rows
    arrays = []
    for field in schema:
        if field.name in table.column_names:
            col = table.column(field.name)
            if col.type != field.type:
                col = col.cast(field.type)
            arrays.append(col)
        else:
            arrays.append(pa.nulls(n, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def empty(schema: pa.Schema = DOC_SCHEMA) -> pa.Table:
    """An empty table with ``schema``."""
    return schema.empty_table()


def quarantine_row(
    source: str, location: str | int | None, reason: str, detail: str = "", raw: bytes | str | None = None
) -> dict:
    """Build one quarantine record; ``raw`` is truncated to :data:`MAX_RAW_BYTES`."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", errors="replace")
    return {
        Q_SOURCE: source,
        Q_LOCATION: None if location is None else str(location),
        Q_REASON: reason,
        Q_DETAIL: detail[:2000],
        Q_RAW: raw[:MAX_RAW_BYTES] if raw is not None else None,
    }
