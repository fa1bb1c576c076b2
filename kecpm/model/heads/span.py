"""Span head: the entity type (or none) of every span of up to ``max_span_width`` words."""

from __future__ import annotations

from collections.abc import Callable

import torch

from kecpm.data.labels import type_words
from kecpm.data.schema import Entity, Post
from kecpm.model.config import ModelConfig
from kecpm.model.heads.base import (
    EntitySet,
    Head,
    Labels,
    PostView,
    SpanFeatures,
    Terms,
    Verbalizer,
    enumerate_spans,
    weighted_ce,
)


class SpanHead(Head):
    """Span features through a verbalizer whose label vectors start as the embeddings of the type words
    ("person", "organization", ...). Decoding keeps the likeliest non-overlapping spans."""

    threshold = "entity_threshold"
    threshold_grid = (0.6, 0.7, 0.8, 0.9)

    def __init__(self, config: ModelConfig, hidden: int, spans: SpanFeatures, labels: Labels) -> None:
        super().__init__(config, hidden, spans, labels)
        self.verbalizer = Verbalizer(spans.dim, hidden, len(labels.entity_types), config.head_dropout)

    def init_labels(self, embed: Callable[[list[str]], torch.Tensor]) -> None:
        self.verbalizer.init_labels(embed([type_words(t) for t in self.labels.entity_types]))

    def loss_terms(self, view: PostView) -> Terms | None:
        gold = view.gold_spans(self.config.max_span_width, self.labels.type_index)
        spans = enumerate_spans(view.n, self.config.max_span_width)
        logits = self.verbalizer(self.spans(view.words, torch.tensor(spans, device=view.words.device), view))
        if self.config.relation_negatives and "relation" in self.config.task_spec.heads:
            view.negatives = self._negatives(logits.detach(), spans, gold)
        return logits, torch.tensor([gold.get(s, 0) for s in spans], device=logits.device)

    def _negatives(self, logits: torch.Tensor, spans: list[tuple[int, int]],
                   gold: dict[tuple[int, int], int]) -> dict[tuple[int, int], int]:
        """Up to ``relation_negatives`` non-overlapping spans that these scores take for entities (no-entity
        probability under 0.5) and that overlap no gold entity, likeliest first -> their 1-based type."""
        _, best_t, order, passed = self._ranked(logits, 0.5)
        in_gold = set().union(*(range(*s) for s in gold))
        wrong = [i for i in order if passed[i] and in_gold.isdisjoint(range(*spans[i]))]
        taken = self._non_overlapping(wrong, spans, [], self.config.relation_negatives)
        return {spans[i]: int(best_t[i]) + 1 for i in taken}

    def loss(self, terms: list[Terms]) -> torch.Tensor:
        return weighted_ce(terms, len(self.labels.entity_types), self.config.span_none_weight)

    @property
    def min_entities(self) -> int:
        """Entities every post gets however low their scores: two when a relation head after this one must find
        a triple in every post (``min_triples``), else none."""
        return 2 if self.config.min_triples > 0 and "relation" in self.config.task_spec.heads else 0

    @staticmethod
    def _ranked(logits: torch.Tensor, threshold: float) -> tuple[torch.Tensor, torch.Tensor, list[int], list[bool]]:
        """Of spans' logits (S, T+1): each span's best type probability and 0-based type, the span indices
        likeliest first, and whether each span's no-entity probability is under ``threshold``."""
        probs = logits.softmax(-1)
        best_p, best_t = probs[:, 1:].max(-1)
        order = torch.argsort(best_p, descending=True, stable=True).tolist()
        return best_p, best_t, order, (probs[:, 0] < threshold).tolist()

    @staticmethod
    def _non_overlapping(candidates: list[int], spans: list[tuple[int, int]], taken: list[int],
                         limit: int | None = None) -> list[int]:
        """``taken`` plus each of ``candidates`` (in order) that overlaps no span taken so far, up to ``limit``."""
        taken = list(taken)
        used = set().union(*(range(*spans[i]) for i in taken))
        for i in candidates:
            if limit is not None and len(taken) >= limit:
                break
            if i not in taken and used.isdisjoint(range(*spans[i])):
                taken.append(i)
                used.update(range(*spans[i]))
        return taken

    def decode(self, view: PostView, pred: Post, threshold: float) -> None:
        spans = enumerate_spans(view.n, self.config.max_span_width)
        index = torch.tensor(spans, device=view.words.device)
        if self.training:
            logits = self.verbalizer(self.spans(view.words, index, view))
        else:  # the same scores, the first layer computed per word (SpanFeatures.project)
            logits = self.verbalizer.from_first(self.spans.project(view.words, index, self.verbalizer.first, view))
        best_p, best_t, order, passed = self._ranked(logits, threshold)
        taken = self._non_overlapping([i for i in order if passed[i]], spans, [])
        if len(taken) < self.min_entities:  # a post that must hold a triple needs a pair: the likeliest other spans
            taken = self._non_overlapping(order, spans, taken, self.min_entities)
            view.forced = {spans[i] for i in taken if not passed[i]}
        taken.sort(key=lambda i: spans[i])
        types = self.labels.entity_types
        pred.entities = [Entity(spans[i][0], spans[i][1], types[int(best_t[i])], view.post.span_text(*spans[i]),
                                float(best_p[i])) for i in taken]
        kept = index[torch.tensor(taken, dtype=torch.long, device=index.device)].view(-1, 2)
        view.entities = EntitySet(kept, best_t[taken] + 1, self.spans(view.words, kept, view), pred.entities)
