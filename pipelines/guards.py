"""What protects a build at its edges: one build per output directory, clean stops, one-line disk errors.

* :func:`output_lock`: an exclusive ``fcntl.flock`` on ``OUT/.lock`` for the whole build (the OS drops it
  when the process dies, however it dies); a second build into the same directory is refused with the
  holder's pid before it reads or deletes anything, so ``--overwrite`` never removes a live build's output.
* :func:`remove_stale_temp_dirs`: temp directories of steps killed before their commit
  (``.<name>.tmp-*``) are removed on resume, under the lock, so nothing lists or counts them.
* :func:`stop_on_signals`: SIGTERM/SIGINT raise :class:`~curator.exceptions.BuildStopped` in the driver;
  every step commits atomically, so what was committed is kept and a rerun resumes.
* :func:`plain_errors`: a :class:`~curator.exceptions.CuratorError` raised inside a Ray task reaches the
  caller as itself (not Ray's wrapper with the remote traceback), and a full disk anywhere becomes one
  :class:`~curator.exceptions.OutputError` naming the path and the free space.
"""

from __future__ import annotations

import errno
import fcntl
import os
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from curator.exceptions import BuildStopped, CuratorError, OutputError

LOCK_NAME = ".lock"
_FULL = (errno.ENOSPC, errno.EDQUOT)
_WRITING = re.compile(r"cannot write (\S+?): ")  # curator.writers' OutputError message


@contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.lock`` exclusively while the block runs.

    Raises:
        OutputError: another live process holds it (the message names its pid).
    """
    path = Path(out) / LOCK_NAME
    fh = open(path, "a+")
    try:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            raise OutputError(
                f"{out} is in use by another build (pid {holder}); "
                "wait for it to finish or stop it, or choose another --out"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"{os.getpid()}\n")
        fh.flush()
        yield
    finally:
        fh.close()  # closing the file releases the lock


def remove_stale_temp_dirs(out: Path) -> list[Path]:
    """Remove ``.<name>.tmp-*`` directories a killed build left in OUT, OUT/rejected, OUT/_work and its step dirs.

    Call only while holding :func:`output_lock` (no live build is writing them). Returns what was removed.
    """
    out = Path(out)
    parents = [out, out / "rejected", out / "_work"]
    work = out / "_work"
    if work.is_dir():
        parents += [d for d in work.iterdir() if d.is_dir() and not d.name.startswith(".")]
    removed = []
    for parent in parents:
        if not parent.is_dir():
            continue
        for d in parent.glob(".*.tmp-*"):
            if d.is_dir() and not d.is_symlink():
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d)
    return removed


def _raise_stopped(signum, frame) -> None:
    raise BuildStopped(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGINT raise :class:`BuildStopped` (main thread only; call again after ``ray.init``,
    which installs its own SIGTERM handler)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _raise_stopped)
        signal.signal(signal.SIGINT, _raise_stopped)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGTERM/SIGINT into :class:`BuildStopped` while the block runs; restore the old handlers after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    install_signal_handlers()
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def _full_disk(exc: BaseException) -> OSError | None:
    """The ENOSPC/EDQUOT OSError in ``exc``'s chain (causes, Ray's ``cause``), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in _FULL:
            return exc
        message = str(exc.args[0]) if exc.args else ""
        if "No space left on device" in message and not hasattr(exc, "cause"):  # e.g. an OutputError pickled by Ray
            where = _WRITING.search(message)
            return OSError(errno.ENOSPC, message, where.group(1) if where else None)
        exc = getattr(exc, "cause", None) or exc.__cause__ or exc.__context__
    return None


def _input_bytes(paths: list[str]) -> int:
    total = 0
    for p in paths:
        for f in Path(p).rglob("*") if Path(p).is_dir() else [Path(p)]:
            try:
                total += f.stat().st_size if f.is_file() else 0
            except OSError:
                pass
    return total


@contextmanager
def plain_errors(out: Path, input_paths: list[str]) -> Iterator[None]:
    """Unwrap CuratorErrors raised in Ray tasks; make a full disk one OutputError naming path and space."""
    try:
        yield
    except BuildStopped:
        raise
    except Exception as exc:
        full = _full_disk(exc)
        if full is not None:
            where = full.filename or out
            free = shutil.disk_usage(out).free if Path(out).exists() else 0
            need = 2 * _input_bytes(input_paths)
            raise OutputError(
                f"disk full writing {where}: {free // 2**20} MiB free under {out}, "
                "a build needs roughly twice its input "
                f"({need // 2**20} MiB); free space (or choose another --out) and rerun the same command to resume"
            ) from None
        cause = getattr(exc, "cause", None)  # ray.exceptions.RayTaskError: the task's own exception
        if isinstance(exc, CuratorError) and isinstance(cause, CuratorError):
            raise cause from None
        raise
