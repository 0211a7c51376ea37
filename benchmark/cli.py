"""The ``emobench`` command line."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from benchmark import __version__

app = typer.Typer(help="emobench: benchmark speech emotion representations (SER and emotional TTS).",
                  no_args_is_help=True, add_completion=False)
corpus_app = typer.Typer(help="Build and inspect corpora.", no_args_is_help=True)
app.add_typer(corpus_app, name="corpus")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"emobench {__version__}")
        raise typer.Exit()


@app.callback()
def main(version: Optional[bool] = typer.Option(None, "--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.")) -> None:
    """emobench command line."""


if __name__ == "__main__":
    app()
