"""CLI command: report (plots and a markdown summary of a training run)."""

from __future__ import annotations

from pathlib import Path

import typer

from kecpm.cli.common import friendly_errors, say, stdout


@friendly_errors
def report(
    run: Path = typer.Argument(..., help="A training run folder: <out>/<name> of `kecpm train`, holding "
                                         "seed*/results.json, predictions.jsonl and config.json."),
    out: Path | None = typer.Option(None, "--out", "--output", "-o", help="Folder to write the report into (default: RUN)."),
    splits_dir: Path | None = typer.Option(
        None, "--splits-dir", help="Folder holding the seeds' split folders, for the gold test files when "
                                   "config.json's run.split_dir (relative to where training ran) does not resolve "
                                   "from here."),
) -> None:
    """Write per_relation_f1.png, confusion.png, learning_curves.png and report.md for a training run,
    and print its mean ± std table (percent) on stdout.

    Examples:

      kecpm report runs/mnre-K5                          # writes into runs/mnre-K5/

      kecpm report runs/mnre-K5 -o /tmp/mnre-report   # the run folder untouched
    """
    from kecpm.report import write_report
    from kecpm.results import summary_table

    written = write_report(run, out, splits_dir)
    stdout.print(summary_table(run))
    for path in written.values():
        say(path, "green", "wrote")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("report")(report)
