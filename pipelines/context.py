"""What every build step receives: the config, the output directory, resume state, logging.

:class:`BuildContext` also names the directories a step owns, derived from its name:
``OUT/_work/<step>/`` (its committed output), ``OUT/_work/<step>_work/`` (scratch, e.g. dedup
cluster maps) and ``OUT/rejected/<step>/`` (the rows it dropped, ``drop_stage=<step>``).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curator.settings import BuildConfig
from pipelines.state import BuildState

Log = Callable[[str], None]


@dataclass
class BuildContext:
    """One build run: config, ``OUT``, its :class:`~pipelines.state.BuildState`, config hash, log."""

    config: BuildConfig
    out: Path
    state: BuildState
    chash: str
    progress: bool = True
    log: Log = print
    steps: list[Any] = field(default_factory=list)  # the enabled steps of this build, in order
    task_cpu_s: float = 0.0  # CPU seconds measured inside the Ray tasks run so far (pipelines.cost)

    @property
    def work(self) -> Path:
        return self.out / "_work"

    @property
    def local(self) -> bool:
        """``ray.executor: local``: every step runs in this process (same stages, no Ray)."""
        return self.config.ray.executor == "local"

    def step_dir(self, name: str) -> Path:
        """``OUT/_work/<name>/``: the committed output of step ``name``."""
        return self.work / name

    def scratch_dir(self, name: str) -> Path:
        """``OUT/_work/<name>_work/``: intermediate files of step ``name`` (rewritten on a rerun)."""
        return self.work / f"{name}_work"

    def rejected_dir(self, name: str) -> Path:
        """``OUT/rejected/<name>/``: rows dropped by step ``name``."""
        return self.out / "rejected" / name


def fault_point(name: str) -> None:
    """Fault injection for the resume tests: ``EDU_CURATOR_FAULT_KILL=<name>`` SIGKILLs the build here.

    Points: ``<step>:start``, ``<step>:committed`` (output committed, state not yet recorded),
    ``ingest:shard`` (after each shard, local executor), ``row_pass:file`` (after each file of the fused row
    pass, local executor) and ``<step>:file`` (after each file a corpus step's file pass split, Ray). Unset in
    normal runs.
    ``EDU_CURATOR_FAULT_PAUSE=<name>`` sleeps there instead (a test signals the build while it waits).
    """
    if os.environ.get("EDU_CURATOR_FAULT_KILL") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("EDU_CURATOR_FAULT_PAUSE") == name:
        print(f"fault point {name}: paused", file=sys.stderr, flush=True)
        time.sleep(120)
