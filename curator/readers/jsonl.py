"""JSON Lines reader: plain, gzip and zstd, streamed line by line.

Each line is decoded as strict UTF-8 and parsed as JSON on its own, so one bad line is
quarantined (``bad_utf8``, ``bad_json``, ...) and the rest of the shard is read. A
truncated or corrupt compressed file keeps every line read before the damage and
quarantines the remainder as ``truncated_file``.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator

import pyarrow as pa

from curator.readers.records import BAD_JSON, BAD_UTF8, TRUNCATED_FILE, UNREADABLE_FILE, RecordBatcher


def _open_binary(path: str) -> io.BufferedIOBase:
    low = path.lower()
    if low.endswith(".gz"):
        return gzip.open(path, "rb")
    if low.endswith((".zst", ".zstd")):
        import zstandard

        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(open(path, "rb"), read_across_frames=True))
    return open(path, "rb")


def read_jsonl(path: str, batcher: RecordBatcher) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Yield (documents, quarantine) tables of at most ``batcher.rows_per_part`` rows."""
    lineno = 0
    try:
        with _open_binary(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    decoded = line.decode("utf-8")
                except UnicodeDecodeError as exc:
                    batcher.quarantine(lineno, BAD_UTF8, str(exc), line)
                    continue
                try:
                    record = json.loads(decoded)
                except (json.JSONDecodeError, RecursionError) as exc:
                    batcher.quarantine(lineno, BAD_JSON, str(exc)[:200], line)
                    continue
                batcher.add(record, lineno, raw=line)
                yield from batcher.drain()
    except (EOFError, gzip.BadGzipFile, OSError, ValueError) as exc:
        reason = UNREADABLE_FILE if lineno == 0 and isinstance(exc, PermissionError) else TRUNCATED_FILE
        batcher.quarantine(f"after line {lineno}", reason, f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # zstandard.ZstdError and other codec failures
        batcher.quarantine(f"after line {lineno}", TRUNCATED_FILE, f"{type(exc).__name__}: {exc}")
    yield from batcher.drain(final=True)
