"""Mention replacement (Dai & Adel, COLING 2020): extra training posts in which each entity mention is swapped
for another mention of the same type.

With five posts per relation a model can learn the names it was shown instead of the contexts that make them
entities and relations. A copy of a post with "Rafael Nadal ... Mery Perello" read as "Serena Williams ... John
Smith" keeps the words around them, the entity types and the triples, so only the contexts carry over. Names come
from a pool: the training posts' own mentions, or a file of posts with entities (public NER data such as the
Twitter sets, their types mapped by name as for a warm start). Knowledge sentences, the caption and entity hints
of the post name the entities too: the same words are swapped there.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from kecpm.data.labels import map_type
from kecpm.data.schema import Entity, Hint, Post, Triple, post_id


@dataclass(frozen=True)
class MentionPool:
    """Distinct entity mentions (as word tuples) per entity type."""

    by_type: dict[str, list[tuple[str, ...]]]

    @classmethod
    def from_posts(cls, posts: Sequence[Post], types: Sequence[str], type_map: dict[str, str] | None = None) -> MentionPool:
        """The mentions of ``posts`` whose type is one of ``types`` or maps to one (``PER`` -> ``per``, ...);
        mentions of other types are left out."""
        seen: dict[str, dict[tuple[str, ...], None]] = {t: {} for t in types}
        for post in posts:
            for e in post.with_entities_from_triples().entities:
                name = e.type if e.type in seen else map_type(e.type, list(types), type_map or {})
                words = tuple(post.tokens[e.start:e.end])
                if name in seen and words:
                    seen[name][words] = None
        return cls({t: list(m) for t, m in seen.items()})

    def __len__(self) -> int:
        return sum(len(m) for m in self.by_type.values())


def _swap(text: str, names: dict[str, str]) -> str:
    for old in sorted(names, key=len, reverse=True):  # "Rafael Nadal" before "Nadal"
        text = text.replace(old, names[old])
    return text


def replace_mentions(post: Post, pool: MentionPool, rng: random.Random) -> Post | None:
    """A copy of ``post`` with every entity mention replaced by a pool mention of its type (the same name
    for the same words), spans and triples moved with them; None if the post has no entity, has overlapping
    entities, or an entity type without other names in the pool."""
    ents = sorted(post.with_entities_from_triples().entities)
    if not ents or any(a.end > b.start for a, b in zip(ents, ents[1:], strict=False)):
        return None
    chosen: dict[tuple[str, ...], tuple[str, ...]] = {}
    for e in ents:
        old = tuple(post.tokens[e.start:e.end])
        if old not in chosen:
            others = [m for m in pool.by_type.get(e.type, []) if m != old]
            if not others:
                return None
            chosen[old] = rng.choice(others)
    tokens: list[str] = []
    moved: dict[Entity, Entity] = {}
    at = 0
    for e in ents:
        tokens += post.tokens[at:e.start]
        new = chosen[tuple(post.tokens[e.start:e.end])]
        moved[e] = Entity(len(tokens), len(tokens) + len(new), e.type, " ".join(new))
        tokens += new
        at = e.end
    tokens += post.tokens[at:]
    names = {" ".join(old): " ".join(new) for old, new in chosen.items()}
    triples = [Triple(moved[t.head], t.relation, moved[t.tail]) for t in post.triples]
    hints = None if post.hints is None else [Hint(_swap(h.entity, names), h.type, _swap(h.about, names))
                                             for h in post.hints]
    return replace(post, id=post_id(post.img_id, tokens), tokens=tokens, entities=[moved[e] for e in ents],
                   triples=triples, caption=None if post.caption is None else _swap(post.caption, names),
                   knowledge=None if post.knowledge is None else [_swap(k, names) for k in post.knowledge],
                   hints=hints)


def augment(posts: Sequence[Post], copies: int, pool: MentionPool, seed: int) -> list[Post]:
    """``copies`` mention-replaced copies of each post (posts that cannot be copied are skipped), drawn with
    ``seed``: the same posts, pool and seed give the same copies."""
    rng = random.Random(seed)
    out = []
    for _ in range(copies):
        for post in posts:
            if (copy := replace_mentions(post, pool, rng)) is not None:
                out.append(copy)
    return out
