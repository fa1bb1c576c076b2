"""Test-time views of the knowledge for a pipeline's inline entity model: its span probabilities averaged over
other views of each test post's knowledge, then the pipeline's relation model on the entities they give.

- ``--hidden W``: weight W on the view with the knowledge and 1 - W on the view with it hidden (as knowledge dropout
  hides it in training: the model has been trained on both views).
- ``--orders K``: the mean over the LLM's order of the sentences and K - 1 random orders of them.

The models are loaded, not retrained, and each view is read by the model as it predicts; the new run holds
``predictions.jsonl`` and ``results.json`` per seed, which ``kecpm compare`` reads against the run it came from.

    python benchmarks/view_ensemble.py runs/bench-v20/paper-...-entinline-win3-t1 --hidden 0.7 --out-suffix=-hid07
    python benchmarks/view_ensemble.py runs/bench-v20/paper-...-entinline-win3-t1 --orders 4 --out-suffix=-ord4
"""

from __future__ import annotations

import argparse
import logging
import random
from dataclasses import replace
from pathlib import Path
from unittest import mock

import torch
from redecode import derive_runs, test_posts, write_seed

from kecpm.data.errors import DataError
from kecpm.data.jsonl import read_json
from kecpm.data.schema import Post
from kecpm.evaluate import score
from kecpm.model.heads.span import SpanHead
from kecpm.model.pipeline import PipelineModel, is_pipeline
from kecpm.results import summary


def views_of(model: PipelineModel, test: list[Post], hidden: float | None, orders: int) -> list[tuple[float, list]]:
    """(weight, the entity model's views of ``test``) of every view other than the plain one."""
    ent = model.entity
    if hidden is not None:  # every post's knowledge hidden, as a knowledge-dropout draw of 1 would
        with mock.patch("kecpm.model.encoder.knowledge_drop", lambda rate, n, training: torch.ones(n, dtype=torch.bool)):
            return [(1 - hidden, ent.encode_posts(test))]
    rng = random.Random(0)
    return [(1 / orders, ent.encode_posts([replace(p, knowledge=rng.sample(p.knowledge, len(p.knowledge)))
                                           if p.knowledge else p for p in test])) for _ in range(orders - 1)]


def ensemble_seed(seed_dir: Path, out: Path, hidden: float | None, orders: int) -> dict:
    if not is_pipeline(seed_dir / "model"):
        raise ValueError(f"{seed_dir}: not a pipeline run (kecpm train --pipeline): no entity model of its own")
    res = read_json(seed_dir / "results.json")
    model = PipelineModel.load(seed_dir / "model")
    test = test_posts(res, use_knowledge=True)
    plain_weight = hidden if hidden is not None else 1 / orders
    others = [(w, {p.id: v for p, v in zip(test, vs, strict=True)}) for w, vs in views_of(model, test, hidden, orders)]
    own = SpanHead._logits

    def mixed(head: SpanHead, view, spans, index, fast):  # noqa: ANN001, ANN202 - SpanHead._logits' signature
        probs = plain_weight * own(head, view, spans, index, fast).softmax(-1)
        for w, by_id in others:
            probs = probs + w * own(head, by_id[view.post.id], spans, index, fast).softmax(-1)
        return probs.clamp_min(1e-12).log()  # decoding takes the softmax of these again: the same probabilities

    with mock.patch.object(SpanHead, "_logits", mixed):
        found = model.entity.predict(test)
    preds = model.predict(test, found=found)
    scores = score(test, preds)
    record = {**res, "test": summary(scores), "test_scores": scores.to_dict(),
              "view_ensemble": {"from": str(seed_dir), "hidden": hidden, "orders": orders}}
    write_seed(out, seed_dir, preds, record)
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="finished pipeline runs whose entity model reads the knowledge inline")
    how = ap.add_mutually_exclusive_group(required=True)
    how.add_argument("--hidden", type=float, help="weight of the view with the knowledge (the rest: hidden), in (0, 1)")
    how.add_argument("--orders", type=int, help="number of sentence orders averaged (the LLM's and random ones), >= 2")
    ap.add_argument("--out-suffix", required=True, help="the new run is the old one's name + this (before -tN)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.hidden is not None and not 0 < args.hidden < 1 or args.orders is not None and args.orders < 2:
        ap.error("--hidden must be in (0, 1) and --orders >= 2")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    try:
        derive_runs(args.runs, args.out_suffix,
                    lambda seed_dir, out: ensemble_seed(seed_dir, out, args.hidden, args.orders or 0))
    except (DataError, FileNotFoundError, ValueError) as e:  # no run, not a pipeline, unreadable posts
        ap.error(str(e))


if __name__ == "__main__":
    main()
