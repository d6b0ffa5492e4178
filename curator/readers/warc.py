"""WARC and WET readers (Common Crawl input), streamed with fastwarc; ``.gz`` included.

* WARC: ``response`` records whose HTTP payload is HTML become documents: the payload is decoded
  (declared charset, UTF-8, then detection) and its main text extracted with
  :func:`curator.extract.get_extractor` (boilerplate removed).
* WET: ``conversion`` records (plain text already extracted by Common Crawl) become documents.

Every document carries ``url`` (``WARC-Target-URI``), ``crawl_date`` (``WARC-Date`` as an ISO
date) and ``record_id`` (``WARC-Record-ID``, also the document id). Anything that cannot become a
document is quarantined with a reason, never fatal: malformed records, non-HTML or non-200
responses, undecodable payloads, pages with no text, and a truncated/corrupt file (everything
read before the damage is kept). Other record types (warcinfo, request, metadata) are skipped.
:data:`curator.readers.READERS` maps the ``warc`` and ``wet`` formats to these readers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyarrow as pa

from curator import schema as S
from curator.extract import decode_html, get_extractor
from curator.readers.records import (
    BAD_UTF8,
    MALFORMED_RECORD,
    TOO_LARGE,
    TRUNCATED_FILE,
    UNREADABLE_FILE,
    RecordBatcher,
)
from curator.settings import ExtractSettings

# Quarantine reasons specific to WARC/WET input (stable strings: counted in the manifest).
NOT_HTML = "not_html"
HTTP_STATUS = "http_status"
UNDECODABLE = "undecodable_payload"
NO_TEXT = "no_text"
EXTRACTION_FAILED = "extraction_failed"

HTML_TYPES = ("text/html", "application/xhtml+xml", "application/xml+html")
RAW_PREVIEW = 4096  # bytes of a skipped payload kept in quarantine (non-HTML bodies can be large)
_HTML_SNIFF = re.compile(rb"<\s*(!doctype\s+html|html|head|body)\b", re.IGNORECASE)
_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})")


def iso_date(warc_date: str | None) -> str | None:
    """``2024-05-01T12:00:00Z`` -> ``2024-05-01``; None if absent or not a date."""
    if not warc_date:
        return None
    m = _ISO_DATE.match(warc_date.strip())
    return m.group(1) if m else None


def _strip_id(value: str | None) -> str | None:
    """``<urn:uuid:...>`` -> ``urn:uuid:...`` (also for WARC 1.1-style ``<url>`` target URIs)."""
    return value.strip().strip("<>") if value else None


def _iterate(path: str, record_types, parse_http: bool):
    from fastwarc.warc import ArchiveIterator

    return ArchiveIterator(
        path,
        record_types=record_types,
        parse_http=parse_http,
        auto_decode="all",
        fsspec_args=False,
        stream_detect=True,
    )


def read_warc(
    path: str, batcher: RecordBatcher, extract: ExtractSettings | dict | None = None
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Yield (documents, quarantine) tables from the HTML responses of one WARC file."""
    from fastwarc.warc import WarcRecordType

    settings = extract if isinstance(extract, ExtractSettings) else ExtractSettings.model_validate(extract or {})
    extractor = get_extractor(settings)
    n = 0
    try:
        for record in _iterate(path, WarcRecordType.response, parse_http=True):
            n += 1
            _add_response(record, n, batcher, settings, extractor)
            yield from batcher.drain()
    except Exception as exc:  # OSError from fastwarc: truncated gzip, unreadable file
        reason = UNREADABLE_FILE if n == 0 and not _openable(path) else TRUNCATED_FILE
        batcher.quarantine(f"after record {n}", reason, f"{type(exc).__name__}: {exc}")
    else:
        _check_intact(path, n, batcher)
    yield from batcher.drain(final=True)


def _add_response(record, n: int, batcher: RecordBatcher, settings: ExtractSettings, extractor) -> None:
    headers = record.headers
    record_id = _strip_id(headers.get("WARC-Record-ID"))
    location = record_id or f"record {n}"
    url = _strip_id(headers.get("WARC-Target-URI"))
    if not record.is_http or record.http_headers is None:
        batcher.quarantine(
            location, MALFORMED_RECORD, f"HTTP headers could not be parsed (url={url})", _read(record, RAW_PREVIEW)
        )
        return
    status = record.http_headers.status_code
    if status is None:
        batcher.quarantine(location, MALFORMED_RECORD, f"no HTTP status line (url={url})", _read(record, RAW_PREVIEW))
        return
    if status != 200:
        batcher.quarantine(location, HTTP_STATUS, f"HTTP {status} (url={url})")
        return
    ctype = (record.http_content_type or "").lower()
    if settings.max_html_bytes and record.content_length > settings.max_html_bytes + 65536:
        batcher.quarantine(
            location,
            TOO_LARGE,
            f"{record.content_length} bytes > extract.max_html_bytes={settings.max_html_bytes}",
            _read(record, RAW_PREVIEW),
        )
        return
    payload = _read(record)
    if ctype not in HTML_TYPES and not (not ctype and _HTML_SNIFF.search(payload[:2048])):
        batcher.quarantine(
            location, NOT_HTML, f"Content-Type {ctype or '(none)'!r} (url={url})", payload[:RAW_PREVIEW]
        )
        return
    if len(payload) > settings.max_html_bytes:
        batcher.quarantine(
            location,
            TOO_LARGE,
            f"{len(payload)} bytes > extract.max_html_bytes={settings.max_html_bytes}",
            payload[:RAW_PREVIEW],
        )
        return
    html = decode_html(payload, record.http_charset)
    if html is None:
        batcher.quarantine(
            location,
            UNDECODABLE,
            f"payload does not decode as {record.http_charset or 'utf-8'} or a detected charset",
            payload,
        )
        return
    try:
        text = extractor(html)
    except Exception as exc:
        batcher.quarantine(location, EXTRACTION_FAILED, f"{type(exc).__name__}: {exc}", payload)
        return
    if len(text.strip()) < max(1, settings.min_chars):
        batcher.quarantine(location, NO_TEXT, f"extracted {len(text.strip())} characters (url={url})", payload)
        return
    extra = {S.CRAWL_DATE: iso_date(headers.get("WARC-Date")), S.RECORD_ID: record_id}
    batcher.add_text(text, record_id, location, url=url, raw=payload, extra=extra)


def read_wet(path: str, batcher: RecordBatcher) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Yield (documents, quarantine) tables from the ``conversion`` records of one WET file."""
    from fastwarc.warc import WarcRecordType

    n = 0
    try:
        for record in _iterate(path, WarcRecordType.conversion, parse_http=False):
            n += 1
            headers = record.headers
            record_id = _strip_id(headers.get("WARC-Record-ID"))
            location = record_id or f"record {n}"
            payload = _read(record)
            try:
                text = payload.decode("utf-8")
            except UnicodeDecodeError as exc:
                batcher.quarantine(location, BAD_UTF8, str(exc)[:200], payload)
                continue
            extra = {S.CRAWL_DATE: iso_date(headers.get("WARC-Date")), S.RECORD_ID: record_id}
            batcher.add_text(
                text, record_id, location, url=_strip_id(headers.get("WARC-Target-URI")), raw=payload, extra=extra
            )
            yield from batcher.drain()
    except Exception as exc:  # OSError from fastwarc: truncated gzip, unreadable file
        reason = UNREADABLE_FILE if n == 0 and not _openable(path) else TRUNCATED_FILE
        batcher.quarantine(f"after record {n}", reason, f"{type(exc).__name__}: {exc}")
    else:
        _check_intact(path, n, batcher)
    yield from batcher.drain(final=True)


def gzip_damage(path: str, chunk: int = 1 << 20) -> str | None:
    """None if ``path`` is not gzip or every gzip member is complete; else what is wrong.

    fastwarc stops quietly at a truncated or corrupt gzip member, so the readers check the
    stream (zlib, C speed, a small fraction of extraction time) to quarantine the damage.
    """
    import zlib

    with open(path, "rb") as fh:
        if fh.read(2) != b"\x1f\x8b":
            return None
        fh.seek(0)
        d, in_member = zlib.decompressobj(31), False
        try:
            while data := fh.read(chunk):
                while data:
                    in_member = True
                    d.decompress(data)
                    if not d.eof:
                        break
                    data, d, in_member = d.unused_data, zlib.decompressobj(31), False
        except zlib.error as exc:
            return f"corrupt gzip data: {exc}"
    return "the file ends inside a gzip member (truncated download?)" if in_member else None


def _openable(path: str) -> bool:
    """False for a file that cannot be opened at all (permissions, a dangling or looping symlink)."""
    try:
        open(path, "rb").close()
    except OSError:
        return False
    return True


def _check_intact(path: str, n: int, batcher: RecordBatcher) -> None:
    damage = gzip_damage(path) if path.lower().endswith(".gz") else None
    if damage:
        batcher.quarantine(f"after record {n}", TRUNCATED_FILE, f"{damage}; the {n} records before it were read")


def _read(record, limit: int | None = None) -> bytes:
    try:
        return record.reader.read(limit) if limit else record.reader.read()
    except Exception:  # a payload cut short: keep what the record header promised nothing of
        return b""
