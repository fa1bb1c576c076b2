"""Adapting a trained model to its target posts with unlabelled data (the ``adapt`` config section).

``read_unlabelled`` reads any file kecpm reads and drops every label on the way in (triples always;
entities too unless the task takes them as input), so nothing downstream can see them. ``adapt``
then corrects the relation prior of a trained model from those posts (``kecpm.model.prior``).
"""

from __future__ import annotations

import logging
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kecpm.config import Config, ConfigError, option
from kecpm.data.readers import read_posts
from kecpm.data.schema import Post

log = logging.getLogger(__name__)


@dataclass
class AdaptConfig(Config):
    """Unlabelled posts of the target distribution and what to learn from them."""

    unlabelled: str = option("", "File of unlabelled posts (any format kecpm reads; labels are dropped when read and "
                                 "never reach the model), e.g. ../shared/data/mnre/mnre_train.txt; posts of the "
                                 "split itself are left out. Empty = no adaptation.")
    prior_shift: bool = option(True, "With unlabelled posts: re-estimate the relation prior (EM on val-calibrated "
                                     "posteriors) and correct the relation scores.")
    max_unlabelled: int = option(2000, "Use at most this many unlabelled posts (a fixed random sample).")
    prior_smoothing: float = option(20.0, "Pseudo-pairs at the training prior in the EM estimate (keeps a "
                                          "relation the model rarely says from being driven to 0).")
    max_shift: float = option(3.0, "Largest |log weight| of the correction of one relation.")
    self_train_rounds: int = option(0, "With unlabelled posts: rounds of self-training (pseudo-label, keep the "
                                       "confident triples, train again); 0 = none.")
    self_train_precision: float = option(0.7, "Self-training keeps the triples scoring at least the lowest score at "
                                              "which the model's val triples are this precise.")
    self_train_ratio: float = option(2.0, "At most this many pseudo-labelled posts per labelled training post "
                                          "(the most confident first).")

    def __post_init__(self) -> None:
        if self.max_unlabelled < 1 or self.prior_smoothing < 0 or self.max_shift <= 0:
            raise ConfigError("adapt: max_unlabelled must be >= 1, prior_smoothing >= 0, max_shift > 0")
        if self.self_train_rounds < 0 or not 0 < self.self_train_precision <= 1 or self.self_train_ratio <= 0:
            raise ConfigError("adapt: self_train_rounds must be >= 0, self_train_precision in (0, 1], "
                              "self_train_ratio > 0")

    @property
    def active(self) -> bool:
        """Whether unlabelled posts are read at all."""
        return bool(self.unlabelled) and (self.prior_shift or self.self_train_rounds > 0)


def strip_labels(post: Post, keep_entities: bool = False) -> Post:
    """The post's input only: no triples, no entities unless ``keep_entities`` (relation extraction
    with given entities takes them as input)."""
    ents = post.with_entities_from_triples().entities if keep_entities else []
    return Post(post.id, list(post.tokens), post.img_id, post.image_path, post.caption, post.knowledge,
                entities=list(ents), hints=post.hints)


def read_unlabelled(path: str | Path, exclude: list[Post], limit: int, keep_entities: bool = False,
                    seed: int = 0) -> list[Post]:
    """Up to ``limit`` label-free posts of ``path`` (a fixed sample), none with the id or the words of a
    post in ``exclude`` (the split's own train, val and test posts)."""
    taken_ids = {p.id for p in exclude}
    taken_words = {tuple(p.tokens) for p in exclude}
    posts = [strip_labels(p, keep_entities) for p in read_posts(path)
             if p.id not in taken_ids and tuple(p.tokens) not in taken_words]
    if not posts:
        raise ConfigError(f"{path}: no unlabelled post left after leaving out the split's own posts")
    posts.sort(key=lambda p: p.id)
    if len(posts) > limit:
        posts = sorted(random.Random(seed).sample(posts, limit), key=lambda p: p.id)
    return posts


def adapt(model: Any, cfg: AdaptConfig, train: list[Post], val: list[Post], unlabelled: list[Post]) -> dict[str, Any]:
    """Correct ``model``'s relation prior from ``unlabelled``; returns what was estimated (for results.json)."""
    from kecpm.model.prior import estimate_relation_prior

    if not cfg.prior_shift or not unlabelled or model.head("relation") is None:
        return {}
    est = estimate_relation_prior(model, train, val, unlabelled, cfg.prior_smoothing, cfg.max_shift)
    if est.shift:
        model.update_config(relation_prior_shift=est.shift, relation_temperature=est.temperature)
    top = sorted(est.target.items(), key=lambda kv: -kv[1])[:4]
    log.info("prior shift from %d unlabelled posts (%d candidate pairs, %.0f likely relations): temperature %.2f; "
             "estimated prior %s", len(unlabelled), est.n_pairs, est.weight, est.temperature,
             ", ".join(f"{r} {100 * q:.0f}%" for r, q in top))
    return {"prior_shift": asdict(est), "n_unlabelled": len(unlabelled)}
