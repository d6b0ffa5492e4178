"""Durable teacher response cache: a rerun asks the teacher only for what is missing.

One SQLite file (WAL journal, one transaction per batch of results, so a kill loses at most the
batch in flight and never leaves half a row). Two tables:

- ``responses``: successful answers keyed by ``prompt_hash`` (sha256 of messages + model +
  sampling parameters + schema, see :func:`generators.base.compute_prompt_hash`).
- ``failures``: prompts that failed after the client's retries, with the error, the raw text and
  the full request, so a rerun (or :func:`retry_failures`) asks again only for those.

:func:`generate_cached` is the one entry point the annotators and synthesizers use.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
import time
from pathlib import Path

from generators.base import TeacherClient, TeacherRequest, TeacherResult

CACHE_FILE = "teacher_cache.sqlite"

_DDL = """
CREATE TABLE IF NOT EXISTS responses (
    prompt_hash TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    raw TEXT NOT NULL,
    parsed TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (
    prompt_hash TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    error TEXT NOT NULL,
    raw TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    messages TEXT NOT NULL,
    sampling TEXT NOT NULL,
    runs INTEGER NOT NULL DEFAULT 1,
    updated REAL NOT NULL
);
"""


class ResponseCache:
    """SQLite-backed response cache in ``cache_dir`` (created).

    Args:
        cache_dir: directory holding ``teacher_cache.sqlite``.
    """

    def __init__(self, cache_dir: str | Path) -> None:
        self.dir = Path(cache_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / CACHE_FILE
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, timeout=60, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_DDL)
        self._db.commit()

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> "ResponseCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- reads ------------------------------------------------------------------------
    def get_many(self, hashes: list[str]) -> dict[str, TeacherResult]:
        """Cached successful results for those of ``hashes`` that are present."""
        out: dict[str, TeacherResult] = {}
        uniq = list(dict.fromkeys(hashes))
        with self._lock:
            for i in range(0, len(uniq), 500):
                chunk = uniq[i : i + 500]
                q = (
                    "SELECT prompt_hash, raw, parsed, attempts, completion_tokens FROM responses "
                    f"WHERE prompt_hash IN ({','.join('?' * len(chunk))})"
                )
                for h, raw, parsed, attempts, ntok in self._db.execute(q, chunk):
                    out[h] = TeacherResult(
                        h, json.loads(parsed), raw, None, attempts, cached=True, completion_tokens=ntok
                    )
        return out

    def failures(self) -> list[dict]:
        """Recorded failures: prompt_hash, error, raw, attempts, runs, messages, sampling."""
        with self._lock:
            rows = self._db.execute(
                "SELECT prompt_hash, model, error, raw, attempts, runs, messages, sampling "
                "FROM failures ORDER BY prompt_hash"
            ).fetchall()
        keys = ["prompt_hash", "model", "error", "raw", "attempts", "runs", "messages", "sampling"]
        return [dict(zip(keys, r)) for r in rows]

    def count(self) -> dict[str, int]:
        with self._lock:
            n_ok = self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
            n_bad = self._db.execute("SELECT COUNT(*) FROM failures").fetchone()[0]
        return {"responses": n_ok, "failures": n_bad}

    # --- writes -----------------------------------------------------------------------
    def record(self, model: str, pairs: list[tuple[TeacherRequest, TeacherResult]]) -> None:
        """Store successes (clearing any earlier failure) and failures, in one transaction."""
        now = time.time()
        with self._lock, self._db:
            for req, res in pairs:
                if res.ok:
                    self._db.execute(
                        "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?)",
                        (
                            res.prompt_hash,
                            model,
                            res.raw,
                            json.dumps(res.parsed, ensure_ascii=False),
                            res.attempts,
                            res.completion_tokens,
                            now,
                        ),
                    )
                    self._db.execute("DELETE FROM failures WHERE prompt_hash = ?", (res.prompt_hash,))
                else:
                    self._db.execute(
                        "INSERT INTO failures VALUES (?,?,?,?,?,?,?,1,?) ON CONFLICT(prompt_hash) DO UPDATE SET "
                        "error=excluded.error, raw=excluded.raw, attempts=excluded.attempts, runs=failures.runs+1, "
                        "updated=excluded.updated",
                        (
                            res.prompt_hash,
                            model,
                            res.error or "",
                            res.raw or "",
                            res.attempts,
                            json.dumps(req.messages, ensure_ascii=False),
                            req.sampling.to_json(),
                            now,
                        ),
                    )


def generate_cached(
    client: TeacherClient, requests: list[TeacherRequest], cache: ResponseCache | None
) -> tuple[list[TeacherResult], dict[str, int]]:
    """Answer ``requests`` from the cache where possible, asking ``client`` only for the rest.

    Results are written to the cache as the client hands them back
    (:meth:`~generators.base.TeacherClient.generate_iter`: the server client as they finish, an
    engine client after each of its chunks), one transaction per group, so a killed run keeps what
    had come back. Identical requests (same prompt hash) are asked once.

    Returns:
        ``(results in request order, stats)`` with ``requested``, ``cached``, ``generated``,
        ``failed`` counts.
    """
    hashes = [r.prompt_hash(client.model) for r in requests]
    found = cache.get_many(hashes) if cache is not None else {}
    todo: dict[str, TeacherRequest] = {}
    for h, r in zip(hashes, requests):
        if h not in found and h not in todo:
            todo[h] = r
    fresh: dict[str, TeacherResult] = {}
    items = list(todo.items())
    with contextlib.closing(
        client.generate_iter([r for _, r in items])
    ) as groups:  # closed: a failing write stops the client
        for group in groups:
            pairs = []
            for i, res in group:
                h, req = items[i]
                res.prompt_hash = h
                fresh[h] = res
                pairs.append((req, res))
            if cache is not None:
                cache.record(client.model, pairs)
    missing = len(items) - len(fresh)
    if missing:  # a client bug, not a teacher failure: say so rather than KeyError below
        raise RuntimeError(f"{type(client).__name__}.generate_iter returned {len(fresh)} of {len(items)} results")
    out = [found.get(h) or fresh[h] for h in hashes]
    stats = {
        "requested": len(requests),
        "cached": sum(1 for h in hashes if h in found),
        "generated": sum(1 for r in fresh.values() if r.ok),
        "failed": sum(1 for r in fresh.values() if not r.ok),
    }
    return out, stats
