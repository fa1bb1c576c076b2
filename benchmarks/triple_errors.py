"""Where a pipeline's triples go wrong: each gold triple and each predicted one by what its entities are, pooled over
the seed folders of the given runs, and how many spurious entities the post's knowledge names.

- a gold triple is right, or has both entities right (relation or direction wrong, or no triple between them), or
  one entity wrong or missing, or both;
- a predicted triple that is not gold has both entities gold, or one, or none (an entity is right with its span and
  type, as rel-strict counts it);
- a spurious entity overlaps no gold entity; "named in the knowledge" is the mention match of
  ``kecpm.model.mentions`` on the sentences the model reads (filtered).

    python benchmarks/triple_errors.py runs/bench-v16/paper-warm-shapes-noknow-min1-pipe-win3-t{1,2} \\
        --vs runs/bench-v20/paper-warm-shapes-mentions-min1-pipe-pairsent-entinline-win3-t{1,2}
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from redecode import test_posts

from kecpm.compare import seed_runs
from kecpm.data.errors import DataError
from kecpm.data.jsonl import read_json
from kecpm.data.readers import read_posts
from kecpm.data.schema import Entity, Post
from kecpm.model.layout import relevant_sentences
from kecpm.model.mentions import normalise


def _key(e: Entity) -> tuple[int, int, str]:
    return e.start, e.end, e.type


def post_counts(gold: Post, pred: Post) -> Counter:
    c: Counter = Counter()
    gold = gold.with_entities_from_triples()
    found = {_key(e) for e in pred.entities}
    predicted = {(_key(t.head), t.relation, _key(t.tail)) for t in pred.triples}
    for t in gold.triples:
        h, r = _key(t.head) in found, _key(t.tail) in found
        c["gold: right" if (_key(t.head), t.relation, _key(t.tail)) in predicted else
          "gold: both entities right" if h and r else "gold: one entity wrong" if h or r else "gold: both wrong"] += 1
    entities = {_key(e) for e in gold.entities}
    for h, _, t in predicted - {(_key(x.head), x.relation, _key(x.tail)) for x in gold.triples}:
        c[f"predicted, not gold: gold entities {int(h in entities) + int(t in entities)} of 2"] += 1
    know = normalise(" ".join(relevant_sentences(gold.knowledge or [], gold.tokens)))
    for e in pred.entities:
        if not any(g.start < e.end and e.start < g.end for g in gold.entities):
            c["spurious entities"] += 1
            c["spurious entities named in the knowledge"] += normalise(gold.span_text(e.start, e.end)) in know
    return c


def run_counts(runs: list[Path]) -> Counter:
    total: Counter = Counter()
    for run in runs:
        for seed in seed_runs(run):
            gold = {p.id: p for p in test_posts(read_json(seed.dir / "results.json"), use_knowledge=True)}
            for pred in read_posts(seed.dir / "predictions.jsonl"):
                total += post_counts(gold[pred.id], pred)
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="finished runs (pooled)")
    ap.add_argument("--vs", nargs="*", type=Path, default=[], help="other runs (pooled), printed beside them")
    args = ap.parse_args()
    try:
        a, b = run_counts(args.runs), run_counts(args.vs) if args.vs else None
    except (DataError, FileNotFoundError) as e:
        ap.error(str(e))
    for key in sorted(set(a) | set(b or {})):
        print(f"{key:45s} {a[key]:7d}" + (f" {b[key]:7d} ({b[key] - a[key]:+d})" if b is not None else ""))


if __name__ == "__main__":
    main()
