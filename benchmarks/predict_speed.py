"""Prediction throughput against its limit: posts/s of ``PromptModel.predict`` on the test posts with
their knowledge (and without), and the limit, a bare forward pass of the encoder over the same text
and side sequences (the same batches, padded the same way), in the same process.

    python benchmarks/predict_speed.py runs/bench-v3/paper-warm-shapes-mentions-t1/seed17/model \\
        --splits ../shared/data/fs-jmere --threads 2 --record

Prints a table and a JSON line; ``--record`` writes ``predict.posts_per_s`` (with knowledge) and
``predict.limit_ratio`` (predict / limit) to benchmarks/headline.json. Take figures on an idle
machine: every repetition starts with an empty side-state cache, the best of ``--repeat`` counts.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import torch

from kecpm.data.folders import find_seed_splits
from kecpm.data.schema import Post
from kecpm.evaluate import score
from kecpm.model.model import PromptModel, length_batches
from kecpm.model.precision import autocast
from kecpm.results import summary


def best_seconds(fn, repeat: int) -> float:  # noqa: ANN001 - a no-argument callable
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def predict_seconds(model: PromptModel, posts: list[Post], batch_size: int, repeat: int) -> float:
    def run() -> None:
        model.encoder.clear_side_cache()
        model.predict(posts, batch_size)

    return best_seconds(run, repeat)


@torch.no_grad()
def limit_seconds(model: PromptModel, posts: list[Post], batch_size: int, repeat: int) -> float:
    """A bare forward pass of the text encoder over the text sequences and of the side encoder over
    the side sequences, batch by batch as ``predict`` forms them (same order, same padding)."""
    enc = model.encoder
    batches = [enc.batch([posts[i] for i in chunk]) for chunk in length_batches(posts, batch_size)]

    def run() -> None:
        for b in batches:
            enc.text(input_ids=b.text_ids, attention_mask=b.text_mask)
            if enc.side is not None and b.side_ids is not None:
                enc.side(input_ids=b.side_ids, attention_mask=b.side_mask)

    return best_seconds(run, repeat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="a saved kecpm model folder")
    ap.add_argument("--splits", type=Path, default=Path("../shared/data/fs-jmere"),
                    help="a split folder (its first seed's test posts, with their knowledge, are predicted)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "bf16", "int8"),
                    help="inference precision of predict and of the limit (kecpm.model.precision)")
    ap.add_argument("--gold", action="store_true", help="also score the predictions (rel-strict, entity F1)")
    ap.add_argument("--record", action="store_true", help="write the figures to benchmarks/headline.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = PromptModel.load(args.model).set_precision(args.precision)
    posts = find_seed_splits(args.splits)[0].read("test")
    bare = [replace(p, knowledge=None) for p in posts]
    model.predict(posts[:args.batch_size], args.batch_size)  # warm-up: lazy imports, allocator
    n = len(posts)
    with_k = predict_seconds(model, posts, args.batch_size, args.repeat)
    without_k = predict_seconds(model, bare, args.batch_size, args.repeat)
    with autocast(args.precision, model.device):
        limit = limit_seconds(model, posts, args.batch_size, args.repeat)
    res = {"posts": n, "threads": args.threads, "batch_size": args.batch_size,
           "with_knowledge": round(n / with_k, 1), "without_knowledge": round(n / without_k, 1),
           "limit": round(n / limit, 1), "limit_ratio": round(limit / with_k, 3),
           "knowledge_posts": sum(bool(p.knowledge) for p in posts), "precision": args.precision}
    if args.gold:
        s = summary(score(posts, model.predict(posts, args.batch_size)))
        res.update({k: round(100 * s[k], 2) for k in ("rel_strict_f1", "entity_f1")})
    print("| run | posts/s |\n|---|---|")
    for k in ("with_knowledge", "without_knowledge", "limit"):
        print(f"| {k.replace('_', ' ')} | {res[k]} |")
    print(f"ratio to the limit: {res['limit_ratio']}")
    print(json.dumps(res))
    if args.record:
        from headline import record, stamp

        cmd = (f"python benchmarks/predict_speed.py {args.model} --splits {args.splits} --threads {args.threads} "
               f"--batch-size {args.batch_size} --precision {args.precision} --record")
        common = {**stamp(cmd), "posts": n, "threads": args.threads, "precision": args.precision}
        record("predict.posts_per_s", {"value": res["with_knowledge"], "unit": "posts/s", **common,
                                       "without_knowledge": res["without_knowledge"], "limit": res["limit"]})
        record("predict.limit_ratio", {"value": res["limit_ratio"], "unit": "predict / bare encoder forward",
                                       **common})


if __name__ == "__main__":
    main()
