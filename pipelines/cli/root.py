"""The root typer app of the `curator` command: the command modules of :mod:`pipelines.cli` register on it."""

import typer

app = typer.Typer(
    help="edu-curator: build data-optimal pretraining corpora.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _root() -> None:
    """edu-curator: heuristics, educational-level classifiers, dedup, decontamination and teacher synthesis on Ray."""


def main() -> None:
    app()
