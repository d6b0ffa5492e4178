"""Input discovery: expand files, directories and globs into typed shards.

A :class:`Shard` is one unit of input (a file, a local Hugging Face dataset directory or a
hub dataset id). Its ``key`` is stable across runs, so a resumed build recognises the
shards it has already ingested.

Directories (and ``**`` globs) are walked following symlinked subdirectories, each real
directory once, so a symlink loop (``d/a -> .``) ends the walk instead of hanging it. A
dangling or looping file symlink found inside a directory or by a glob becomes a shard all the
same: its reader cannot open it and quarantines it as ``unreadable_file`` (never silently skipped).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from curator.exceptions import InputError

JSONL_SUFFIXES = (
    ".jsonl",
    ".json",
    ".ndjson",
    ".jsonl.gz",
    ".json.gz",
    ".ndjson.gz",
    ".jsonl.zst",
    ".json.zst",
    ".jsonl.zstd",
)
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
    return (
        (path / "dataset_info.json").exists()
        or (path / "dataset_dict.json").exists()
        or (path / "state.json").exists()
    )


def _walk(root: Path) -> Iterator[Path]:
    """Every file and directory under ``root``, symlinked directories followed, each real directory once."""
    seen: set[tuple[int, int]] = set()
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            st = d.stat()
            entries = sorted(os.scandir(d), key=lambda e: e.name, reverse=True)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        for e in entries:
            p = Path(e.path)
            try:
                is_dir = e.is_dir()  # follows a symlink; False for a dangling or looping one
            except OSError:
                is_dir = False
            if is_dir:
                stack.append(p)
            yield p


def _glob_regex(pattern: str) -> re.Pattern:
    """``pattern`` (``*``, ``?``, ``[...]``, ``**``) as a regex on whole paths, hidden names unmatched like glob."""
    parts = []
    comps = pattern.split("/")
    for n, comp in enumerate(comps):
        if comp == "**":
            parts.append("(?:(?!\\.)[^/]+(?:/(?!\\.)[^/]+)*)?" if n == len(comps) - 1 else "(?:(?!\\.)[^/]+/)*")
            continue
        out = "" if not glob.has_magic(comp) or comp.startswith(".") else "(?!\\.)"
        i = 0
        while i < len(comp):
            c = comp[i]
            if c == "*":
                out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[" and "]" in comp[i + 2 :]:
                j = comp.index("]", i + 2)
                body = comp[i + 1 : j]
                out += "[" + ("^" + body[1:] if body.startswith("!") else body).replace("\\", "\\\\") + "]"
                i = j
            else:
                out += re.escape(c)
            i += 1
        parts.append(out + "/")
    text = "".join(parts)
    return re.compile((text[:-1] if text.endswith("/") else text) + "\\Z")


def _glob(pattern: str) -> list[str]:
    """``glob.glob(recursive=True)``, except that ``**`` walks with :func:`_walk` (symlink loops cannot hang it)."""
    if "**" not in pattern:
        return sorted(glob.glob(pattern, recursive=True))
    while pattern.startswith("./"):
        pattern = pattern[2:]
    comps = pattern.split("/")
    k = next(i for i, c in enumerate(comps) if glob.has_magic(c))
    root = "/".join(comps[:k]) or ("/" if pattern.startswith("/") else ".")
    regex = _glob_regex(pattern)
    found = [str(p) for p in _walk(Path(root)) if regex.match(str(p))]
    return sorted(found)


def _shard_path(p: Path) -> str:
    """The shard's path: resolved, or the link itself in its resolved directory for a dangling or looping symlink."""
    try:
        return str(p.resolve(strict=True))
    except (OSError, RuntimeError):
        return str(Path(os.path.abspath(p)).parent.resolve() / p.name)


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
        magic = glob.has_magic(raw)
        matches = _glob(os.path.expanduser(raw)) if magic else [os.path.expanduser(raw)]
        if not matches:
            raise InputError(f"input glob {raw!r} matched no files: check the pattern and the working directory")
        for m in matches:
            p = Path(m)
            if not p.exists():
                if magic and p.is_symlink():  # a dangling or looping link a glob found: its reader quarantines it
                    ff = fmt if fmt != "auto" else detect_format(p.name)
                    if ff:
                        shards[_shard_path(p)] = Shard(_shard_path(p), ff)
                    continue
                raise InputError(
                    f"input path {m!r} does not exist: check the path (relative paths are resolved from {os.getcwd()})"
                )
            if not os.access(p, os.R_OK):
                raise InputError(f"input path {m!r} is not readable: fix its permissions")
            if p.is_dir():
                if _is_hf_dataset_dir(p):
                    shards[str(p.resolve())] = Shard(str(p.resolve()), "hf")
                    continue
                for f in _walk(p):
                    if f.name.startswith((".", "_")) or f.is_dir():
                        continue
                    if f.is_file() or f.is_symlink():  # a broken link is kept: quarantined as unreadable
                        ff = fmt if fmt != "auto" else detect_format(f.name)
                        if ff:
                            shards[_shard_path(f)] = Shard(_shard_path(f), ff)
            else:
                ff = fmt if fmt != "auto" else detect_format(p.name)
                if ff is None:
                    raise InputError(
                        f"cannot tell the format of {m!r} from its name: "
                        "set `input.format` (jsonl, parquet, hf, warc, wet)"
                    )
                shards[str(p.resolve())] = Shard(str(p.resolve()), ff)
    if not shards:
        raise InputError(
            f"no readable input shards under {paths}: "
            "expected .jsonl[.gz|.zst], .parquet, WARC/WET or a datasets directory"
        )
    return sorted(shards.values(), key=lambda s: s.path)
