"""CLI command: compare (paired bootstrap of two training runs' test scores)."""

from __future__ import annotations

import glob
import json
import logging
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from kecpm.cli.common import friendly_errors, say, stdout

log = logging.getLogger(__name__)
SIDES = ("--a", "--b")

EPILOG = """Examples:

  kecpm compare runs/paper-noknow runs/paper-full                      # B = full vs A = no knowledge

  kecpm compare 'runs/paper-noknow-t*' 'runs/paper-full-t*' -o cmp.json   # quoted globs: pooled training seeds

  kecpm compare --a runs/x-t1 runs/x-t2 --b runs/y-t1 runs/y-t2 --n-boot 20000 --rng-seed 1
"""


def _expand(token: str) -> list[Path]:
    if not glob.has_magic(token):
        return [Path(token)]
    found = sorted(Path(p) for p in glob.glob(token) if Path(p).is_dir())
    if not found:
        raise FileNotFoundError(f"{token}: no run folder matches")
    return found


def split_sides(tokens: list[str]) -> tuple[list[Path], list[Path]]:
    """``RUN_A RUN_B`` (each a folder or a glob) or ``--a RUN... --b RUN...`` -> the runs of A and of B."""
    if not any(t in SIDES or t.startswith(("--a=", "--b=")) for t in tokens):
        if len(tokens) != 2:
            raise ValueError(f"expected two runs RUN_A RUN_B (quote a glob), got {len(tokens)}; "
                             "or give several per side with --a RUN... --b RUN...")
        return _expand(tokens[0]), _expand(tokens[1])
    sides: dict[str, list[Path]] = {"--a": [], "--b": []}
    side = None
    for t in tokens:
        flag, eq, value = t.partition("=")
        if flag in SIDES:
            side = flag
            if eq:
                sides[side] += _expand(value)
        elif t.startswith("-"):
            raise ValueError(f"unknown option {t!r} (see kecpm compare --help)")
        elif side is None:
            raise ValueError(f"{t}: a run before --a/--b; give RUN_A RUN_B, or every run after --a or --b")
        else:
            sides[side] += _expand(t)
    if not sides["--a"] or not sides["--b"]:
        raise ValueError("--a and --b each need at least one run folder")
    return sides["--a"], sides["--b"]


def _row(name: str, e: dict[str, Any], n_boot: int) -> list[str]:
    p = e["p_value"]  # 0 when no resample went against the observed sign: below the resolution 1/n_boot
    return [name, str(e["support"]), f"{e['f1_a']:.2f}", f"{e['f1_b']:.2f}", f"{e['diff']:+.2f}",
            f"[{e['ci_low']:+.2f}, {e['ci_high']:+.2f}]", f"{p:.4f}" if p > 0 else f"<{1 / n_boot:.2g}"]


def run_line(d: dict[str, Any]) -> str:
    """The rel-strict difference over paired seed runs (training varies too), one line."""
    ci = f", 95% t-interval [{d['ci_low']:+.2f}, {d['ci_high']:+.2f}], std {d['std']:.2f}" if d["std"] is not None else ""
    return f"rel-strict B - A by run: mean {d['mean']:+.2f}{ci}; B better in {d['b_better']} of {d['n']} runs"


def result_table(r: dict[str, Any]) -> Table:
    """The headline metrics, then each relation: F1 of A and B, B - A, its 95% interval and p (percent)."""
    table = Table(title=f"B - A, F1 points: {len(r['pairs'])} paired seed runs, {r['n_posts']} test posts, "
                        f"{r['n_boot']} paired bootstrap resamples", title_justify="left",
                  caption=f"{run_line(r['rel_strict_by_run'])}\nA: {' '.join(r['a'])}\nB: {' '.join(r['b'])}",
                  caption_justify="left")
    for col in ("metric", "gold", "A F1", "B F1", "B - A", "95% interval", "p"):
        table.add_column(col, justify="left" if col == "metric" else "right")
    table.add_row(*_row("rel-strict", r["rel_strict"], r["n_boot"]))
    table.add_row(*_row("entity", r["entity"], r["n_boot"]), end_section=True)
    for rel, e in r["per_relation"].items():
        table.add_row(*_row(rel, e, r["n_boot"]))
    return table


@friendly_errors
def compare(
    runs: list[str] | None = typer.Argument(
        None, metavar="RUN_A RUN_B | --a RUN... --b RUN...", show_default=False,
        help="Two training run folders (each holding seed*/predictions.jsonl, results.json, config.json), "
             "each may be a quoted glob pooling several runs; or several runs per side after --a and --b."),
    n_boot: int = typer.Option(10000, "--n-boot", min=100, help="Bootstrap resamples."),
    rng_seed: int = typer.Option(0, "--rng-seed", help="Seed of the resampling (same seed, same interval)."),
    gold_root: Path | None = typer.Option(
        None, "--gold-root", help="Folder holding the split folders (seed<s>/ or seed_<s>/ with test files), when "
                                  "the runs' recorded split_dir (relative to where training ran) does not resolve."),
    out: Path | None = typer.Option(None, "--out", "--output", "-o", help="Also write the comparison as JSON to this file."),
) -> None:
    """Is B better than A? Pair the seed folders of A and B by (data seed, training seed), pool them and run
    the paired bootstrap over test posts: B - A in rel-strict and entity F1 points with a 95% percentile
    interval and a two-sided p-value, and the same per relation (see docs/evaluate.md); under it, rel-strict B - A
    by run: a Student-t interval over the paired seed runs, which varies the training too. The table goes to
    stdout."""
    from kecpm.compare import compare_runs
    from kecpm.data.jsonl import atomic_write

    a, b = split_sides(runs or [])
    result = compare_runs(a, b, n_boot=n_boot, seed=rng_seed, gold_root=gold_root)
    stdout.print(result_table(result))
    if out is not None:
        with atomic_write(out) as fh:
            json.dump(result, fh, indent=2)
            fh.write("\n")
        say(out, "green", "wrote")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("compare", epilog=EPILOG, context_settings={"ignore_unknown_options": True})(compare)
