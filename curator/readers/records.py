"""Turn raw records into schema rows, quarantining anything that cannot be a document.

Every reader feeds records through :class:`RecordBatcher`, so the rules are the same for
every format: text must be a non-empty string no larger than ``max_doc_bytes``; ids are
strings (a missing id becomes ``<shard key>:<location>``); an id seen twice in a shard is
quarantined as ``duplicate_id``. Reasons are the constants below.

:meth:`RecordBatcher.add_text` is the one sanitising point of every input path: each string
field a row keeps (text, id, url, crawl_date, record_id) must encode as UTF-8, and a value that
cannot become a string (a JSON integer past Python's digit limit, say) quarantines the record
with a reason naming the field, never an exception. Quarantine rows are made writable too
(unpaired surrogates in a detail or source are replaced), so no record can crash a build.
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
DUPLICATE_ID_ACROSS_SHARDS = "duplicate_id_across_shards"  # set by the build once every shard is read
WRONG_SCHEMA = "wrong_schema"
TRUNCATED_FILE = "truncated_file"
UNREADABLE_FILE = "unreadable_file"
MALFORMED_RECORD = "malformed_record"


class RecordBatcher:
    """Accumulate validated rows and quarantine rows; emit them as tables every ``rows_per_part``."""

    def __init__(
        self,
        source: str,
        shard_key: str,
        text_field: str,
        id_field: str,
        url_field: str,
        max_doc_bytes: int,
        rows_per_part: int,
    ) -> None:
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
        self._source = _writable(source)  # a file name that is not UTF-8 (surrogate-escaped) is still written

    def quarantine(self, location: Any, reason: str, detail: str = "", raw: bytes | str | None = None) -> None:
        location = None if location is None else _writable(str(location))
        self._quarantine.append(S.quarantine_row(self._source, location, reason, _writable(detail), raw))

    def quarantine_count(self) -> int:
        """Quarantine rows not yet flushed."""
        return len(self._quarantine)

    def add(self, record: Any, location: Any, raw: bytes | str | None = None) -> None:
        """Validate one decoded record (a dict) and keep it or quarantine it."""
        if not isinstance(record, dict):
            self.quarantine(location, NOT_AN_OBJECT, f"expected a JSON object, got {type(record).__name__}", raw)
            return
        text = record.get(self.text_field)
        if text is None:
            self.quarantine(
                location, MISSING_TEXT, f"no `{self.text_field}` field (fields: {sorted(record)[:10]})", raw
            )
            return
        if not isinstance(text, str):
            self.quarantine(
                location, NON_STRING_TEXT, f"`{self.text_field}` is {type(text).__name__}, not a string", raw
            )
            return
        self.add_text(text, record.get(self.id_field), location, url=record.get(self.url_field), raw=raw, extra=record)

    def add_text(
        self,
        text: str,
        doc_id: Any,
        location: Any,
        url: Any = None,
        raw: bytes | str | None = None,
        extra: dict | None = None,
    ) -> None:
        """Keep one document or quarantine it: the single check every reader's rows pass through."""
        if not text.strip():
            self.quarantine(location, EMPTY_TEXT, "text is empty or whitespace", raw)
            return
        n_bytes = len(text.encode("utf-8", errors="surrogatepass"))
        if n_bytes > self.max_doc_bytes:
            self.quarantine(
                location,
                TOO_LARGE,
                f"{n_bytes} bytes > input.max_doc_bytes={self.max_doc_bytes}",
                raw if raw is not None else text,
            )
            return
        if not _encodes(text):
            self.quarantine(location, BAD_UTF8, "text holds unpaired surrogates", raw)
            return
        extra = extra or {}
        fields = {}
        values = ((S.ID, doc_id), (S.URL, url)) + tuple((k, extra.get(k)) for k in (S.CRAWL_DATE, S.RECORD_ID))
        for name, value in values:
            value, problem = _as_str(value)
            if problem:
                self.quarantine(location, problem, f"`{name}` {_PROBLEMS[problem]}", raw if raw is not None else text)
                return
            fields[name] = value
        doc_id = fields[S.ID]
        doc_id = f"{self.shard_key}:{location}" if doc_id is None or doc_id == "" else doc_id
        if doc_id in self._seen_ids:
            self.quarantine(
                location, DUPLICATE_ID, f"id {doc_id!r} already seen in this shard", raw if raw is not None else text
            )
            return
        self._seen_ids.add(doc_id)
        self._rows[S.ID].append(doc_id)
        self._rows[S.TEXT].append(text)
        self._rows[S.URL].append(fields[S.URL])
        self._rows[S.SOURCE].append(self._source)
        self._rows[S.CRAWL_DATE].append(fields[S.CRAWL_DATE])
        self._rows[S.RECORD_ID].append(fields[S.RECORD_ID])

    @property
    def pending(self) -> int:
        return len(self._rows[S.ID])

    def full(self) -> bool:
        return self.pending >= self.rows_per_part

    def flush(self) -> tuple[pa.Table, pa.Table]:
        docs = pa.Table.from_pydict(self._rows, schema=S.INPUT_SCHEMA)
        quarantine = (
            pa.Table.from_pylist(self._quarantine, schema=S.QUARANTINE_SCHEMA)
            if self._quarantine
            else S.empty(S.QUARANTINE_SCHEMA)
        )
        self._rows = {f.name: [] for f in S.INPUT_SCHEMA}
        self._quarantine = []
        return docs, quarantine

    def drain(self, final: bool = False) -> Iterator[tuple[pa.Table, pa.Table]]:
        many = len(self._quarantine) >= self.rows_per_part
        if self.full() or many or (final and (self.pending or self._quarantine)):
            yield self.flush()


_PROBLEMS = {
    BAD_UTF8: "holds unpaired surrogates (not valid UTF-8)",
    MALFORMED_RECORD: "cannot be turned into a string",
}


def _encodes(s: str) -> bool:
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _writable(s: str) -> str:
    """``s`` with unpaired surrogates replaced, for quarantine details and sources (never document fields)."""
    return s if _encodes(s) else s.encode("utf-8", errors="replace").decode("utf-8")


def _as_str(value: Any) -> tuple[str | None, str | None]:
    """(``value`` as a string or None, None) or (None, problem): a surrogate, or a value ``str`` refuses."""
    if value is None:
        return None, None
    try:
        s = value if isinstance(value, str) else str(value)
    except Exception:  # noqa: BLE001 - e.g. ValueError: an int past sys.get_int_max_str_digits()
        return None, MALFORMED_RECORD
    return (s, None) if _encodes(s) else (None, BAD_UTF8)
