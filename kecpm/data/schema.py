"""The data model: entities (word spans), triples and posts.

Spans are word offsets ``[start, end)`` into ``Post.tokens``. A post's id is stable across runs
and machines: the first 16 hex digits of sha256 of ``img_id + "\\n" + " ".join(tokens)``. A post may
carry stage 1's entity hints (``Hint``: an entity's text, its type code and one fact about it).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from kecpm.data.errors import DataError

ENTITY_TYPES: tuple[str, ...] = ("per", "org", "loc", "misc")
# The 21 relation types of JMERE / MNRE v2, spelled as in the data (``alumi`` included).
RELATIONS: tuple[str, ...] = (
    "alternate_names", "alumi", "awarded", "charges", "contain", "couple", "held_on", "locate_at",
    "member_of", "nationality", "neighbor", "parent", "part_of", "peer", "place_of_birth",
    "place_of_residence", "present_in", "race", "religion", "siblings", "subsidiary",
)


def word_list(value: Any, field: str = "tokens") -> list[str]:
    """``value`` as a list of words; a string (or any non-list) is a DataError, not a list of characters."""
    if not isinstance(value, list):
        kind = "a string" if isinstance(value, str) else type(value).__name__
        raise DataError(f'"{field}" must be a list of words, got {kind}; split the text into words '
                        f'(e.g. "{field}": ["Barack", "Obama"])')
    return [str(t) for t in value]


def sentence_list(value: Any, field: str = "knowledge") -> list[str] | None:
    """``value`` as a list of sentences (None stays None). A string is one sentence, not a list of
    characters (some published JMERE files hold ``"knowledge": "..."``); a blank string is no
    sentence (``[]``); anything else but a list is a DataError."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if not isinstance(value, list):
        raise DataError(f'"{field}" must be a list of sentences, got {type(value).__name__}; write ["..."]')
    return [str(k) for k in value]


def post_id(img_id: str, tokens: Iterable[str]) -> str:
    """Stable id of a post: sha256 of image id and space-joined tokens, 16 hex digits."""
    text = f"{img_id}\n{' '.join(tokens)}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, order=True)
class Entity:
    """A typed word span ``[start, end)``; ``text`` is the span's words joined by spaces."""

    start: int
    end: int
    type: str
    text: str = field(default="", compare=False)
    score: float | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end, "type": self.type, "text": self.text}
        if self.score is not None:
            d["score"] = round(self.score, 6)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Entity:
        return cls(int(d["start"]), int(d["end"]), str(d["type"]), str(d.get("text", "")), d.get("score"))


@dataclass(frozen=True, order=True)
class Triple:
    """(head entity, relation, tail entity); direction matters."""

    head: Entity
    relation: str
    tail: Entity
    score: float | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"head": self.head.to_dict(), "relation": self.relation, "tail": self.tail.to_dict()}
        if self.score is not None:
            d["score"] = round(self.score, 6)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Triple:
        return cls(Entity.from_dict(d["head"]), str(d["relation"]), Entity.from_dict(d["tail"]), d.get("score"))


@dataclass(frozen=True)
class Hint:
    """An entity the LLM names in a post (``knowledge.format=hints``): its text, type code, one fact."""

    entity: str
    type: str
    about: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"entity": self.entity, "type": self.type, "about": self.about}

    @classmethod
    def from_dict(cls, d: Any) -> Hint:
        """A hint from ``{"entity", "type", "about"?}`` (strings, entity non-empty); else a DataError."""
        ok = isinstance(d, dict) and isinstance(d.get("entity"), str) and bool(d["entity"]) \
            and isinstance(d.get("type"), str) and isinstance(d.get("about", ""), str)
        if not ok:
            raise DataError('a hint must be {"entity": "...", "type": "...", "about": "..."} with a non-empty entity')
        return cls(d["entity"], d["type"], d.get("about", ""))


def hint_list(value: Any, field: str = "hints") -> list[Hint] | None:
    """``value`` as a list of hints (None stays None); anything else but a list is a DataError."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise DataError(f'"{field}" must be a list of hints, got {type(value).__name__}')
    return [Hint.from_dict(h) for h in value]


@dataclass
class Post:
    """One social-media post: text, image reference and its gold or predicted annotations."""

    id: str
    tokens: list[str]
    img_id: str
    image_path: str | None = None
    caption: str | None = None
    knowledge: list[str] | None = None
    entities: list[Entity] = field(default_factory=list)
    triples: list[Triple] = field(default_factory=list)
    hints: list[Hint] | None = None  # stage 1's entity hints (knowledge.format=hints), None without

    @property
    def text(self) -> str:
        return " ".join(self.tokens)

    def span_text(self, start: int, end: int) -> str:
        return " ".join(self.tokens[start:end])

    def with_entities_from_triples(self) -> Post:
        """Return a copy whose ``entities`` also hold every triple argument (deduplicated, sorted)."""
        ents = set(self.entities)
        for t in self.triples:
            ents.add(t.head)
            ents.add(t.tail)
        return replace(self, entities=sorted(ents))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "tokens": self.tokens,
            "img_id": self.img_id,
            "caption": self.caption,
            "knowledge": self.knowledge,
            "entities": [e.to_dict() for e in self.entities],
            "triples": [t.to_dict() for t in self.triples],
        }
        if self.image_path is not None:
            d["image_path"] = self.image_path
        if self.hints is not None:
            d["hints"] = [h.to_dict() for h in self.hints]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Post:
        tokens = word_list(d["tokens"])
        img_id = str(d.get("img_id") or "")
        return cls(
            id=str(d.get("id") or post_id(img_id, tokens)),
            tokens=tokens,
            img_id=img_id,
            image_path=d.get("image_path"),
            caption=d.get("caption"),
            knowledge=sentence_list(d.get("knowledge")),
            entities=[Entity.from_dict(e) for e in d.get("entities") or []],
            triples=[Triple.from_dict(t) for t in d.get("triples") or []],
            hints=hint_list(d.get("hints")),
        )


def validate_post(
    post: Post,
    entity_types: Iterable[str] | None = ENTITY_TYPES,
    relations: Iterable[str] | None = RELATIONS,
    spans: bool = True,
) -> None:
    """Raise DataError for empty text, spans out of range (unless ``spans=False``), or unknown labels
    (entity types or relations: None accepts any)."""
    types = set(entity_types) if entity_types is not None else None
    rels = set(relations) if relations is not None else None
    if not post.tokens or not any(t.strip() for t in post.tokens):
        raise DataError(f"post {post.id}: empty text")
    ents = list(post.entities) + [e for t in post.triples for e in (t.head, t.tail)]
    for e in ents:
        if spans and not 0 <= e.start < e.end <= len(post.tokens):
            raise DataError(f"post {post.id}: span [{e.start}, {e.end}) out of range for {len(post.tokens)} tokens")
        if types is not None and e.type not in types:
            raise DataError(f"post {post.id}: unknown entity type {e.type!r} (known: {', '.join(sorted(types))})")
    for t in post.triples:
        if rels is not None and t.relation not in rels:
            raise DataError(f"post {post.id}: unknown relation {t.relation!r}")


def duplicate_ids(posts: Iterable[Post]) -> list[str]:
    """Post ids that occur more than once, in first-seen order."""
    return [pid for pid, n in Counter(p.id for p in posts).items() if n > 1]


def first_of_each_id(posts: Iterable[Post]) -> list[Post]:
    """The first post of each id, in order (later records with the same id dropped)."""
    kept: dict[str, Post] = {}
    for p in posts:
        kept.setdefault(p.id, p)
    return list(kept.values())


def relation_counts(posts: Iterable[Post]) -> Counter[str]:
    """Number of triples per relation."""
    return Counter(t.relation for p in posts for t in p.triples)


def schema_from_posts(posts: Sequence[Post]) -> dict[str, Any]:
    """Entity types, relations and allowed (head type, tail type) pairs per relation seen in ``posts``:
    the label schema a model is built over (``ModelConfig(**schema_from_posts(train))``)."""
    types, pairs = set(), {}
    for p in posts:
        for e in p.with_entities_from_triples().entities:
            types.add(e.type)
        for t in p.triples:
            pairs.setdefault(t.relation, set()).add((t.head.type, t.tail.type))
    return {"entity_types": sorted(types), "relations": sorted(pairs),
            "allowed_pairs": {r: sorted([list(x) for x in v]) for r, v in sorted(pairs.items())}}
