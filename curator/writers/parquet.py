"""Atomic Parquet output: single tables, and whole directories of shards.

Nothing a reader can see is ever half-written. A single file is written to a temporary
name in the same directory, flushed to disk, then renamed into place. A directory of
shards (what a Ray write produces) is written under a temporary name, its files renamed
to ``part-00000.parquet``, ``part-00001.parquet``, ... in a deterministic order, then the
directory itself is renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curator.exceptions import OutputError


def _compression(name: str) -> str | None:
    return None if name == "none" else name


@contextmanager
def _atomic_file(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; once the body has written it, fsync it and rename it into place.

    Raises:
        OutputError: the write, the fsync or the rename failed (the temporary file is removed).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_for(path)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write {path}: {exc.strerror or exc}. Check free space and permissions of {path.parent}."
        ) from exc


def atomic_write_table(
    table: pa.Table, path: str | Path, compression: str = "zstd", row_group_rows: int = 8192
) -> Path:
    """Write ``table`` to ``path`` atomically (temp file, fsync, rename)."""
    path = Path(path)
    with _atomic_file(path) as tmp:
        pq.write_table(table, tmp, compression=_compression(compression), row_group_size=row_group_rows)
    return path


def atomic_write_json(data: dict, path: str | Path) -> Path:
    """Write ``data`` as pretty JSON to ``path`` atomically."""
    path = Path(path)
    with _atomic_file(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=str)
    return path


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_info(path: str | Path, root: str | Path | None = None) -> dict:
    """Row count, size and sha256 of one Parquet file."""
    path = Path(path)
    meta = pq.ParquetFile(path).metadata
    return {
        "path": str(path.relative_to(root)) if root else str(path),
        "rows": meta.num_rows,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
    }


def parquet_files(directory: str | Path) -> list[Path]:
    """The visible Parquet files under ``directory`` (recursively), sorted."""
    d = Path(directory)
    if not d.exists():
        return []
    return sorted(
        p for p in d.rglob("*.parquet") if not any(part.startswith((".", "_")) for part in p.relative_to(d).parts)
    )


def count_rows(directory: str | Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in parquet_files(directory))


def temp_dir_for(final: str | Path) -> Path:
    """A fresh temporary name beside ``final`` (a directory, or a file): ``.<name>.tmp-<random>``."""
    final = Path(final)
    return final.with_name(f".{final.name}.tmp-{uuid.uuid4().hex[:8]}")


def commit_dir(
    tmp: str | Path, final: str | Path, schema: pa.Schema, rename_parts: bool = True, compression: str = "zstd"
) -> list[Path]:
    """Make ``tmp`` (a directory of Parquet files) appear atomically as ``final``.

    Files are renamed to ``part-NNNNN.parquet`` in a deterministic order (sorted by their
    first id, then name); an empty directory gets one empty file with ``schema`` so every
    reader can open it. An existing ``final`` is replaced.
    """
    tmp, final = Path(tmp), Path(final)
    tmp.mkdir(parents=True, exist_ok=True)
    files = parquet_files(tmp)
    files = [f for f in files if pq.ParquetFile(f).metadata.num_rows > 0] or files[:0]
    for f in parquet_files(tmp):
        if f not in files:
            f.unlink()
    if not files:
        atomic_write_table(schema.empty_table(), tmp / "part-00000.parquet", compression=compression)
    elif rename_parts:
        keyed = []
        for f in files:
            first = pq.ParquetFile(f).read_row_group(0, columns=[schema.names[0]]).column(0)
            keyed.append((str(first[0].as_py()) if len(first) else "", f.name, f))
        keyed.sort()
        staged = []
        for i, (_, _, f) in enumerate(keyed):
            target = tmp / f".staged-{i:05d}"
            os.replace(f, target)
            staged.append(target)
        for i, f in enumerate(staged):
            os.replace(f, tmp / f"part-{i:05d}.parquet")
        for d in sorted((p for p in tmp.rglob("*") if p.is_dir()), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass
    if final.exists():
        trash = final.with_name(f".{final.name}.old-{uuid.uuid4().hex[:8]}")
        os.replace(final, trash)
        os.replace(tmp, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)
    return parquet_files(final)
