"""The four rows of #10 from runs trained with ``--unlabelled FILE --self-train N``: plain, prior
correction, self-training, both (mean ± std over every seed and training seed of the runs given).

    python benchmarks/adapt_table.py runs/bench-v5st/ours-warm-shapes-mentions-t1 runs/bench-v5st/ours-warm-shapes-mentions-t2

Each results.json holds them all: ``test_before_adapt`` (the plain model), ``test_round0`` (the plain
model with the prior shift), ``self_train[-1].test_before_adapt`` (after the last self-training round,
no shift; the plain model's when the round kept no pseudo-labelled post) and ``test`` (after it,
with the shift).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from kecpm.results import collect


def self_trained(r: dict) -> dict:
    """The last trained round's scores without the shift (the plain model's when no round kept a post)."""
    done = [x for x in r["self_train"] if "test_before_adapt" in x]
    return done[-1]["test_before_adapt"] if done else r["test_before_adapt"]


ROWS = {"plain": lambda r: r["test_before_adapt"], "prior correction": lambda r: r["test_round0"],
        "self-training": self_trained, "both": lambda r: r["test"]}
METRICS = ("rel_strict_f1", "entity_f1", "macro_f1")


def cell(vals: list[float]) -> str:
    return f"{100 * statistics.fmean(vals):.1f} ± {100 * (statistics.stdev(vals) if len(vals) > 1 else 0):.1f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    args = ap.parse_args()
    rows = [r for run in args.runs for r in collect(run) if r.get("self_train")]
    if not rows:
        raise SystemExit("no results.json with self_train under the runs given")
    print(f"{len(rows)} runs (seeds {', '.join(sorted({str(r['seed']) for r in rows}))})\n")
    print("| variant | rel-strict F1 | entity F1 | macro F1 |\n|---|---|---|---|")
    for name, get in ROWS.items():
        print(f"| {name} | " + " | ".join(cell([get(r)[m] for r in rows]) for m in METRICS) + " |")
    acc = [r["rel_acc_gold_entities"] for r in rows if r.get("rel_acc_gold_entities") is not None]
    if acc:
        print(f"\nrelation accuracy with gold entities (plain model, after the prior shift): {cell(acc)} %")


if __name__ == "__main__":
    main()
