"""Knowledge sentences that define a span: evidence of its type with a learned trust.

The LLM's knowledge mostly opens a sentence with the name it explains: "Nestle is a multinational food and
beverage company", "Pompeo refers to Mike Pompeo, the former United States Secretary of State", "Woodland
refers to an area covered with trees". Such a sentence says what kind of thing its subject is, which is the
entity type (or that it is no entity at all). Read as attention over free sentences (``span_sentences``)
that evidence cost more than it gave with 246 training posts; here it is a fixed summary instead.

With ``model.knowledge_definitions`` every candidate span that opens a knowledge sentence the model sees
(normalised as ``kecpm.model.mentions.normalise``; a leading "the" ignored; 2+ characters) gets, added to
its scores over none + the entity types, a linear map of the mean sentence embedding of those sentences
(the frozen side encoder's mean-pooled states, the sentence-embedding use MiniLM was trained for, unit length
times sqrt(hidden), the scale of the LayerNorm'd features the verbalizer scores). The map
starts at zero, so a warm start or a post whose knowledge defines nothing is scored as without it.
"""

from __future__ import annotations

import torch
from torch import nn

from kecpm.model.mentions import normalise, span_name


def subject(sentence: str) -> str:
    """A sentence normalised for subject matching: ``normalise`` without a leading "the"."""
    text = normalise(sentence)
    return text[4:] if text.startswith(" the ") else text


def defined_by(sentences: list[str], tokens: list[str], spans: list[tuple[int, int]]) -> list[list[int]]:
    """For each span [start, end) of ``tokens``: the indices of the ``sentences`` (already ``subject``-normalised)
    that open with its normalised text."""
    names = [span_name(tokens, s, e) for s, e in spans]
    return [[i for i, sent in enumerate(sentences) if sent.startswith(name)] if name else [] for name in names]


class DefinitionReader(nn.Module):
    """Scores (R, n_labels + 1) added to the spans defined by knowledge sentences, from their mean embedding."""

    def __init__(self, hidden: int, n_labels: int) -> None:
        super().__init__()
        # zeros, no RNG draw: the rest of a seeded model initialises exactly as without the option
        self.weight = nn.Parameter(torch.zeros(n_labels + 1, hidden))
        self.bias = nn.Parameter(torch.zeros(n_labels + 1))
        # unit embeddings scaled to the norm of a LayerNorm output (what the verbalizer scores): at the heads' learning
        # rate, unscaled ones moved the scores by about 0.1 in 5 epochs, nothing against scores of several units
        self.scale = hidden ** 0.5

    def forward(self, embeddings: torch.Tensor, defined: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor] | None:
        """``embeddings`` (k, H) of the post's sentences, ``defined`` a ``defined_by`` result: the rows of the
        defined spans and their added scores (R, n_labels + 1), or None when no span is defined."""
        rows = [i for i, d in enumerate(defined) if d]
        if not rows:
            return None
        pick = torch.zeros(len(rows), len(embeddings), dtype=embeddings.dtype, device=embeddings.device)
        for r, i in enumerate(rows):
            pick[r, defined[i]] = 1.0 / len(defined[i])
        mean = (pick @ embeddings).to(self.weight.dtype) * self.scale
        scores = mean @ self.weight.t() + self.bias
        return torch.tensor(rows, dtype=torch.long, device=embeddings.device), scores
