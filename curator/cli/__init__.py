"""The `curator` command line (typer): one sub-module per command group, assembled here."""
import typer

app = typer.Typer(help="edu-curator: build data-optimal pretraining corpora.", no_args_is_help=True)


def main() -> None:
    app()
