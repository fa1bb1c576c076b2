"""Record a headline figure in benchmarks/headline.json from finished runs (measured, never typed in).

    python benchmarks/headline.py paper.rel_strict rel_strict_f1 runs/bench-v3/paper-warm-shapes-t1 \\
        runs/bench-v3/paper-warm-shapes-t2 --command "python benchmarks/train_fewshot.py ..."
    # runs trained with --unlabelled: the scores before the prior shift; relation accuracy with gold entities
    python benchmarks/headline.py k5.rel_acc_gold_entities rel_acc_gold_entities runs/... --source test_before_adapt
    # a difference with its bootstrap interval, from `kecpm compare ... --out FILE`
    python benchmarks/headline.py knowledge.gain_paper --compare FILE --command "kecpm compare ..."

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


def value(row: dict, metric: str, source: str, test_key: str = "") -> float:
    """A run's figure (a fraction): ``metric`` of its ``source`` scores (or of one data set's)."""
    scores = row["test_by_dataset"][test_key] if test_key else row[source]
    if metric == "rel_acc_gold_entities" and source == "test":
        return row["rel_acc_gold_entities"]
    return scores[metric]


def compare_entry(cmp: dict) -> dict:
    """The rel-strict difference B - A of a `kecpm compare` JSON, with its 95% interval and p-value."""
    rs = cmp["rel_strict"]
    return {"value": round(rs["diff"], 2), "ci_low": round(rs["ci_low"], 2), "ci_high": round(rs["ci_high"], 2),
            "p": rs["p_value"], "unit": "rel-strict F1 points", "n_runs": len(cmp.get("pairs", [])),
            "n_posts": cmp.get("n_posts"),
            **({"by_run": {k: (round(v, 2) if isinstance(v, float) else v) for k, v in cmp["rel_strict_by_run"].items()}}
               if "rel_strict_by_run" in cmp else {})}


def record(key: str, entry: dict) -> None:
    data = json.loads(HEADLINE.read_text()) if HEADLINE.exists() else {}
    data[key] = entry
    with atomic_write(HEADLINE) as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
        fh.write("\n")


def stamp(command: str, name: str = "", note: str = "") -> dict:
    """The provenance every entry carries: the command, the current commit, today's date (and a name, a note)."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    return {"command": command, "commit": commit, "date": datetime.date.today().isoformat(),
            **({"name": name} if name else {}), **({"note": note} if note else {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("key", help="e.g. paper.rel_strict")
    ap.add_argument("metric", nargs="?", choices=[*METRICS, "rel_acc_gold_entities"])
    ap.add_argument("runs", nargs="*", type=Path)
    ap.add_argument("--command", required=True, help="the command that made the runs")
    ap.add_argument("--test-key", default="", help="read results.json's test_by_dataset[KEY] instead of test")
    ap.add_argument("--source", default="test", choices=("test", "test_before_adapt"),
                    help="which scores of results.json (test_before_adapt: before the prior shift)")
    ap.add_argument("--compare", type=Path, help="a `kecpm compare --out` JSON: record its rel-strict difference")
    ap.add_argument("--name", default="", help="a name stored with the figure (e.g. the winning variant)")
    ap.add_argument("--note", default="", help="a line stored with the figure (e.g. what it replaces and why)")
    args = ap.parse_args()
    common = stamp(args.command, args.name, args.note)
    if args.compare:
        entry = {**compare_entry(json.loads(args.compare.read_text())), **common}
        record(args.key, entry)
        print(f"{args.key}: {entry['value']:+.1f} [{entry['ci_low']:+.1f}, {entry['ci_high']:+.1f}] (p {entry['p']:.4f})")
        return
    rows = [r for run in args.runs for r in collect(run)]
    if not rows or not args.metric:
        raise SystemExit(f"no results.json under {', '.join(map(str, args.runs))} (or no metric)")
    vals = [100 * value(r, args.metric, args.source, args.test_key) for r in rows]
    unit = "% of gold triples" if args.metric == "rel_acc_gold_entities" else "F1 %"
    entry = {"value": round(statistics.fmean(vals), 2), "std": round(statistics.stdev(vals), 2) if len(vals) > 1 else 0.0,
             "n_runs": len(vals), "unit": unit, **common, "source": args.source,
             "runs": sorted(f"{run}/seed{r['seed']} (train seed {r.get('train_seed')})" for run in args.runs
                            for r in collect(run))}
    record(args.key, entry)
    print(f"{args.key}: {entry['value']:.1f} ± {entry['std']:.1f} {entry['unit']} over {len(vals)} runs")


if __name__ == "__main__":
    main()
