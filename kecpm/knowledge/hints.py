"""The ``hints`` answer format: the named entities of a post, each with its type and one short fact.

``{"entities": [{"entity": "Rafael Nadal", "type": "person", "about": "Spanish tennis player."}]}``

``hints_model(max_items, max_chars)`` is the one definition of the format and its limits (as
``kecpm.knowledge.parse.answer_model`` is for sentences): its JSON schema goes to structured-output
backends (``hints_schema``, part of the cache key) and ``parse_hints`` checks items with the same
item model. Parsing is lenient: it keeps what is valid, counts the rest, salvages answers cut off by
the token limit, and never raises. Types are read back into codes (per/org/loc/misc) by
``kecpm.data.labels.type_code``; an unknown type drops the item. A knowledge record gets one
sentence per hint (``hint_sentence``), so stage 2's sentence readers see the facts too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, create_model

from kecpm.data.labels import relation_words, type_code, type_words
from kecpm.data.schema import Entity, Hint, Post
from kecpm.knowledge.parse import answer_items, strip_fence

MAX_ENTITY_CHARS = 100
_TRUNCATED = re.compile(r'^\s*(?:\{\s*"entities"\s*:\s*)?\[', re.DOTALL)
_SEPARATORS = re.compile(r"[\s,]*")


@lru_cache(maxsize=32)
def hint_item_model(max_chars: int) -> type[BaseModel]:
    """One item: ``entity`` (1 to 100 characters), ``type`` (a string), ``about`` (0 to ``max_chars``
    characters); no other keys."""
    return create_model(
        "EntityHint", __config__=ConfigDict(extra="forbid"),
        entity=(Annotated[str, StringConstraints(min_length=1, max_length=MAX_ENTITY_CHARS, strict=True)], ...),
        type=(Annotated[str, StringConstraints(strict=True)], ...),
        about=(Annotated[str, StringConstraints(max_length=max_chars, strict=True)], ...),
    )


@lru_cache(maxsize=32)
def hints_model(max_items: int, max_chars: int) -> type[BaseModel]:
    """The answer: ``{"entities": [...]}``, at most ``max_items`` items (``hint_item_model``), no other keys."""
    return create_model(
        "HintsAnswer", __config__=ConfigDict(extra="forbid"),
        entities=(list[hint_item_model(max_chars)], Field(max_length=max_items)),  # type: ignore[misc]
    )


def hints_schema(max_items: int, max_chars: int) -> dict[str, Any]:
    """The JSON schema of ``hints_model`` sent to structured-output backends (part of the cache key)."""
    return hints_model(max_items, max_chars).model_json_schema()


@dataclass
class ParsedHints:
    """Valid hints of one answer (type codes); ``invalid_items`` counts dropped items, ``ok`` is False
    for an answer without JSON or without a list of entities."""

    hints: list[Hint] = field(default_factory=list)
    invalid_items: int = 0
    ok: bool = True
    error: str = ""


def _salvage(text: str) -> list[Any] | None:
    """The complete items of an entity list cut off by the token limit (None: no list starts)."""
    body = strip_fence(text)
    m = _TRUNCATED.match(body)
    if not m:
        return None
    decoder, pos, items = json.JSONDecoder(), m.end(), []
    while True:
        pos = _SEPARATORS.match(body, pos).end()  # type: ignore[union-attr]  # always matches
        try:
            item, pos = decoder.raw_decode(body, pos)
        except json.JSONDecodeError:
            return items
        items.append(item)


def _clean(item: Any) -> Any:
    """An item with whitespace collapsed in its strings and a missing ``about`` as ""."""
    if not isinstance(item, dict):
        return item
    out = {k: " ".join(v.split()) if isinstance(v, str) else v for k, v in item.items()}
    out.setdefault("about", "")
    return out


def parse_hints(text: str, max_items: int, max_chars: int) -> ParsedHints:
    """Parse one answer with the limits of ``hints_model``; invalid items (not an object, extra keys,
    an empty or too long entity or fact, an unknown type, a repeated entity, beyond ``max_items``)
    are dropped and counted, and so is the last item of an answer cut off by the token limit."""
    data, truncated, error = answer_items(text, "entities", _salvage, "entity")
    if data is None:
        return ParsedHints(ok=False, error=error)
    model = hint_item_model(max_chars)
    out: list[Hint] = []
    seen: set[str] = set()
    invalid = 0
    for item in data:
        try:
            valid = model.model_validate(_clean(item))
        except ValidationError:
            invalid += 1
            continue
        code = type_code(valid.type)
        if code is None or valid.entity.lower() in seen or len(out) >= max_items:
            invalid += 1
            continue
        seen.add(valid.entity.lower())
        out.append(Hint(valid.entity, code, valid.about))
    return ParsedHints(out, invalid + truncated)


def hint_sentence(hint: Hint) -> str:
    """The knowledge sentence of a hint: ``"<entity>: <about>"``, or the entity alone without a fact."""
    return f"{hint.entity}: {hint.about}" if hint.about else hint.entity


def demo_answer(post: Post, max_items: int, max_chars: int) -> str:
    """A demonstration's gold entities as a hints answer (JSON text, type words as the prompt shows
    them); each entity's fact is the gold triples it takes part in, in words."""

    def name(e: Entity) -> str:
        return e.text or post.span_text(e.start, e.end)

    items: list[dict[str, str]] = []
    for e in post.with_entities_from_triples().entities:
        if len(items) == max_items:
            break
        if any(i["entity"] == name(e) for i in items):
            continue
        facts = [f"{name(t.head)} {relation_words(t.relation)} {name(t.tail)}" for t in post.triples
                 if e in (t.head, t.tail)]
        items.append({"entity": name(e), "type": type_words(e.type), "about": "; ".join(facts)[:max_chars]})
    return json.dumps({"entities": items}, ensure_ascii=False)
