"""The fault tests' one way to run the `curator` command: in a fresh interpreter, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys

CURATOR = [sys.executable, "-c", "from pipelines.cli import main; main()"]


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a command run: this one, unbuffered output, plus ``extra``."""
    return dict(os.environ, PYTHONUNBUFFERED="1", **extra)


def curator_argv(*args: object) -> list[str]:
    return [*CURATOR, *map(str, args)]


def run_curator(*args: object, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``curator ARGS...`` to completion; stdout/stderr captured as text."""
    return subprocess.run(curator_argv(*args), capture_output=True, text=True, timeout=timeout, env=env or cli_env())
