"""Span and relation heads whose classifiers are verbalizers.

Each label has a vector in the encoder's space, initialised from the encoder's embedding of the
label words ("person", "member of", ...); a span or pair is scored by the dot product of its
projected representation with every label vector. Index 0 is the learned "none" label.
Relations are only allowed between the head/tail type pairs seen for them in training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

TYPE_WORDS = {"per": "person", "org": "organization", "loc": "location", "misc": "other named thing"}
RELATION_WORDS = {
    "alternate_names": "alternate name", "alumi": "alumni of school", "awarded": "awarded prize",
    "charges": "charged with", "contain": "contains", "couple": "married couple", "held_on": "event held on",
    "locate_at": "located at", "member_of": "member of", "nationality": "nationality",
    "neighbor": "neighbor", "parent": "parent of", "part_of": "part of", "peer": "peer colleague",
    "place_of_birth": "place of birth", "place_of_residence": "place of residence",
    "present_in": "present in", "race": "race", "religion": "religion", "siblings": "siblings",
    "subsidiary": "subsidiary of",
}


def label_words(label: str, table: dict[str, str]) -> str:
    """The words that describe a label (its name with spaces for unknown labels)."""
    return table.get(label, label.replace("_", " ").replace("/", " "))


class Verbalizer(nn.Module):
    """Scores representations against label vectors (row 0 = none)."""

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


def enumerate_spans(n_words: int, max_width: int) -> list[tuple[int, int]]:
    """All word spans [start, end) of up to ``max_width`` words."""
    return [(i, j) for i in range(n_words) for j in range(i + 1, min(n_words, i + max_width) + 1)]


class SpanHead(nn.Module):
    """Entity type of every span: [first word; last word; mean; width] through a verbalizer."""

    def __init__(self, hidden: int, n_types: int, max_width: int, dropout: float) -> None:
        super().__init__()
        self.width = nn.Embedding(max_width + 1, 32)
        self.in_dim = 3 * hidden + 32
        self.verbalizer = Verbalizer(self.in_dim, hidden, n_types, dropout)

    def represent(self, words: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
        """words (N, H), spans (S, 2) [start, end) -> (S, in_dim)."""
        csum = torch.cat([words.new_zeros(1, words.size(1)), words.cumsum(0)])
        start, end = spans[:, 0], spans[:, 1]
        width = (end - start).clamp(min=1)
        mean = (csum[end] - csum[start]) / width.unsqueeze(1)
        return torch.cat([words[start], words[end - 1], mean, self.width(width)], dim=-1)

    def forward(self, reps: torch.Tensor) -> torch.Tensor:
        return self.verbalizer(reps)


class PairReader(nn.Module):
    """The entity pair reads the side sequence (caption + knowledge): attention with the pair as query,
    added to the pair's features through a per-dimension tanh gate that starts at 0."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.query = nn.Linear(2 * hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.gate = nn.Parameter(torch.zeros(hidden))

    def forward(self, pair: torch.Tensor, side: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """pair (P, 2H), side (Ls, H), keys (Ls,) bool -> (P, H); zeros when no side token is visible."""
        if not bool(keys.any()):
            return pair.new_zeros(len(pair), side.size(-1))
        scores = self.query(pair) @ side.t() / side.size(-1) ** 0.5
        att = scores.masked_fill(~keys, float("-inf")).softmax(-1)
        return torch.tanh(self.gate) * self.value(att @ side)


class RelationHead(nn.Module):
    """Relation of an ordered pair: [head; tail; head*tail; context (+ what the pair reads in the side
    sequence); type embeddings] via a verbalizer."""

    def __init__(self, span_dim: int, hidden: int, n_types: int, n_relations: int, dropout: float,
                 read_side: bool = False) -> None:
        super().__init__()
        self.ent = nn.Linear(span_dim, hidden)
        self.types = nn.Embedding(n_types + 1, 32)
        self.reader = PairReader(hidden) if read_side else None
        self.verbalizer = Verbalizer(4 * hidden + 64, hidden, n_relations, dropout)

    def forward(self, words: torch.Tensor, span_reps: torch.Tensor, spans: torch.Tensor,
                types: torch.Tensor, pairs: torch.Tensor, side: torch.Tensor | None = None,
                keys: torch.Tensor | None = None) -> torch.Tensor:
        """span_reps (E, D) of entities with spans (E, 2), types (E,) 1-based; pairs (P, 2) -> (P, R+1).
        ``side`` (Ls, H) and ``keys`` (Ls,) are the post's side states, read when the head has a reader."""
        e = self.ent(span_reps)
        h, t = pairs[:, 0], pairs[:, 1]
        lo = torch.minimum(spans[h, 1], spans[t, 1])
        hi = torch.maximum(spans[h, 0], spans[t, 0])
        csum = torch.cat([words.new_zeros(1, words.size(1)), words.cumsum(0)])
        gap = (hi - lo).clamp(min=0)
        between = (csum[hi] - csum[lo]) / gap.clamp(min=1).unsqueeze(1)  # words between the two spans
        ctx = torch.where(gap.unsqueeze(1) > 0, between, words.mean(0, keepdim=True).expand(len(pairs), -1))
        if self.reader is not None and side is not None and keys is not None:
            ctx = ctx + self.reader(torch.cat([e[h], e[t]], dim=-1), side, keys)
        x = torch.cat([e[h], e[t], e[h] * e[t], ctx, self.types(types[h]), self.types(types[t])], dim=-1)
        return self.verbalizer(x)


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
