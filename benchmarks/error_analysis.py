"""Where a trained model loses triples: entity vs relation errors, and the relation confusions.

    python benchmarks/error_analysis.py runs/bench-v2/ours-full/seed17 --split fewshot_splits/mnre/K5/seed17

Reads ``<run>/model`` and ``<run>/predictions.jsonl``, scores them against the split's test posts
(with the knowledge the run used), then classifies every gold test triple's pair with the gold
entities given (so entity errors are out of the way) and prints the accuracy and top confusions.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import torch

from kecpm.data.folders import find_seed_splits
from kecpm.data.readers import read_posts
from kecpm.evaluate import score
from kecpm.knowledge import attach_knowledge as attach
from kecpm.knowledge import load_knowledge
from kecpm.model.model import PromptModel


def relation_confusions(model: PromptModel, posts: list) -> collections.Counter:
    """(gold relation, predicted relation) counts over gold triples, gold entities and direction given."""
    rel = model.heads["relation"]
    conf: collections.Counter = collections.Counter()
    for view in model.encode_posts(posts):
        ents = rel.gold_entities(view)
        ix = {(e.start, e.end): i for i, e in enumerate(ents.entities)}
        gold = [(ix[(t.head.start, t.head.end)], ix[(t.tail.start, t.tail.end)], t.relation)
                for t in view.post.triples if (t.head.start, t.head.end) in ix and (t.tail.start, t.tail.end) in ix]
        if not gold:
            continue
        pairs = torch.tensor([(h, t) for h, t, _ in gold])
        with torch.no_grad():
            logits = rel(view.words, ents, pairs, view.side, view.keys)
        for (_, _, name), row in zip(gold, logits, strict=True):
            conf[(name, model.config.relations[int(row[1:].argmax())])] += 1
    return conf


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="a seed folder of `kecpm train` (model/, predictions.jsonl)")
    ap.add_argument("--split", type=Path, required=True, help="the seed's split folder (test file, knowledge)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = json.loads((args.run / "results.json").read_text())
    [sp] = find_seed_splits(args.split.parent, [int(cfg["seed"])])
    know = cfg.get("knowledge_file")
    test = attach(sp.read("test"), load_knowledge(know) if know else None)
    s = score(test, read_posts(args.run / "predictions.jsonl"))
    for name, prf in (("entity", s.entity), ("rel-strict", s.rel_strict)):
        print(f"{name}: P {100 * prf.precision:.1f} R {100 * prf.recall:.1f} F1 {100 * prf.f1:.1f} "
              f"({prf.tp} right of {prf.n_pred} predicted, {prf.n_gold} gold)")
    conf = relation_confusions(PromptModel.load(args.run / "model"), test)
    right = sum(n for (g, p), n in conf.items() if g == p)
    print(f"relation accuracy with gold entities and direction given: {100 * right / sum(conf.values()):.1f} "
          f"({right} of {sum(conf.values())})")
    errors = [(g, p, n) for (g, p), n in conf.most_common() if g != p][:8]
    print("most frequent errors (gold -> predicted):", ", ".join(f"{g} -> {p} {n}" for g, p, n in errors))


if __name__ == "__main__":
    main()
