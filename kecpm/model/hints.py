"""Typed entity hints from stage 1 (``gen-knowledge --format hints``) as span features.

With ``model.knowledge_hints`` each span whose text a hint names gets a learned vector of the hint's
type (``SpanFeatures.hint``, zero at initialisation, so a warm start is unchanged): the model learns
how far to trust the LLM's types. A hint names a span when their normalised texts are equal
(``kecpm.model.mentions.normalise``: case-insensitive, ``@``/``#`` and punctuation stripped). The
hints are those of posts whose knowledge the model sees (none when it was dropped in training).
"""

from __future__ import annotations

from collections.abc import Sequence

from kecpm.data.schema import Hint
from kecpm.model.mentions import normalise


def hint_types(hints: Sequence[Hint], tokens: Sequence[str], spans: Sequence[tuple[int, int]],
               entity_types: Sequence[str]) -> list[int]:
    """For each span [start, end) of ``tokens``: the 1-based index in ``entity_types`` of the type of
    the hint naming it, 0 if none. Hints of a type not in ``entity_types`` are ignored; of two hints
    naming the same text, the first wins."""
    index = {t: i + 1 for i, t in enumerate(entity_types)}
    named: dict[str, int] = {}
    for h in hints:
        name = normalise(h.entity)
        if name.strip() and h.type in index:
            named.setdefault(name, index[h.type])
    if not named:
        return [0] * len(spans)
    return [named.get(normalise(" ".join(tokens[s:e])), 0) for s, e in spans]
