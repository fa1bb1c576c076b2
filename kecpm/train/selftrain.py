"""Self-training: pseudo-label unlabelled posts with the trained model, keep the confident triples,
train again on the labelled posts plus those, for ``adapt.self_train_rounds`` rounds.

The confidence threshold is the lowest triple score at which the model's val triples are at least
``adapt.self_train_precision`` precise. A pseudo-labelled post keeps only its confident triples and
their arguments as entities (the JMERE annotation convention: an entity is annotated when it takes
part in a triple). Each round trains a new model from the same start (warm start included) in
``<run>/round<r>/`` (resumable like any training), writes its pseudo-labels to
``round<r>/pseudo.jsonl`` and re-estimates the prior shift. The unlabelled posts carry no labels
(``read_unlabelled`` dropped them), so nothing here can read gold.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from kecpm.data.jsonl import write_jsonl
from kecpm.data.schema import Post
from kecpm.evaluate import score
from kecpm.model.config import ModelConfig
from kecpm.model.model import PromptModel
from kecpm.results import summary
from kecpm.train.adapt import AdaptConfig, adapt
from kecpm.train.config import TrainConfig
from kecpm.train.trainer import Trainer, set_seed

log = logging.getLogger(__name__)


def _key(t: Any) -> tuple:
    return (t.head.start, t.head.end, t.head.type, t.relation, t.tail.start, t.tail.end, t.tail.type)


def confidence_threshold(model: PromptModel, val: list[Post], precision: float) -> float:
    """The lowest score s such that the model's val triples scoring >= s are at least ``precision``
    right (strict match); above 1 (nothing kept) when no such s exists."""
    scored = []
    for gold, pred in zip(val, model.predict(val), strict=True):
        truth = {_key(t) for t in gold.triples}
        scored += [(t.score or 0.0, _key(t) in truth) for t in pred.triples]
    scored.sort(key=lambda x: -x[0])
    best, right = 1.01, 0
    for k, (s, ok) in enumerate(scored, 1):
        right += ok
        if right / k >= precision:
            best = s
    return best


def pseudo_label(model: PromptModel, posts: list[Post], min_score: float, limit: int) -> list[Post]:
    """Posts with the model's triples scoring >= ``min_score`` (posts without one dropped), the most
    confident posts first, at most ``limit``."""
    kept = []
    for pred in model.predict(posts):
        triples = [replace(t, head=replace(t.head, score=None), tail=replace(t.tail, score=None), score=None)
                   for t in pred.triples if (t.score or 0.0) >= min_score]
        if triples:
            conf = max(t.score or 0.0 for t in pred.triples if (t.score or 0.0) >= min_score)
            post = Post(pred.id, pred.tokens, pred.img_id, pred.image_path, pred.caption, pred.knowledge,
                        triples=sorted(triples), hints=pred.hints)
            kept.append((conf, post.with_entities_from_triples()))
    kept.sort(key=lambda x: (-x[0], x[1].id))
    return [p for _, p in kept[:limit]]


def self_train(model: PromptModel, state: dict[str, Any], model_config: ModelConfig, args: TrainConfig,
               cfg: AdaptConfig, train: list[Post], val: list[Post], test: list[Post], unlabelled: list[Post],
               out: Path) -> tuple[PromptModel, dict[str, Any], list[dict[str, Any]]]:
    """Run the rounds from ``model`` (trained, with training ``state``); returns the last model, its
    training state and one record per round."""
    rounds: list[dict[str, Any]] = []
    for r in range(1, cfg.self_train_rounds + 1):
        th = confidence_threshold(model, val, cfg.self_train_precision)
        pseudo = pseudo_label(model, unlabelled, th, max(1, int(cfg.self_train_ratio * len(train))))
        write_jsonl(out / f"round{r}" / "pseudo.jsonl", pseudo)
        rec: dict[str, Any] = {"round": r, "threshold": th, "posts": len(pseudo),
                               "triples": sum(len(p.triples) for p in pseudo)}
        log.info("self-training round %d: %d pseudo-labelled posts (%d triples) at score >= %.2f", r, len(pseudo),
                 rec["triples"], th)
        if not pseudo:
            rounds.append(rec)
            break
        set_seed(args.seed, args.threads)
        model = PromptModel.create(model_config)
        trainer = Trainer(model, args, train + pseudo, val, out_dir=out / f"round{r}")
        state = trainer.train()
        rec["test_before_adapt"] = summary(score(test, model.predict(test)))
        rec.update(adapt(model, cfg, train + pseudo, val, unlabelled))
        rec["test"] = summary(score(test, model.predict(test)))
        rounds.append(rec)
    return model, state, rounds
