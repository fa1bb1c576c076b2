"""Knowledge sentences as extra entity-training posts, the training posts' gold names projected onto them.

With a few hundred training posts the entity model sees each name once or twice. The LLM's sentences about a
training post name the same entities in other words ("Mery Perello is Nadal's girlfriend"): each sentence
that names a gold entity of its post becomes a post of its own, every occurrence of a gold name in it an
entity of that name's type. Names the gold does not cover would be taught as non-entities, so ``clean`` keeps
only the sentences whose capitalised words (the first word aside) all lie in a projected name; ``named``
keeps every sentence that names one. The sentences come as the model reads them (``filter_knowledge``);
each new post keeps its source post's image and has no knowledge and no caption of its own (its text is
knowledge), as a training post whose knowledge was dropped. Triples are not projected: these posts train an
entity model only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace

from kecpm.data.schema import Entity, Post, post_id
from kecpm.model.layout import read_sentences
from kecpm.model.mentions import span_name
from kecpm.train.config import KNOWLEDGE_POST_MODES

_TOKEN = re.compile(r"[@#]?\w+(?:['’.-]\w+)*|[^\w\s]")
MAX_NAME_WORDS = 8
_WORDLIKE = re.compile(r"\w")


def sentence_tokens(sentence: str) -> list[str]:
    """A sentence's words and punctuation marks, a possessive ``'s`` split from its word ("Nadal", "'s")."""
    return [t for w in _TOKEN.findall(sentence) for t in _split_possessive(w)]


def _split_possessive(word: str) -> list[str]:
    for end in ("'s", "’s"):
        if word.lower().endswith(end) and len(word) > 2:
            return [word[:-2], word[-2:]]
    return [word]


def project_names(tokens: list[str], names: dict[str, str]) -> list[Entity]:
    """The spans of ``tokens`` whose normalised text is one of ``names`` (normalised name -> type), longest
    first, none overlapping another, none beginning or ending with a punctuation mark."""
    found: list[Entity] = []
    taken: set[int] = set()
    for length in range(min(MAX_NAME_WORDS, len(tokens)), 0, -1):
        for start in range(len(tokens) - length + 1):
            span = range(start, start + length)
            if not (_WORDLIKE.search(tokens[start]) and _WORDLIKE.search(tokens[start + length - 1])):
                continue
            key = span_name(tokens, start, start + length)
            if key in names and not taken.intersection(span):
                found.append(Entity(start, start + length, names[key], " ".join(tokens[start:start + length])))
                taken.update(span)
    return sorted(found)


def is_clean(tokens: list[str], entities: list[Entity]) -> bool:
    """True when every capitalised word of ``tokens`` but the first lies in one of ``entities``."""
    covered = {i for e in entities for i in range(e.start, e.end)}
    return all(i in covered for i, t in enumerate(tokens) if i and t[:1].isupper())


def knowledge_posts(posts: Sequence[Post], mode: str, filter_knowledge: bool) -> list[Post]:
    """The extra entity-training posts made of ``posts``' knowledge sentences (``mode``: one of
    ``KNOWLEDGE_POST_MODES``)."""
    if mode not in KNOWLEDGE_POST_MODES:
        raise ValueError(f"knowledge posts: mode {mode!r} is not one of {', '.join(KNOWLEDGE_POST_MODES)}")
    if mode == "off":
        return []
    out: list[Post] = []
    for post in posts:
        names = {key: e.type for e in post.with_entities_from_triples().entities
                 if (key := span_name(post.tokens, e.start, e.end))}
        for sentence in read_sentences(post, filter_knowledge):
            tokens = sentence_tokens(sentence)
            found = project_names(tokens, names)
            if found and (mode == "named" or is_clean(tokens, found)):
                out.append(replace(post, id=post_id(post.img_id, tokens), tokens=tokens, entities=found, triples=[],
                                   knowledge=[], caption=None, hints=None))
    return out
