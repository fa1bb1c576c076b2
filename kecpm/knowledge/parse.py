"""Validate model answers: a JSON object ``{"sentences": [str, ...]}`` or a JSON list of strings.

Keeps what is valid and counts the rest; never raises on a bad answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_SENTENCES = 8
MAX_CHARS = 300


def schema_for(max_sentences: int = 4, max_chars: int = 200) -> dict[str, Any]:
    """The JSON schema sent to backends with structured output (part of the cache key)."""
    return {
        "type": "object",
        "properties": {
            "sentences": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": max_chars},
                "maxItems": max_sentences,
            }
        },
        "required": ["sentences"],
        "additionalProperties": False,
    }


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


def _decode(text: str) -> Any:
    text = _FENCE.sub("", text.strip())
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
    m = _TRUNCATED.match(_FENCE.sub("", text.strip()))
    if not m:
        return None
    body = _FENCE.sub("", text.strip())[m.end() :]
    items = []
    for s in _STRING.finditer(body):
        try:
            items.append(json.loads(f'"{s.group(1)}"'))
        except json.JSONDecodeError:
            continue
    return items


def parse_sentences(text: str) -> Parsed:
    """Parse one model answer; invalid items are dropped and counted."""
    truncated = 0
    try:
        data = _decode(text)
    except ValueError:
        data = _salvage(text)
        if not data:
            why = "not JSON" if data is None else "cut off before the first sentence ended"
            return Parsed(ok=False, error=f"{why}: {text[:80]!r}")
        truncated = 1  # the cut-off item
    if isinstance(data, dict):
        data = data.get("sentences")
    if not isinstance(data, list):
        return Parsed(ok=False, error="JSON without a list of sentences")
    out: list[str] = []
    invalid = 0
    for item in data:
        s = " ".join(item.split()) if isinstance(item, str) else ""
        if not s or len(s) > MAX_CHARS or s in out or len(out) >= MAX_SENTENCES:
            invalid += 1
            continue
        out.append(s)
    return Parsed(out, invalid + truncated)
