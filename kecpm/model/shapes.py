"""Word shapes: what an uncased encoder cannot see (capitals, @/# prefixes, digits, links).

The default encoder (all-MiniLM-L6-v2) lower-cases its input, so "Apple" and "apple" look the same
to it, while capitalisation is the strongest entity cue in tweets. With ``word_shapes`` each
subword's input embedding gets the learned vector of its word's shape (zero at initialisation).
"""

from __future__ import annotations

import re

SHAPES = ("none", "lower", "Capitalised", "ALLCAPS", "miXed", "@mention", "#hashtag", "number", "url", "other")
_URL = re.compile(r"^(https?://|www\.)", re.IGNORECASE)


def word_shape(word: str) -> int:
    """Index in SHAPES of ``word``'s shape (0 is kept for special and padding tokens)."""
    if not word:
        return SHAPES.index("other")
    if word[0] == "@" and len(word) > 1:
        return SHAPES.index("@mention")
    if word[0] == "#" and len(word) > 1:
        return SHAPES.index("#hashtag")
    if _URL.match(word):
        return SHAPES.index("url")
    letters = [c for c in word if c.isalpha()]
    if not letters:
        return SHAPES.index("number") if any(c.isdigit() for c in word) else SHAPES.index("other")
    if all(c.islower() for c in letters):
        return SHAPES.index("lower")
    if len(letters) > 1 and all(c.isupper() for c in letters):
        return SHAPES.index("ALLCAPS")
    if letters[0].isupper() and all(c.islower() for c in letters[1:]):
        return SHAPES.index("Capitalised")
    return SHAPES.index("miXed")


NAME_SHAPES = frozenset(SHAPES.index(s) for s in ("Capitalised", "ALLCAPS", "miXed", "@mention", "#hashtag"))
NOT_NAMES = frozenset({"rt"})  # retweet marker: ALLCAPS, never an entity


def name_like(tokens: list[str]) -> list[bool]:
    """For each word: does it look like (part of) a name: Capitalised, ALLCAPS, miXed, @mention, #hashtag."""
    return [word_shape(w) in NAME_SHAPES and w.lower() not in NOT_NAMES for w in tokens]


def name_runs(tokens: list[str], max_words: int) -> list[tuple[int, int]]:
    """Spans [start, end) of the maximal runs of name-like words that are at most ``max_words`` long."""
    runs, start = [], None
    for i, name in enumerate([*name_like(tokens), False]):
        if name and start is None:
            start = i
        elif not name and start is not None:
            if i - start <= max_words:
                runs.append((start, i))
            start = None
    return runs
