"""Per-seed ``results.json`` files -> a summary CSV and table of mean ± std over seeds."""

from __future__ import annotations

import csv
import json
import statistics
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from rich.table import Table

from kecpm.data.jsonl import atomic_write

METRICS = ("entity_f1", "rel_strict_f1", "rel_boundary_f1", "macro_f1")
# What may select the best epoch and the thresholds on val: the table's figures, and the mean of entity and
# rel-strict F1 (a val score less noisy than rel-strict alone on a few dozen val posts).
SELECTION_METRICS = (*METRICS, "entity_rel_f1")
# The libraries whose versions can change a run's numbers (recorded in every results.json; they are not all pinned).
VERSIONED = ("kecpm", "torch", "transformers", "tokenizers", "numpy")
LABELS = {"entity_f1": "entity F1", "rel_strict_f1": "rel-strict F1", "rel_boundary_f1": "rel-boundary F1",
          "macro_f1": "macro F1"}


def summary(scores: Any) -> dict[str, float]:
    """The headline figures of a ``kecpm.evaluate.Scores`` (F1 in [0, 1]), keyed by SELECTION_METRICS."""
    return {"entity_f1": scores.entity.f1, "rel_strict_f1": scores.rel_strict.f1,
            "rel_boundary_f1": scores.rel_boundary.f1, "macro_f1": scores.macro_f1,
            "entity_rel_f1": (scores.entity.f1 + scores.rel_strict.f1) / 2}


@cache
def library_versions() -> dict[str, str | None]:
    """The installed version of each ``VERSIONED`` library (None when it is not installed)."""
    def version(name: str) -> str | None:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None
    return {name: version(name) for name in VERSIONED}


def write_results(path: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """Write ``record`` as ``path`` (atomically), with the ``library_versions`` it was made with added when absent:
    the same command on another install may give other numbers (docs/benchmarks.md, session 22). Returns what it
    wrote, which a finished run read back returns too."""
    written = {"versions": library_versions(), **record}
    with atomic_write(path) as fh:
        json.dump(written, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return written


def collect(run_dir: str | Path) -> list[dict[str, Any]]:
    """The ``results.json`` of every ``seed*/`` folder of a run, by seed."""
    rows = []
    for f in sorted(Path(run_dir).glob("seed*/results.json")):
        rows.append(json.loads(f.read_text(encoding="utf-8")))
    return sorted(rows, key=lambda r: r.get("seed", 0))


def aggregate(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """metric -> {mean, std, n} over the rows' ``test`` summaries (F1 in [0, 1]; std 0 for one row)."""
    out = {}
    for m in METRICS:
        vals = [r["test"][m] for r in rows if m in r.get("test", {})]
        if vals:
            out[m] = {"mean": statistics.fmean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                      "n": len(vals)}
    return out


def write_summary(run_dir: str | Path) -> Path:
    """Write ``summary.csv`` (one row per seed, then mean and std rows, F1 in percent) and return its path."""
    run_dir = Path(run_dir)
    rows, agg = collect(run_dir), aggregate(collect(run_dir))
    path = run_dir / "summary.csv"
    with atomic_write(path) as fh:
        w = csv.writer(fh)
        w.writerow(["seed", *METRICS, "best_epoch", "train_seconds"])
        for r in rows:
            w.writerow([r.get("seed"), *[f"{100 * r['test'][m]:.2f}" for m in METRICS],
                        r.get("best_epoch", ""), f"{r.get('train_seconds', 0):.1f}"])
        for stat in ("mean", "std"):
            w.writerow([stat, *[f"{100 * agg[m][stat]:.2f}" if m in agg else "" for m in METRICS], "", ""])
    return path


def summary_table(run_dir: str | Path, title: str | None = None) -> Table:
    """A rich table: one row per seed and a mean ± std row, F1 in percent."""
    rows = collect(run_dir)
    agg = aggregate(rows)
    table = Table(title=title or f"{Path(run_dir).name}: test F1 (%)")
    table.add_column("seed")
    for m in METRICS:
        table.add_column(LABELS[m], justify="right")
    for r in rows:
        table.add_row(str(r.get("seed")), *[f"{100 * r['test'][m]:.1f}" for m in METRICS])
    if agg:
        table.add_row("mean ± std", *[f"{100 * agg[m]['mean']:.1f} ± {100 * agg[m]['std']:.1f}" for m in METRICS],
                      style="bold")
    return table
