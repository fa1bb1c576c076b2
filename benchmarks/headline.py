"""Record a headline figure in benchmarks/headline.json from finished runs (measured, never typed in).

    python benchmarks/headline.py paper.rel_strict rel_strict_f1 runs/bench-v3/paper-warm-shapes-t1 \\
        runs/bench-v3/paper-warm-shapes-t2 --command "python benchmarks/train_fewshot.py ..."

The value is the mean (and std) over every seed's results.json of the given runs, in percent; the
entry also holds the command that made the runs, the current commit and today's date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
from pathlib import Path

from kecpm.data.jsonl import atomic_write
from kecpm.results import METRICS, collect

HEADLINE = Path(__file__).with_name("headline.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("key", help="e.g. paper.rel_strict")
    ap.add_argument("metric", choices=METRICS)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--command", required=True, help="the command that made the runs")
    ap.add_argument("--test-key", default="", help="read results.json's test_by_dataset[KEY] instead of test")
    args = ap.parse_args()
    rows = [r for run in args.runs for r in collect(run)]
    if not rows:
        raise SystemExit(f"no results.json under {', '.join(map(str, args.runs))}")
    vals = [100 * (r["test_by_dataset"][args.test_key] if args.test_key else r["test"])[args.metric] for r in rows]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    entry = {"value": round(statistics.fmean(vals), 2), "std": round(statistics.stdev(vals), 2) if len(vals) > 1 else 0.0,
             "n_runs": len(vals), "unit": "F1 %", "command": args.command, "commit": commit,
             "date": datetime.date.today().isoformat(),
             "runs": sorted(f"{run}/seed{r['seed']} (train seed {r.get('train_seed')})" for run in args.runs
                            for r in collect(run))}
    data = json.loads(HEADLINE.read_text()) if HEADLINE.exists() else {}
    data[args.key] = entry
    with atomic_write(HEADLINE) as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")
    print(f"{args.key}: {entry['value']:.1f} ± {entry['std']:.1f} {entry['unit']} over {len(vals)} runs")


if __name__ == "__main__":
    main()
