"""Input discovery: expand files, directories and globs into typed shards.

A :class:`Shard` is one unit of input (a file, a local Hugging Face dataset directory or a
hub dataset id). Its ``key`` is stable across runs, so a resumed build recognises the
shards it has already ingested.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from curator.exceptions import InputError

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson", ".jsonl.gz", ".json.gz", ".ndjson.gz", ".jsonl.zst", ".json.zst", ".jsonl.zstd")
PARQUET_SUFFIXES = (".parquet", ".pq")
WARC_SUFFIXES = (".warc", ".warc.gz")
WET_SUFFIXES = (".wet", ".wet.gz", ".warc.wet.gz")
HF_PREFIX = "hf:"


@dataclass(frozen=True)
class Shard:
    """One unit of input."""

    path: str
    format: str  # jsonl | parquet | hf | hf-hub | warc | wet

    @property
    def key(self) -> str:
        """Stable, filesystem-safe name: readable stem plus a short hash of the full path."""
        digest = hashlib.sha1(self.path.encode()).hexdigest()[:10]
        stem = Path(self.path.rstrip("/")).name.split(".")[0][:40] or "shard"
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)
        return f"{safe}-{digest}"


def detect_format(path: str) -> str | None:
    """Format of a file by its name, or None if it is not an input we read."""
    low = path.lower()
    if low.endswith(WET_SUFFIXES):
        return "wet"
    if low.endswith(WARC_SUFFIXES):
        return "warc"
    if low.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if low.endswith(PARQUET_SUFFIXES):
        return "parquet"
    return None


def _is_hf_dataset_dir(path: Path) -> bool:
    return (path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists() or (path / "state.json").exists()


def expand_inputs(paths: list[str], fmt: str = "auto") -> list[Shard]:
    """Expand ``paths`` (files, directories, globs, ``hf:NAME``) into sorted, unique shards.

    Raises:
        InputError: a path that matches nothing or cannot be read; the message names it.
    """
    if not paths:
        raise InputError("no input paths given: set `input.paths` in the config or pass INPUT files")
    shards: dict[str, Shard] = {}
    for raw in paths:
        if raw.startswith(HF_PREFIX):
            name = raw[len(HF_PREFIX) :]
            local = Path(name)
            if local.is_dir():
                shards[str(local.resolve())] = Shard(str(local.resolve()), "hf")
            else:
                shards[raw] = Shard(name, "hf-hub")
            continue
        matches = sorted(glob.glob(os.path.expanduser(raw), recursive=True)) if glob.has_magic(raw) else [os.path.expanduser(raw)]
        if not matches:
            raise InputError(f"input glob {raw!r} matched no files: check the pattern and the working directory")
        for m in matches:
            p = Path(m)
            if not p.exists():
                raise InputError(f"input path {m!r} does not exist: check the path (relative paths are resolved from {os.getcwd()})")
            if not os.access(p, os.R_OK):
                raise InputError(f"input path {m!r} is not readable: fix its permissions")
            if p.is_dir():
                if _is_hf_dataset_dir(p):
                    shards[str(p.resolve())] = Shard(str(p.resolve()), "hf")
                    continue
                for f in sorted(p.rglob("*")):
                    if f.is_file() and not f.name.startswith((".", "_")):
                        ff = fmt if fmt != "auto" else detect_format(f.name)
                        if ff:
                            shards[str(f.resolve())] = Shard(str(f.resolve()), ff)
            else:
                ff = fmt if fmt != "auto" else detect_format(p.name)
                if ff is None:
                    raise InputError(f"cannot tell the format of {m!r} from its name: set `input.format` (jsonl, parquet, hf, warc, wet)")
                shards[str(p.resolve())] = Shard(str(p.resolve()), ff)
    if not shards:
        raise InputError(f"no readable input shards under {paths}: expected .jsonl[.gz|.zst], .parquet, WARC/WET or a datasets directory")
    return sorted(shards.values(), key=lambda s: s.path)
