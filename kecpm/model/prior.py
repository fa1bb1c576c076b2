"""Prior shift: the relation prior of the posts a model will meet, estimated from unlabelled posts.

K-shot splits train on about K triples of every relation, so a model learns a flat relation prior,
while real posts are dominated by a few relations (``peer``, ``contain``, ...). With unlabelled posts
of the target distribution the prior is re-estimated by EM on the model's own posteriors (Saerens,
Latinne and Decaestecker 2002) and the relation logits are corrected by ``log(q / p_train)``.

Plain EM fails on a few-shot model: its posteriors are over-confident, so a relation it rarely says
is driven to a prior of 0. Three things keep the estimate sane: the posteriors are first calibrated by
a temperature fitted on val (gold entity pairs, NLL), each unlabelled pair counts by how likely it is
to hold a relation at all (1 - p(none)), and the estimate has a Dirichlet prior of ``smoothing``
pseudo-pairs at the training prior. Only the choice among relations changes; p(none), and so the
tuned no-relation threshold, stays as trained.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from kecpm.data.schema import Post, relation_counts
from kecpm.model.heads.relation import ordered_pairs

if TYPE_CHECKING:
    from kecpm.model.heads.base import PostView
    from kecpm.model.model import PromptModel


@dataclass
class PairLogits:
    """Relation logits (P, R+1) of entity pairs, their schema mask (P, R+1) and, for gold pairs, the
    1-based gold relation (P,)."""

    logits: torch.Tensor
    allowed: torch.Tensor
    labels: torch.Tensor | None = None


@dataclass
class PriorEstimate:
    """What ``estimate_relation_prior`` found: ``shift`` (relation -> log weight) goes into the config."""

    temperature: float
    source: dict[str, float]
    target: dict[str, float]
    shift: dict[str, float]
    n_pairs: int
    weight: float = 0.0  # sum of the pairs' relation probabilities (the effective number of relation pairs)
    notes: list[str] = field(default_factory=list)


@torch.no_grad()
def pair_logits(model: PromptModel, posts: list[Post], gold: bool, batch_size: int = 32,
                views: list[PostView] | None = None) -> PairLogits:
    """Logits of the gold triples' pairs (``gold``) or of every ordered pair of the entities the model
    finds (its span head; the posts' given entities for a model without one), in eval mode; ``views``: the
    posts' ``encode_posts`` if already made."""
    rel = model.head("relation")
    span = model.head("span")
    was = model.training
    model.eval()
    logits, allowed, labels = [], [], []
    for post, view in zip(posts, views if views is not None else model.encode_posts(posts, batch_size), strict=True):
        if not view.n:
            continue
        view = replace(view, post=post, entities=None)
        if gold or span is None:
            ents = rel.gold_entities(view)
        else:
            span.decode(view, Post(post.id, post.tokens, post.img_id), model.config.entity_threshold)
            ents = view.entities
        if ents is None or len(ents.entities) < 2:
            continue
        if gold:
            ix = {(e.start, e.end): i for i, e in enumerate(ents.entities)}
            rix = model.labels.rel_index
            found = [(ix[(t.head.start, t.head.end)], ix[(t.tail.start, t.tail.end)], rix[t.relation])
                     for t in post.triples if (t.head.start, t.head.end) in ix and (t.tail.start, t.tail.end) in ix
                     and t.relation in rix]
            if not found:
                continue
            pairs = torch.tensor([(h, t) for h, t, _ in found], device=view.words.device)
            labels.append(torch.tensor([r for _, _, r in found]))
        else:
            pairs = ordered_pairs(len(ents.entities), view.words.device)
        logits.append(rel(view.words, ents, pairs, view.side, view.keys, view).cpu())
        allowed.append(rel.allowed[ents.types[pairs[:, 0]], ents.types[pairs[:, 1]]].cpu())
    model.train(was)
    n = len(model.labels.relations) + 1
    cat = (lambda xs, dt: torch.cat(xs) if xs else torch.zeros(0, n, dtype=dt))  # noqa: E731
    return PairLogits(cat(logits, torch.float), cat(allowed, torch.bool),
                      torch.cat(labels) if gold and labels else (torch.zeros(0, dtype=torch.long) if gold else None))


def relation_probs(pl: PairLogits, temperature: float = 1.0, shift: torch.Tensor | None = None) -> torch.Tensor:
    """(P, R) probabilities over the relations allowed for each pair (no-relation left out)."""
    z = pl.logits[:, 1:] / temperature + (0 if shift is None else shift)
    return torch.nan_to_num(z.masked_fill(~pl.allowed[:, 1:], float("-inf")).softmax(-1))


def fit_temperature(pl: PairLogits) -> float:
    """The temperature (grid over 0.25..20, log-spaced) minimising the NLL of the gold relations."""
    assert pl.labels is not None
    keep = pl.allowed[torch.arange(len(pl.labels)), pl.labels]
    if not keep.any():
        return 1.0
    sub = PairLogits(pl.logits[keep], pl.allowed[keep], pl.labels[keep])
    grid = [math.exp(x) for x in torch.linspace(math.log(0.25), math.log(20.0), 80).tolist()]

    def nll(t: float) -> float:
        p = relation_probs(sub, t)[torch.arange(len(sub.labels)), sub.labels - 1]
        return float(-(p.clamp(min=1e-12)).log().mean())

    return min(grid, key=nll)


def em_prior(probs: torch.Tensor, weights: torch.Tensor, source: torch.Tensor, smoothing: float = 0.0,
             iters: int = 500, tol: float = 1e-7) -> torch.Tensor:
    """Saerens et al. EM: the class prior q of the samples whose posteriors ``probs`` (P, C) were
    computed under prior ``source`` (C,); ``weights`` (P,) count each sample, ``smoothing`` adds that
    many pseudo-samples at ``source``."""
    q = source.clone()
    total = float(weights.sum()) + smoothing
    for _ in range(iters):
        adj = probs * (q / source)
        adj = adj / adj.sum(1, keepdim=True).clamp(min=1e-12)
        new = ((weights.unsqueeze(1) * adj).sum(0) + smoothing * source) / max(total, 1e-12)
        if float((new - q).abs().max()) < tol:
            return new
        q = new
    return q


def source_prior(train: list[Post], relations: list[str]) -> torch.Tensor:
    """The training posts' relation distribution (add-one smoothed): the prior the model learned."""
    counts = relation_counts(train)
    c = torch.tensor([counts.get(r, 0) + 1.0 for r in relations])
    return c / c.sum()


def estimate_relation_prior(model: PromptModel, train: list[Post], val: list[Post], unlabelled: list[Post],
                            smoothing: float = 20.0, max_shift: float = 3.0) -> PriorEstimate:
    """Calibrate on ``val``, run EM over ``unlabelled``'s candidate pairs, return the log-prior shift."""
    rels = list(model.labels.relations)
    source = source_prior(train, rels)
    notes = []
    gold = pair_logits(model, val, gold=True)
    temperature = fit_temperature(gold) if gold.labels is not None and len(gold.labels) else 1.0
    if not len(gold.logits):
        notes.append("no gold relation in val: temperature 1")
    pl = pair_logits(model, unlabelled, gold=False)
    if not len(pl.logits):
        return PriorEstimate(temperature, dict(zip(rels, source.tolist(), strict=True)), {}, {}, 0,
                             notes=[*notes, "no candidate pair in the unlabelled posts: no correction"])
    weights = 1.0 - pl.logits.masked_fill(~pl.allowed, float("-inf")).softmax(-1)[:, 0]
    weights = weights * pl.allowed[:, 1:].any(1)
    q = em_prior(relation_probs(pl, temperature), weights, source, smoothing)
    shift = (q.log() - source.log()).clamp(-max_shift, max_shift)
    return PriorEstimate(temperature, dict(zip(rels, source.tolist(), strict=True)),
                         dict(zip(rels, q.tolist(), strict=True)),
                         {r: round(float(s), 6) for r, s in zip(rels, shift, strict=True)},
                         len(pl.logits), float(weights.sum()), notes)


def relation_accuracy(model: PromptModel, posts: list[Post], views: list[PostView] | None = None) -> float | None:
    """Share of gold triples whose relation the model picks with the gold entities and direction given
    (among the relations the schema allows, prior shift applied): the relation head alone. ``views``: the
    posts' ``encode_posts`` if already made."""
    if model.head("relation") is None:
        return None
    pl = pair_logits(model, posts, gold=True, views=views)
    if pl.labels is None or not len(pl.labels):
        return None
    shift = model.head("relation").shift_vector(pl.logits)
    probs = relation_probs(pl, model.config.relation_temperature, shift)
    return float((probs.argmax(-1) + 1 == pl.labels).float().mean())
