"""Relation head: the relation (or none) of every ordered pair of a post's entities.

Entities come from the head before it (the span head, when decoding a JMERE model) or are the
post's gold entities (training, and relation extraction with given entities). Relations are only
allowed between the (head type, tail type) pairs seen for them in training (the schema constraint).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from kecpm.data.labels import relation_words
from kecpm.data.schema import Entity, Post, Triple
from kecpm.model.config import ModelConfig
from kecpm.model.fusion import PairReader
from kecpm.model.heads.base import (
    EntitySet,
    Head,
    Labels,
    PostView,
    SpanFeatures,
    Terms,
    Verbalizer,
    weighted_ce,
    zero_embedding,
)
from kecpm.model.mentions import co_named, pair_flags
from kecpm.model.pair_sentences import SentenceReader, sentence_keys
from kecpm.model.shapes import name_runs


def schema_mask(relations: list[str], entity_types: list[str],
                allowed: dict[str, list[list[str]]]) -> torch.Tensor:
    """(T+1, T+1, R+1) bool: relation r allowed for (head type, tail type); none always allowed."""
    t, r = len(entity_types), len(relations)
    mask = torch.zeros(t + 1, t + 1, r + 1, dtype=torch.bool)
    mask[..., 0] = True
    tix = {name: i + 1 for i, name in enumerate(entity_types)}
    for ri, rel in enumerate(relations, 1):
        for ht, tt in allowed.get(rel, []):
            if ht in tix and tt in tix:
                mask[tix[ht], tix[tt], ri] = True
    return mask


def ordered_pairs(n: int, device: torch.device | None = None) -> torch.Tensor:
    """(n*(n-1), 2) every ordered pair (i, j), i != j."""
    return torch.tensor([(i, j) for i in range(n) for j in range(n) if i != j], dtype=torch.long, device=device)


class RelationHead(Head):
    """[head; tail; head*tail; context (+ what the pair reads in caption + knowledge); type embeddings]
    through a verbalizer whose label vectors start as the embeddings of the relation words."""

    threshold = "relation_threshold"
    threshold_grid = (0.3, 0.4, 0.6, 0.7, 0.8)

    def __init__(self, config: ModelConfig, hidden: int, spans: SpanFeatures, labels: Labels) -> None:
        super().__init__(config, hidden, spans, labels)
        read_side = config.pair_knowledge and config.has_side
        n_types = len(labels.entity_types)
        self.ent = nn.Linear(spans.dim, hidden)
        self.types = nn.Embedding(n_types + 1, 32)
        self.reader = PairReader(hidden) if read_side else None
        self.verbalizer = Verbalizer(4 * hidden + 64, hidden, len(labels.relations), config.head_dropout)
        self.co_mention = zero_embedding(2, 4 * hidden + 64) if config.knowledge_mentions else None
        self.sentences = SentenceReader(hidden) if config.pair_sentences else None
        self.register_buffer("allowed", schema_mask(labels.relations, labels.entity_types, config.allowed_pairs),
                             persistent=False)

    def init_labels(self, embed: Callable[[list[str]], torch.Tensor]) -> None:
        self.verbalizer.init_labels(embed([relation_words(r) for r in self.labels.relations]))

    def forward(self, words: torch.Tensor, ents: EntitySet, pairs: torch.Tensor, side: torch.Tensor | None = None,
                keys: torch.Tensor | None = None, view: PostView | None = None) -> torch.Tensor:
        """Logits (P, R+1) of ``pairs`` (P, 2) of ``ents`` in a post with word states ``words`` (N, H);
        ``view`` gives the knowledge sentences (``knowledge_mentions``)."""
        e = self.ent(ents.reps)
        spans = ents.spans
        h, t = pairs[:, 0], pairs[:, 1]
        lo = torch.minimum(spans[h, 1], spans[t, 1])
        hi = torch.maximum(spans[h, 0], spans[t, 0])
        csum = torch.cat([words.new_zeros(1, words.size(1)), words.cumsum(0)])
        gap = (hi - lo).clamp(min=0)
        between = (csum[hi] - csum[lo]) / gap.clamp(min=1).unsqueeze(1)  # words between the two spans
        ctx = torch.where(gap.unsqueeze(1) > 0, between, words.mean(0, keepdim=True).expand(len(pairs), -1))
        if self.reader is not None and side is not None and keys is not None:
            ctx = ctx + self.reader(torch.cat([e[h], e[t]], dim=-1), side, keys)
        # per pair, the knowledge sentences naming both its entities (knowledge_mentions; None: no sentence seen)
        both = co_named(view.named_in(spans.tolist()), pairs) \
            if view is not None and view.sentences else None
        if self.sentences is not None and both is not None and side is not None and keys is not None \
                and view.side_sentence is not None:
            pk = sentence_keys(keys, view.side_sentence, both)
            ctx = ctx + self.sentences(torch.cat([e[h], e[t]], dim=-1), side, pk)
        x = torch.cat([e[h], e[t], e[h] * e[t], ctx, self.types(ents.types[h]), self.types(ents.types[t])], dim=-1)
        if self.co_mention is not None and both is not None:
            x = x + self.co_mention(pair_flags(both, pairs.device))
        return self.verbalizer(x)

    def gold_entities(self, view: PostView, gold: dict[tuple[int, int], int] | None = None) -> EntitySet:
        """The post's given entities (sorted by span) as an EntitySet, with the scores the post gives them (e.g. an
        entity model's, ``kecpm.model.pipeline``); ``gold``: its ``gold_spans`` if already computed."""
        if gold is None:
            gold = view.gold_spans(self.config.max_span_width, self.labels.type_index)
        ents = sorted(gold)
        dev = view.words.device
        spans = torch.tensor(ents, dtype=torch.long, device=dev).view(-1, 2)
        names = self.labels.entity_types
        given = {(e.start, e.end): e.score for e in view.post.entities}
        objs = [Entity(s, e, names[gold[(s, e)] - 1], view.post.span_text(s, e), given.get((s, e))) for s, e in ents]
        return EntitySet(spans, torch.tensor([gold[s] for s in ents], dtype=torch.long, device=dev),
                         self.spans(view.words, spans, view), objs)

    def loss_terms(self, view: PostView) -> Terms | None:
        gold_spans = view.gold_spans(self.config.max_span_width, self.labels.type_index)
        if len(gold_spans) < 2:
            return None
        negatives = view.negatives or self._name_negatives(view, gold_spans)  # no triple uses them
        ents = self.gold_entities(view, {**gold_spans, **negatives})
        ix = {(e.start, e.end): i for i, e in enumerate(ents.entities)}
        rix = self.labels.rel_index
        rels = {(ix[(t.head.start, t.head.end)], ix[(t.tail.start, t.tail.end)]): rix[t.relation]
                for t in view.post.triples
                if (t.head.start, t.head.end) in ix and (t.tail.start, t.tail.end) in ix and t.relation in rix}
        pairs = ordered_pairs(len(ents.entities), view.words.device)
        logits = self(view.words, ents, pairs, view.side, view.keys, view)
        gold = torch.tensor([rels.get((int(i), int(j)), 0) for i, j in pairs.tolist()], device=logits.device)
        return logits, gold

    def _name_negatives(self, view: PostView, gold: dict[tuple[int, int], int]) -> dict[tuple[int, int], int]:
        """Training a model with no span head (a pipeline's relation model) with ``relation_negatives``: up to that
        many runs of name-like words overlapping no gold entity, drawn anew at every step, each with a random type
        -> its 1-based type. They stand for what the entity model will hand over at prediction: names that the
        annotation leaves out because they take part in no relation."""
        if not self.config.relation_negatives or "span" in self.config.task_spec.heads:
            return {}
        in_gold = set().union(*(range(*s) for s in gold))
        runs = [s for s in name_runs(view.post.tokens[:view.n], self.config.max_span_width)
                if in_gold.isdisjoint(range(*s))]
        if not runs:
            return {}
        pick = torch.randperm(len(runs))[:self.config.relation_negatives].tolist()
        types = torch.randint(1, len(self.labels.entity_types) + 1, (len(pick),)).tolist()
        return {runs[i]: t for i, t in zip(pick, types, strict=True)}

    def loss(self, terms: list[Terms]) -> torch.Tensor:
        return weighted_ce(terms, len(self.labels.relations), self.config.rel_none_weight)

    def shift_vector(self, like: torch.Tensor) -> torch.Tensor | None:
        """(R,) the configured log-prior shift of each relation (``kecpm.model.prior``), or None."""
        shift = self.config.relation_prior_shift
        return like.new_tensor([shift.get(r, 0.0) for r in self.labels.relations]) if shift else None

    def probabilities(self, logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """(P, R+1) probabilities of none and of each allowed relation. With a prior shift (or a
        temperature) the relations share p(relation) = 1 - p(none) by their corrected scores."""
        masked = logits.masked_fill(~allowed, float("-inf"))
        rp = masked.softmax(-1)
        shift, temp = self.shift_vector(logits), self.config.relation_temperature
        if shift is None and temp == 1.0:
            return rp
        rel = torch.nan_to_num((masked[:, 1:] / temp + (0 if shift is None else shift)).softmax(-1))
        return torch.cat([rp[:, :1], (1 - rp[:, :1]) * rel], dim=-1)

    def decode(self, view: PostView, pred: Post, threshold: float) -> None:
        """One relation per unordered pair of entities (the likelier direction), if any beats ``threshold``;
        with ``min_triples`` the likeliest other pairs up to that many. Entities the entity head kept under its
        threshold only to make a pair (``view.forced``) stay only if a triple uses them."""
        ents = view.entities
        if ents is None:  # no entity head before this one: the post's gold entities are given
            ents = self.gold_entities(view)
            pred.entities = list(ents.entities)
        if len(ents.entities) >= 2:
            pred.triples = self._triples(view, ents, threshold)
        if view.forced:  # spans the entity head kept only for a pair: gone if no triple uses them
            used = {(e.start, e.end) for t in pred.triples for e in (t.head, t.tail)}
            pred.entities = [e for e in pred.entities if (e.start, e.end) not in view.forced or (e.start, e.end) in used]

    def _triples(self, view: PostView, ents: EntitySet, threshold: float) -> list[Triple]:
        """The decoded triples between ``ents`` (at least two)."""
        pairs = ordered_pairs(len(ents.entities), ents.spans.device)
        logits = self(view.words, ents, pairs, view.side, view.keys, view)
        rp = self.probabilities(logits, self.allowed[ents.types[pairs[:, 0]], ents.types[pairs[:, 1]]])
        best_rp, best_r = (x.tolist() for x in rp[:, 1:].max(-1))
        best: dict[tuple[int, int], tuple[float, int, int, int]] = {}  # unordered pair -> (p, relation, i, j)
        spare: dict[tuple[int, int], tuple[float, int, int, int]] = {}  # the same for pairs under the threshold
        passed = (rp[:, 0] < threshold).tolist()
        for (i, j), p, r, ok in zip(pairs.tolist(), best_rp, best_r, passed, strict=True):
            into = best if ok else spare
            key = (min(i, j), max(i, j))
            if p > 0 and (key not in into or p > into[key][0]):
                into[key] = (p, r, i, j)
        missing = self.config.min_triples - len(best)
        if missing > 0:
            rest = sorted((v for key, v in spare.items() if key not in best), reverse=True)
            best.update({(min(v[2], v[3]), max(v[2], v[3])): v for v in rest[:missing]})
        e, rels = ents.entities, self.labels.relations
        return sorted(Triple(e[i], rels[r], e[j], p) for p, r, i, j in best.values())
