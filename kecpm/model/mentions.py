"""Knowledge anchored to mentions: which spans and entity pairs the knowledge sentences name.

Read as one blob, the knowledge does not reach the heads (the fusion gates stay nearly shut), yet
the LLM's sentences name most gold entities of their post and often state the relation outright
("Mery Perello is Nadal's girlfriend"). With ``model.knowledge_mentions`` the span features get a
learned vector for "this span is named in a knowledge sentence" and the relation head one for "both
entities are named in the same sentence" (both zero at initialisation, so a warm start is unchanged).

Matching is on normalised text: lower case, ``@``/``#`` stripped, anything but letters and digits a
space, whole words only; a span must have 2+ characters. The sentences are those the model sees
(``filter_knowledge`` applied, none when the post's knowledge was dropped in training).
"""

from __future__ import annotations

import re

import torch

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    """Lower case, letters and digits only, single spaces, padded with one space on each side."""
    return " " + " ".join(_NON_WORD.split(text.lower())).strip() + " "


def span_name(tokens: list[str], start: int, end: int) -> str:
    """The normalised text of the span [start, end) of ``tokens``, or "" when it has under 2 characters (no name)."""
    name = normalise(" ".join(tokens[start:end]))
    return name if len(name.strip()) >= 2 else ""


def named_in(sentences: list[str], tokens: list[str], spans: list[tuple[int, int]]) -> list[set[int]]:
    """For each span [start, end) of ``tokens``: the indices of the (normalised) sentences naming it."""
    names = [span_name(tokens, s, e) for s, e in spans]
    return [{i for i, sent in enumerate(sentences) if name in sent} if name else set() for name in names]


def span_flags(named: list[set[int]], device: torch.device | None = None) -> torch.Tensor:
    """(S,) long: 1 where the span is named in some sentence (``named``: a ``named_in`` result)."""
    return torch.tensor([int(bool(x)) for x in named], dtype=torch.long, device=device)


def co_named(named: list[set[int]], pairs: torch.Tensor) -> list[set[int]]:
    """For each pair (indices into the spans of ``named``, a ``named_in`` result): the sentences naming both."""
    return [named[h] & named[t] for h, t in pairs.tolist()]


def pair_flags(both: list[set[int]], device: torch.device | None = None) -> torch.Tensor:
    """(P,) long: 1 where some sentence names both entities of the pair (``both``: a ``co_named`` result)."""
    return torch.tensor([int(bool(x)) for x in both], dtype=torch.long, device=device)
