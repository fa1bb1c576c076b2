"""The answer format and its validation: ``{"sentences": [str, ...]}`` (or a JSON list of strings).

``answer_model(max_sentences, max_chars)`` is the one definition of the format and its limits: its
JSON schema is what structured-output backends decode to (``schema_for``, part of the cache key), and
``parse_sentences`` checks items with the same sentence type and item limit. Parsing is lenient: it
keeps what is valid, counts the rest, salvages answers cut off by the token limit, and never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    create_model,
)


def sentence_type(max_chars: int) -> Any:
    """One sentence: a string of 1 to ``max_chars`` characters."""
    return Annotated[str, StringConstraints(min_length=1, max_length=max_chars, strict=True)]


@lru_cache(maxsize=32)
def _sentence(max_chars: int) -> TypeAdapter[str]:
    return TypeAdapter(sentence_type(max_chars))


@lru_cache(maxsize=32)
def answer_model(max_sentences: int, max_chars: int) -> type[BaseModel]:
    """The answer: ``{"sentences": [...]}``, at most ``max_sentences`` sentences (``sentence_type``),
    no other keys."""
    return create_model(
        "KnowledgeAnswer", __config__=ConfigDict(extra="forbid"),
        sentences=(list[sentence_type(max_chars)], Field(max_length=max_sentences)),  # type: ignore[misc]
    )


def schema_for(max_sentences: int, max_chars: int) -> dict[str, Any]:
    """The JSON schema of ``answer_model`` sent to structured-output backends (part of the cache key):
    ``required`` and ``additionalProperties: false`` are kept, as vLLM and OpenAI's json_schema want."""
    return answer_model(max_sentences, max_chars).model_json_schema()


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)
_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"\s*(?=[,\]])')
_TRUNCATED = re.compile(r'^\s*(?:\{\s*"sentences"\s*:\s*)?\[', re.DOTALL)


@dataclass
class Parsed:
    """Valid sentences of one answer; ``invalid_items`` counts dropped items, ``ok`` is False for non-JSON."""

    sentences: list[str] = field(default_factory=list)
    invalid_items: int = 0
    ok: bool = True
    error: str = ""


def strip_fence(text: str) -> str:
    """``text`` without surrounding whitespace and a Markdown code fence (```json ... ```)."""
    return _FENCE.sub("", text.strip())


def decode_json(text: str) -> Any:
    """The JSON of an answer (fence stripped, prose around it tolerated); ValueError if there is none."""
    text = strip_fence(text)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    # Tolerate prose around the JSON: take the first balanced-looking object or list.
    for open_, close in (("{", "}"), ("[", "]")):
        i, j = text.find(open_), text.rfind(close)
        if 0 <= i < j:
            try:
                return json.loads(text[i : j + 1])
            except json.JSONDecodeError:
                continue
    raise ValueError("not JSON")


def _salvage(text: str) -> list[str] | None:
    """Complete string items of a JSON list cut off by the token limit, or None."""
    m = _TRUNCATED.match(strip_fence(text))
    if not m:
        return None
    body = strip_fence(text)[m.end() :]
    items = []
    for s in _STRING.finditer(body):
        try:
            items.append(json.loads(f'"{s.group(1)}"'))
        except json.JSONDecodeError:
            continue
    return items


def answer_items(text: str, key: str, salvage: Callable[[str], list[Any] | None],
                 item: str) -> tuple[list[Any] | None, int, str]:
    """The item list of one answer (``{key: [...]}`` or a bare list): (items, 1 if the answer was cut
    off and salvaged by ``salvage`` else 0, error). Items None and an error for an unusable answer."""
    truncated = 0
    try:
        data = decode_json(text)
    except ValueError:
        data = salvage(text)
        if not data:
            why = "not JSON" if data is None else f"cut off before the first {item} ended"
            return None, 0, f"{why}: {text[:80]!r}"
        truncated = 1  # the cut-off item
    if isinstance(data, dict):
        data = data.get(key)
    if not isinstance(data, list):
        return None, 0, f"JSON without a list of {key}"
    return data, truncated, ""


def parse_sentences(text: str, max_sentences: int, max_chars: int) -> Parsed:
    """Parse one model answer with the limits of ``answer_model``; invalid items (not a string, empty
    or longer than ``max_chars`` after collapsing whitespace, duplicates, beyond ``max_sentences``)
    are dropped and counted."""
    data, truncated, error = answer_items(text, "sentences", _salvage, "sentence")
    if data is None:
        return Parsed(ok=False, error=error)
    sentence = _sentence(max_chars)
    out: list[str] = []
    invalid = 0
    for item in data:
        s = " ".join(item.split()) if isinstance(item, str) else item
        try:
            s = sentence.validate_python(s)
        except ValidationError:
            invalid += 1
            continue
        if s in out or len(out) >= max_sentences:
            invalid += 1
            continue
        out.append(s)
    return Parsed(out, invalid + truncated)
