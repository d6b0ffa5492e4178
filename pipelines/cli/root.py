"""The root typer app of the `curator` command: the command modules of :mod:`pipelines.cli` register on it."""

import os
import sys

import typer

app = typer.Typer(
    help="edu-curator: build data-optimal pretraining corpora.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """edu-curator: heuristics, educational-level classifiers, dedup, decontamination and teacher synthesis on Ray."""


_exit_without_teardown = False


def exit_without_teardown() -> None:
    """Let :func:`main` end the process with ``os._exit`` once the command has returned successfully.

    For a command whose output is durable (atomic, fsynced writes) and that left nothing behind to clean up (no Ray,
    no engine, no temporary files): the interpreter's own teardown (Ray's and gRPC's C++ finalizers among others)
    took ~1 s after a build on 2 cores and does nothing the user needs.
    """
    global _exit_without_teardown
    _exit_without_teardown = True


def main() -> None:
    try:
        app()
    except SystemExit as exc:
        if _exit_without_teardown and exc.code in (0, None):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        raise
