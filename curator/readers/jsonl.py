"""JSON Lines reader: plain, gzip and zstd, streamed line by line.

Each line is decoded as strict UTF-8 and parsed as JSON on its own, so one bad line is
quarantined (``bad_utf8``, ``bad_json``, ...) and the rest of the shard is read; whatever else
goes wrong with one line (a value no string can hold, say) quarantines that line only, as
``malformed_record``. A UTF-8 byte order mark before the first line is skipped. A file whose
name says gzip or zstd but whose first bytes are not that format is ``unreadable_file``. A
truncated or corrupt compressed file keeps every line read before the damage and quarantines
the remainder as one ``truncated_file`` row saying how many lines and bytes were read before the
damage (a zstd stream cut inside a frame is detected too, not read as a short last line; a file cut
exactly between two frames is a valid zstd file and cannot be told from a complete one).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterator

import pyarrow as pa

from curator.readers.records import (
    BAD_JSON,
    BAD_UTF8,
    MALFORMED_RECORD,
    TRUNCATED_FILE,
    UNREADABLE_FILE,
    RecordBatcher,
)

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_ZSTD_SKIPPABLE = range(0x184D2A50, 0x184D2A60)  # little-endian magic of a skippable frame
_CHUNK = 1 << 20
_BOM = b"\xef\xbb\xbf"


class _ZstdFrames(io.RawIOBase):
    """Decompress every frame of a zstd file; ``EOFError`` if the file ends inside a frame.

    ``zstandard``'s stream reader returns a short read at a cut, so a cut file looked complete.
    """

    def __init__(self, path: str) -> None:
        import zstandard

        self._zstd = zstandard
        self._fh = open(path, "rb")
        self._dobj = None
        self._buf = b""
        self._consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        while not self._buf:
            if self._dobj is None or self._dobj.eof:
                leftover = self._dobj.unused_data if self._dobj is not None else b""
                self._dobj = None
                data = leftover or self._fh.read(_CHUNK)
                if not data:
                    return 0
                self._dobj = self._zstd.ZstdDecompressor().decompressobj()
                self._buf = self._dobj.decompress(data)
            else:
                data = self._fh.read(_CHUNK)
                if not data:
                    raise EOFError(f"zstd stream cut inside a frame at byte {self._fh.tell()} of the file")
                self._buf = self._dobj.decompress(data)
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def close(self) -> None:
        self._fh.close()
        super().close()


def _open_binary(path: str) -> io.BufferedIOBase:
    low = path.lower()
    if low.endswith(".gz"):
        return gzip.open(path, "rb")
    if low.endswith((".zst", ".zstd")):
        return io.BufferedReader(_ZstdFrames(path), buffer_size=_CHUNK)
    return open(path, "rb")


def _wrong_container(path: str) -> str | None:
    """Why a compressed file is not what its name says, from its first bytes; None if it looks right."""
    low = path.lower()
    with open(path, "rb") as fh:
        head = fh.read(4)
    if not head:
        return None
    if low.endswith(".gz") and not head.startswith(GZIP_MAGIC):
        return f"named .gz but not gzip data (starts with {head!r})"
    if (
        low.endswith((".zst", ".zstd"))
        and head != ZSTD_MAGIC
        and int.from_bytes(head.ljust(4, b"\0"), "little") not in _ZSTD_SKIPPABLE
    ):
        return f"named .zst but not zstd data (starts with {head!r})"
    return None


def read_jsonl(path: str, batcher: RecordBatcher) -> Iterator[tuple[pa.Table, pa.Table]]:
    """Yield (documents, quarantine) tables of at most ``batcher.rows_per_part`` rows."""
    lineno = 0
    try:
        problem = _wrong_container(path)
    except OSError as exc:
        problem = f"{type(exc).__name__}: {exc}"
    if problem:
        batcher.quarantine(None, UNREADABLE_FILE, problem)
        yield from batcher.drain(final=True)
        return
    n_bytes = 0  # decompressed bytes read: where a cut stream ended
    try:
        with _open_binary(path) as fh:
            for lineno, line in enumerate(fh, start=1):
                n_bytes += len(line)
                if lineno == 1 and line.startswith(_BOM):
                    line = line[len(_BOM) :]
                if not line.strip():
                    continue
                _add_line(batcher, lineno, line)
                yield from batcher.drain()
    except (EOFError, gzip.BadGzipFile, OSError, ValueError) as exc:
        reason = UNREADABLE_FILE if lineno == 0 and isinstance(exc, PermissionError) else TRUNCATED_FILE
        batcher.quarantine(f"after line {lineno}", reason, _cut_detail(exc, lineno, n_bytes))
    except Exception as exc:  # zstandard.ZstdError and other codec failures
        batcher.quarantine(f"after line {lineno}", TRUNCATED_FILE, _cut_detail(exc, lineno, n_bytes))
    yield from batcher.drain(final=True)


def _cut_detail(exc: BaseException, lineno: int, n_bytes: int) -> str:
    """What a damaged file lost: everything after the last whole line read (the cut line included)."""
    read = f"{lineno} lines ({n_bytes} bytes) read before the damage"
    return f"{type(exc).__name__}: {exc}; {read}, the rest of the file is lost"


def _add_line(batcher: RecordBatcher, lineno: int, line: bytes) -> None:
    """Decode, parse and add one line; any failure quarantines this line only."""
    try:
        decoded = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        batcher.quarantine(lineno, BAD_UTF8, str(exc), line)
        return
    try:
        record = json.loads(decoded)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, and ValueError for ints past the digit limit
        batcher.quarantine(lineno, BAD_JSON, str(exc)[:200], line)
        return
    try:
        batcher.add(record, lineno, raw=line)
    except Exception as exc:  # noqa: BLE001 - one record must never end the shard
        batcher.quarantine(lineno, MALFORMED_RECORD, f"{type(exc).__name__}: {str(exc)[:200]}", line)
