"""Span head: the entity type (or none) of every span of up to ``max_span_width`` words.

With ``model.span_sentences`` each span named in a knowledge sentence the model sees also reads those sentences
(``kecpm.model.pair_sentences.SentenceReader``, the span features as query; gated, zero at first), added to its
features before the verbalizer. With ``model.knowledge_definitions`` the spans that open a knowledge sentence get
that sentence's type evidence added to their scores (``kecpm.model.definitions``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from kecpm.data.labels import type_words
from kecpm.data.schema import Entity, Post
from kecpm.model.config import ModelConfig
from kecpm.model.definitions import DefinitionReader, defined_by
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
from kecpm.model.pair_sentences import SentenceReader, sentence_keys


class SpanHead(Head):
    """Span features through a verbalizer whose label vectors start as the embeddings of the type words
    ("person", "organization", ...). Decoding keeps the likeliest non-overlapping spans."""

    threshold = "entity_threshold"
    threshold_grid = (0.6, 0.7, 0.8, 0.9)

    def __init__(self, config: ModelConfig, hidden: int, spans: SpanFeatures, labels: Labels) -> None:
        super().__init__(config, hidden, spans, labels)
        self.verbalizer = Verbalizer(spans.dim, hidden, len(labels.entity_types), config.head_dropout)
        self.sentences = SentenceReader(hidden, spans.dim, spans.dim) if config.span_sentences else None
        self.definitions = DefinitionReader(hidden, len(labels.entity_types)) if config.knowledge_definitions else None

    def init_labels(self, embed: Callable[[list[str]], torch.Tensor]) -> None:
        self.verbalizer.init_labels(embed([type_words(t) for t in self.labels.entity_types]))

    def _reads(self, view: PostView, spans: list[tuple[int, int]], index: torch.Tensor,
               reps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``span_sentences``: the rows of the spans named in a knowledge sentence the model sees and what each
        reads from those sentences (R, dim), or None (option off, no sentence seen, no span named). ``reps``: the
        spans' features if already computed (the queries)."""
        if self.sentences is None or not view.sentences or view.side is None or view.keys is None \
                or view.side_sentence is None:
            return None
        keys = sentence_keys(view.keys, view.side_sentence, view.named_in(spans))
        rows = keys.any(-1).nonzero().squeeze(-1)
        if not len(rows):
            return None
        query = reps[rows] if reps is not None else self.spans(view.words, index[rows], view)
        return rows, self.sentences(query, view.side, keys[rows])

    def _logits(self, view: PostView, spans: list[tuple[int, int]], index: torch.Tensor, fast: bool) -> torch.Tensor:
        """Scores (S, T+1) of ``spans`` with what knowledge sentences defining them add (``knowledge_definitions``)."""
        logits = self._span_logits(view, spans, index, fast)
        if self.definitions is None or view.definitions is None:
            return logits
        sentences, embeddings = view.definitions
        added = self.definitions(embeddings, defined_by(sentences, view.post.tokens, spans))
        return logits if added is None else logits.index_add(0, added[0], added[1].to(logits.dtype))

    def _span_logits(self, view: PostView, spans: list[tuple[int, int]], index: torch.Tensor,
                     fast: bool) -> torch.Tensor:
        """Scores (S, T+1) of ``spans`` from their features; ``fast``: the verbalizer's first layer computed per word
        (``SpanFeatures.project``, the same scores up to float rounding)."""
        if not fast:
            reps = self.spans(view.words, index, view)
            read = self._reads(view, spans, index, reps)
            return self.verbalizer(reps if read is None else reps.index_add(0, *read))
        h = self.spans.project(view.words, index, self.verbalizer.first, view)
        read = self._reads(view, spans, index)
        if read is not None:  # the first layer is linear: its bias is in h already
            h = h.index_add(0, read[0], read[1] @ self.verbalizer.first.weight.t())
        return self.verbalizer.from_first(h)

    def loss_terms(self, view: PostView) -> Terms | None:
        gold = view.gold_spans(self.config.max_span_width, self.labels.type_index)
        spans = enumerate_spans(view.n, self.config.max_span_width)
        logits = self._logits(view, spans, torch.tensor(spans, device=view.words.device), fast=False)
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
        logits = self._logits(view, spans, index, fast=not self.training)
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
