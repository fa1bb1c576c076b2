"""How much knowledge the stage-2 filter keeps: sentences sharing a content word with the post text.

    python benchmarks/knowledge_filter.py ../shared/data/fs-jmere fewshot_splits/mnre/K5 --seed 17

Prints, per split folder, the test posts' knowledge sentences, how many the filter keeps, and how
many posts lose all their knowledge.
"""

from __future__ import annotations

import argparse

from kecpm.data.folders import find_seed_splits
from kecpm.knowledge import attach_knowledge as attach
from kecpm.knowledge import load_knowledge
from kecpm.model.layout import relevant_sentences


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("roots", nargs="+", help="split folders with seed<s>/ or seed_<s>/ and knowledge")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--part", default="test")
    args = ap.parse_args()
    print("| split folder | posts | sentences | kept | kept % | posts losing all |")
    print("|---|---|---|---|---|---|")
    for root in args.roots:
        [sp] = find_seed_splits(root, [args.seed])
        posts = attach(sp.read(args.part), load_knowledge(sp.knowledge) if sp.knowledge else None)
        total = kept = lost = 0
        for p in posts:
            k = p.knowledge or []
            r = relevant_sentences(k, p.tokens)
            total, kept, lost = total + len(k), kept + len(r), lost + (bool(k) and not r)
        print(f"| {root} | {len(posts)} | {total} | {kept} | {100 * kept / max(total, 1):.0f} | {lost} |")


if __name__ == "__main__":
    main()
