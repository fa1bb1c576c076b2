"""How right the pseudo-labels of self-training were: for every ``round<r>/pseudo.jsonl`` of the given
runs, the posts and triples kept and their precision against the hidden gold of the unlabelled file
(benchmark only: training never reads those labels, see kecpm/train/adapt.py).

    python benchmarks/selftrain_precision.py runs/bench-v5st/ours-warm-shapes-mentions-t1 \\
        --gold ../shared/data/mnre/mnre_train.txt

Triples match strictly (both spans, both types, the relation); entities by span and type.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from kecpm.data.jsonl import read_jsonl
from kecpm.data.readers import read_posts
from kecpm.data.schema import Post


def keys(post: Post) -> tuple[set, set]:
    trip = {(t.head.start, t.head.end, t.head.type, t.relation, t.tail.start, t.tail.end, t.tail.type)
            for t in post.triples}
    ents = {(e.start, e.end, e.type) for e in post.with_entities_from_triples().entities}
    return trip, ents


def round_figures(pseudo: list[Post], gold: dict[str, Post]) -> dict[str, float]:
    kept_t = right_t = kept_e = right_e = 0
    for p in pseudo:
        pt, pe = keys(p)
        gt, ge = keys(gold[p.id]) if p.id in gold else (set(), set())
        kept_t, right_t = kept_t + len(pt), right_t + len(pt & gt)
        kept_e, right_e = kept_e + len(pe), right_e + len(pe & ge)
    return {"posts": len(pseudo), "triples": kept_t, "triple_precision": 100 * right_t / max(kept_t, 1),
            "entity_precision": 100 * right_e / max(kept_e, 1),
            "posts_found": 100 * sum(p.id in gold for p in pseudo) / max(len(pseudo), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--gold", type=Path, default=Path("../shared/data/mnre/mnre_train.txt"))
    args = ap.parse_args()
    gold = {p.id: p for p in read_posts(args.gold)}
    rows = []
    print("| run | seed | round | posts | triples | triple precision % | entity precision % |\n|---|---|---|---|---|---|---|")
    for run in args.runs:
        for f in sorted(run.glob("seed*/round*/pseudo.jsonl")):
            r = round_figures(list(read_jsonl(f)), gold)
            rows.append(r)
            print(f"| {run.name} | {f.parts[-3]} | {f.parts[-2]} | {r['posts']} | {r['triples']} | "
                  f"{r['triple_precision']:.1f} | {r['entity_precision']:.1f} |")
    rows = [r for r in rows if r["posts"]]  # rounds that kept nothing have no precision
    if rows:
        tp = [r["triple_precision"] for r in rows]
        ep = [r["entity_precision"] for r in rows]
        print(f"\nmean over the {len(rows)} rounds that kept posts: triple precision {statistics.fmean(tp):.1f} ± "
              f"{statistics.pstdev(tp):.1f} %, entity precision {statistics.fmean(ep):.1f} %, "
              f"posts matched to gold {statistics.fmean(r['posts_found'] for r in rows):.0f} %")


if __name__ == "__main__":
    main()
