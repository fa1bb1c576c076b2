"""What every head shares: the per-post view it reads, span features, verbalizer, the Head interface.

A head owns its loss and its decoding. The model encodes a batch once, then walks the posts; for
each post every head (in the task's order) adds its loss terms or decodes into the prediction. An
entity head leaves the entities it found on the view (``PostView.entities``) for the heads after it;
without one, later heads read the post's gold entities (relation extraction with given entities).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from kecpm.data.schema import Entity, Hint, Post
from kecpm.model.config import ModelConfig
from kecpm.model.hints import hint_types
from kecpm.model.mentions import named_in, span_flags

# (logits (S, L+1), gold labels (S,)) of one post; label 0 is "none".
Terms = tuple[torch.Tensor, torch.Tensor]


def enumerate_spans(n_words: int, max_width: int) -> list[tuple[int, int]]:
    """All word spans [start, end) of up to ``max_width`` words."""
    return [(i, j) for i in range(n_words) for j in range(i + 1, min(n_words, i + max_width) + 1)]


@dataclass
class Labels:
    """The label schema of a model: names and 1-based indices (0 = none)."""

    entity_types: list[str]
    relations: list[str]

    @property
    def type_index(self) -> dict[str, int]:
        return {t: i + 1 for i, t in enumerate(self.entity_types)}

    @property
    def rel_index(self) -> dict[str, int]:
        return {r: i + 1 for i, r in enumerate(self.relations)}


@dataclass
class EntitySet:
    """Entities of one post as a head reads them: spans (E, 2), 1-based types (E,), representations
    (E, D), and the ``Entity`` objects."""

    spans: torch.Tensor
    types: torch.Tensor
    reps: torch.Tensor
    entities: list[Entity]


@dataclass
class PostView:
    """One post as the heads see it."""

    post: Post
    words: torch.Tensor  # (n, H) word states
    side: torch.Tensor | None = None  # (Ls, H) caption + knowledge states
    keys: torch.Tensor | None = None  # (Ls,) side tokens visible to the model
    entities: EntitySet | None = None  # set by an entity head while decoding
    forced: set[tuple[int, int]] = field(default_factory=set)  # spans kept under the threshold only so that a pair
    # exists (min_triples): a relation head drops those no triple uses
    negatives: dict[tuple[int, int], int] = field(default_factory=dict)  # training: spans the span head takes for
    # entities that are no gold entity -> 1-based type (relation_negatives)
    sentences: list[str] = field(default_factory=list)  # normalised knowledge sentences it sees (mentions)
    side_sentence: torch.Tensor | None = None  # (Ls,) knowledge sentence of each side token, -1 elsewhere
    # (pair_sentences, span_sentences)
    hints: list[Hint] = field(default_factory=list)  # entity hints it sees (knowledge_hints)
    definitions: tuple[list[str], torch.Tensor] | None = None  # the knowledge sentences it sees, subject-normalised,
    # and their embeddings (k, H) (knowledge_definitions, kecpm.model.definitions)
    _named: dict[tuple[int, int], set[int]] = field(default_factory=dict, repr=False)  # cache of named_in

    @property
    def n(self) -> int:
        return len(self.words)

    def named_in(self, spans: list[tuple[int, int]]) -> list[set[int]]:
        """For each span: the indices of the knowledge sentences (``sentences``) naming it (``mentions.named_in``),
        matched once per span and view however many features and heads ask (shared sets: do not modify)."""
        missing = [s for s in dict.fromkeys(map(tuple, spans)) if s not in self._named]
        if missing:
            self._named.update(zip(missing, named_in(self.sentences, self.post.tokens, missing), strict=True))
        return [self._named[tuple(s)] for s in spans]

    def gold_spans(self, max_width: int, type_index: dict[str, int]) -> dict[tuple[int, int], int]:
        """Gold entity span -> 1-based type, for the entities the model can represent (inside the kept
        words, at most ``max_width`` words, known type), sorted by span."""
        return {(e.start, e.end): type_index[e.type] for e in self.post.with_entities_from_triples().entities
                if e.end <= self.n and e.end - e.start <= max_width and e.type in type_index}


def zero_embedding(n: int, dim: int) -> nn.Embedding:
    """An embedding whose rows start at zero (row 0 the padding: "no such feature"), made without drawing
    random numbers: a feature added this way leaves the rest of a seeded model's initialisation, and so a
    model that never sees the feature, exactly as without it."""
    return nn.Embedding(n, dim, padding_idx=0, _weight=torch.zeros(n, dim))


class SpanFeatures(nn.Module):
    """Span representation shared by the heads: [first word; last word; mean; width embedding], plus
    (``mentions``) a learned vector, zero at first, for spans the knowledge names, and (``hint_labels``:
    the model's entity types) one per type, zero at first, for spans an entity hint names with it."""

    def __init__(self, hidden: int, max_width: int, mentions: bool = False,
                 hint_labels: Sequence[str] | None = None) -> None:
        super().__init__()
        self.width = nn.Embedding(max_width + 1, 32)
        self.dim = 3 * hidden + 32
        self.mention = zero_embedding(2, self.dim) if mentions else None
        self.hint_labels = list(hint_labels or [])
        self.hint = zero_embedding(len(self.hint_labels) + 1, self.dim) if hint_labels else None

    def forward(self, words: torch.Tensor, spans: torch.Tensor, view: PostView | None = None) -> torch.Tensor:
        """words (N, H), spans (S, 2) [start, end) -> (S, dim); ``view`` gives the knowledge sentences
        and entity hints."""
        csum = torch.cat([words.new_zeros(1, words.size(1)), words.cumsum(0)])
        start, end = spans[:, 0], spans[:, 1]
        width = (end - start).clamp(min=1)
        mean = (csum[end] - csum[start]) / width.unsqueeze(1)
        reps = torch.cat([words[start], words[end - 1], mean, self.width(width)], dim=-1)
        for table, index in self._extras(spans, view):
            reps = reps + table(index)
        return reps

    def _extras(self, spans: torch.Tensor, view: PostView | None) -> list[tuple[nn.Embedding, torch.Tensor]]:
        """The feature vectors added to the spans: (table, row of each span) for mentions and hints."""
        mention = self.mention is not None and view is not None and bool(view.sentences)
        hint = self.hint is not None and view is not None and bool(view.hints)
        if not (mention or hint):  # the common case in training: no list of spans to build
            return []
        out = []
        listed = [tuple(s) for s in spans.tolist()]
        if mention:
            out.append((self.mention, span_flags(view.named_in(listed), spans.device)))
        if hint:
            types = hint_types(view.hints, view.post.tokens, listed, self.hint_labels)
            out.append((self.hint, torch.tensor(types, dtype=torch.long, device=spans.device)))
        return out

    def project(self, words: torch.Tensor, spans: torch.Tensor, linear: nn.Linear,
                view: PostView | None = None) -> torch.Tensor:
        """``linear(self(words, spans, view))`` (S, out) without building the (S, dim) features: they are
        concatenations and sums of word states and table rows, so each word and row is projected once and
        gathered per span (a span head's first layer costs ~1/8 of the multiply-adds; equal to float rounding)."""
        hid = words.size(1)
        w = linear.weight
        first, last, inner = (words @ w[:, k * hid:(k + 1) * hid].t() for k in range(3))
        csum = torch.cat([inner.new_zeros(1, inner.size(1)), inner.cumsum(0)])
        start, end = spans[:, 0], spans[:, 1]
        width = (end - start).clamp(min=1)
        out = first[start] + last[end - 1] + (csum[end] - csum[start]) / width.unsqueeze(1)
        out = out + (self.width.weight @ w[:, 3 * hid:].t())[width]
        for table, index in self._extras(spans, view):
            out = out + (table.weight @ w.t())[index]
        return out if linear.bias is None else out + linear.bias


class Verbalizer(nn.Module):
    """Scores representations against label vectors (row 0 = none), initialised from label words."""

    def __init__(self, in_dim: int, hidden: int, n_labels: int, dropout: float) -> None:
        super().__init__()
        self.proj = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.GELU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.LayerNorm(hidden))
        self.labels = nn.Parameter(torch.randn(n_labels + 1, hidden) * 0.02)
        self.bias = nn.Parameter(torch.zeros(n_labels + 1))

    def init_labels(self, vectors: torch.Tensor) -> None:
        """Set the non-none label vectors to the given (n_labels, hidden) embeddings, unit norm."""
        with torch.no_grad():
            self.labels[1:] = F.normalize(vectors, dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x) @ self.labels.t() + self.bias

    @property
    def first(self) -> nn.Linear:
        """The first linear layer (after the input dropout)."""
        return self.proj[1]

    def from_first(self, h: torch.Tensor) -> torch.Tensor:
        """The scores given the first layer's output ``h`` (``first(x)``); the input dropout is the
        identity, so this is ``forward`` in eval mode."""
        return self.proj[2:](h) @ self.labels.t() + self.bias


def weighted_ce(terms: list[Terms], n_labels: int, none_weight: float) -> torch.Tensor:
    """Cross-entropy over all posts' terms, the none class (0) weighted by ``none_weight``."""
    logits = torch.cat([t[0] for t in terms])
    weight = logits.new_ones(n_labels + 1)
    weight[0] = none_weight
    return F.cross_entropy(logits, torch.cat([t[1] for t in terms]), weight=weight)


class Head(nn.Module):
    """A head: built from the config, the encoder width, the shared span features and the labels.

    ``threshold``: the ModelConfig field holding its no-class probability threshold (tuned on val
    over ``threshold_grid``), or None."""

    threshold: str | None = None
    threshold_grid: tuple[float, ...] = ()

    def __init__(self, config: ModelConfig, hidden: int, spans: SpanFeatures, labels: Labels) -> None:
        super().__init__()
        self.config = config
        # A plain attribute, not a submodule: the model owns the shared span features.
        self.__dict__["spans"] = spans
        self.labels = labels

    def init_labels(self, embed: Callable[[list[str]], torch.Tensor]) -> None:
        """Initialise label vectors from ``embed(label words)`` (a new model only)."""

    def loss_terms(self, view: PostView) -> Terms | None:
        raise NotImplementedError

    def loss(self, terms: list[Terms]) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, view: PostView, pred: Post, threshold: float) -> None:
        """Write this head's predictions for ``view.post`` into ``pred``."""
        raise NotImplementedError
