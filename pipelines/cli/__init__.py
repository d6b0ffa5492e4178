"""The `curator` command line (typer): one sub-module per command group, assembled here.

The app lives in :mod:`pipelines.cli.root`; importing a command module registers its commands on it.
"""

# Command modules register themselves on `app` when imported (this order is the order of `curator --help`).
from pipelines.cli import build, serve, teacher, classify, inspect  # noqa: F401,I001
from pipelines.cli.root import app, main

__all__ = ["app", "main"]
