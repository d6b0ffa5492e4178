"""The `curator` command line (typer): one sub-module per command group, assembled here."""
import typer

app = typer.Typer(help="edu-curator: build data-optimal pretraining corpora.", no_args_is_help=True, pretty_exceptions_show_locals=False)


@app.callback()
def _root() -> None:
    """edu-curator: heuristics, educational-level classifiers, dedup, decontamination and teacher synthesis on Ray."""


def main() -> None:
    app()


# Command modules register themselves on `app` when imported.
from curator.cli import build  # noqa: E402,F401
from curator.cli import serve  # noqa: E402,F401
from curator.cli import teacher  # noqa: E402,F401
from curator.cli import classify  # noqa: E402,F401
from curator.cli import inspect  # noqa: E402,F401
