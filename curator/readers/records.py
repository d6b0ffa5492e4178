"""Turn raw records into schema rows, quarantining anything that cannot be a document.

Every reader feeds records through :class:`RecordBatcher`, so the rules are the same for
every format: text must be a non-empty string no larger than ``max_doc_bytes``; ids are
strings (a missing id becomes ``<shard key>:<location>``); an id seen twice in a shard is
quarantined as ``duplicate_id``. Reasons are the constants below.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from curator import schema as S

# Quarantine reasons (stable strings: they are counted in the manifest).
BAD_JSON = "bad_json"
BAD_UTF8 = "bad_utf8"
NOT_AN_OBJECT = "not_an_object"
MISSING_TEXT = "missing_text"
NON_STRING_TEXT = "non_string_text"
EMPTY_TEXT = "empty_text"
TOO_LARGE = "too_large"
DUPLICATE_ID = "duplicate_id"
WRONG_SCHEMA = "wrong_schema"
TRUNCATED_FILE = "truncated_file"
UNREADABLE_FILE = "unreadable_file"
MALFORMED_RECORD = "malformed_record"


class RecordBatcher:
    """Accumulate validated rows and quarantine rows; emit them as tables every ``rows_per_part``."""

    def __init__(self, source: str, shard_key: str, text_field: str, id_field: str, url_field: str, max_doc_bytes: int, rows_per_part: int) -> None:
        self.source = source
        self.shard_key = shard_key
        self.text_field = text_field
        self.id_field = id_field
        self.url_field = url_field
        self.max_doc_bytes = max_doc_bytes
        self.rows_per_part = rows_per_part
        self._rows: dict[str, list] = {f.name: [] for f in S.INPUT_SCHEMA}
        self._quarantine: list[dict] = []
        self._seen_ids: set[str] = set()

    def quarantine(self, location: Any, reason: str, detail: str = "", raw: bytes | str | None = None) -> None:
        self._quarantine.append(S.quarantine_row(self.source, location, reason, detail, raw))

    def add(self, record: Any, location: Any, raw: bytes | str | None = None) -> None:
        """Validate one decoded record (a dict) and keep it or quarantine it."""
        if not isinstance(record, dict):
            self.quarantine(location, NOT_AN_OBJECT, f"expected a JSON object, got {type(record).__name__}", raw)
            return
        text = record.get(self.text_field)
        if text is None:
            self.quarantine(location, MISSING_TEXT, f"no `{self.text_field}` field (fields: {sorted(record)[:10]})", raw)
            return
        if not isinstance(text, str):
            self.quarantine(location, NON_STRING_TEXT, f"`{self.text_field}` is {type(text).__name__}, not a string", raw)
            return
        self.add_text(text, record.get(self.id_field), location, url=record.get(self.url_field), raw=raw, extra=record)

    def add_text(self, text: str, doc_id: Any, location: Any, url: Any = None, raw: bytes | str | None = None, extra: dict | None = None) -> None:
        if not text.strip():
            self.quarantine(location, EMPTY_TEXT, "text is empty or whitespace", raw)
            return
        n_bytes = len(text.encode("utf-8", errors="surrogatepass"))
        if n_bytes > self.max_doc_bytes:
            self.quarantine(location, TOO_LARGE, f"{n_bytes} bytes > input.max_doc_bytes={self.max_doc_bytes}", raw if raw is not None else text)
            return
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.quarantine(location, BAD_UTF8, "text holds unpaired surrogates", raw)
            return
        doc_id = f"{self.shard_key}:{location}" if doc_id is None or doc_id == "" else str(doc_id)
        if doc_id in self._seen_ids:
            self.quarantine(location, DUPLICATE_ID, f"id {doc_id!r} already seen in this shard", raw if raw is not None else text)
            return
        self._seen_ids.add(doc_id)
        extra = extra or {}
        self._rows[S.ID].append(doc_id)
        self._rows[S.TEXT].append(text)
        self._rows[S.URL].append(None if url is None else str(url))
        self._rows[S.SOURCE].append(self.source)
        self._rows[S.CRAWL_DATE].append(_str_or_none(extra.get(S.CRAWL_DATE)))
        self._rows[S.RECORD_ID].append(_str_or_none(extra.get(S.RECORD_ID)))

    @property
    def pending(self) -> int:
        return len(self._rows[S.ID])

    def full(self) -> bool:
        return self.pending >= self.rows_per_part

    def flush(self) -> tuple[pa.Table, pa.Table]:
        docs = pa.Table.from_pydict(self._rows, schema=S.INPUT_SCHEMA)
        quarantine = pa.Table.from_pylist(self._quarantine, schema=S.QUARANTINE_SCHEMA) if self._quarantine else S.empty(S.QUARANTINE_SCHEMA)
        self._rows = {f.name: [] for f in S.INPUT_SCHEMA}
        self._quarantine = []
        return docs, quarantine

    def drain(self, final: bool = False) -> Iterator[tuple[pa.Table, pa.Table]]:
        if self.full() or (final and (self.pending or self._quarantine)):
            yield self.flush()


def _str_or_none(v: Any) -> str | None:
    return None if v is None else str(v)
