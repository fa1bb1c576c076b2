"""Do two runs give the same test scores? (refactoring check: same command before and after a change)

    python benchmarks/same_scores.py runs/before runs/after

For every seed folder both runs have: the test figures of each, whether all test scores are equal,
and how many predicted posts have the same entities and triples (and how many are byte-identical,
confidences to 6 decimals included).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kecpm.data.schema import Post


def _unscored(line: str) -> tuple:
    """A predicted post's entities and triples without their confidences."""
    p = Post.from_dict(json.loads(line))
    return tuple(p.entities), tuple(p.triples)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a", type=Path)
    ap.add_argument("b", type=Path)
    args = ap.parse_args()
    seeds = sorted({p.parent.name for p in args.a.glob("seed*/results.json")}
                   & {p.parent.name for p in args.b.glob("seed*/results.json")})
    if not seeds:
        raise SystemExit("no seed folder with results.json in both runs")
    for s in seeds:
        ra, rb = (json.loads((r / s / "results.json").read_text()) for r in (args.a, args.b))
        pa, pb = ((r / s / "predictions.jsonl").read_text().splitlines() for r in (args.a, args.b))
        figs = " | ".join(f"{m} {100 * ra['test'][m]:.2f} / {100 * rb['test'][m]:.2f}" for m in sorted(ra["test"]))
        same = ra["test_scores"] == rb["test_scores"]
        identical = sum(x == y for x, y in zip(pa, pb, strict=False))
        same_sets = sum(_unscored(x) == _unscored(y) for x, y in zip(pa, pb, strict=False))
        print(f"{s}: {figs}; all test scores equal: {same}; posts with the same entities and triples "
              f"{same_sets} of {len(pa)} (byte-identical, confidences included: {identical})")


if __name__ == "__main__":
    main()
