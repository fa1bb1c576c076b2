"""The ``kecpm`` command line: one typer app, one command per stage."""

from __future__ import annotations

import logging

import typer

from kecpm import __version__
from kecpm.cli import (
    compare_cmds,
    data_cmds,
    knowledge_cmds,
    options_cmds,
    predict_cmds,
    report_cmds,
    train_cmds,
)
from kecpm.cli.common import setup_logging
from kecpm.progress import quiet_transformers

EPILOG = """Examples:

  kecpm build-splits --k 5 && kecpm import-knowledge fewshot_splits/mnre/K5/seed17

  kecpm train --shots 5 --seeds 17 && kecpm report runs/mnre-K5

  echo "Elon Musk visits Berlin" | kecpm predict runs/mnre-K5/seed17/model

  kecpm COMMAND --help   # each command's options and examples
"""

app = typer.Typer(
    name="kecpm",
    help="Few-shot joint multimodal entity-relation extraction (JMERE) with knowledge-enhanced prompts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kecpm {__version__}")
        raise typer.Exit()


@app.callback(epilog=EPILOG)
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    setup_logging(logging.DEBUG if verbose else logging.INFO)
    quiet_transformers()


data_cmds.register(app)
knowledge_cmds.register(app)
train_cmds.register(app)
predict_cmds.register(app)
options_cmds.register(app)
report_cmds.register(app)
compare_cmds.register(app)


def main() -> None:
    app()
