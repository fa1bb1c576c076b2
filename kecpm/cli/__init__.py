"""The ``kecpm`` command line: one typer app, one command per stage."""

from __future__ import annotations

import logging

import typer

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

app = typer.Typer(
    name="kecpm",
    help="Few-shot joint multimodal entity-relation extraction (JMERE) with knowledge-enhanced prompts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages.")) -> None:
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
