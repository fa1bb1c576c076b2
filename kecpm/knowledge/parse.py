"""Validate model answers: a JSON object ``{"sentences": [str, ...]}`` or a JSON list of strings.

Keeps what is valid and counts the rest; never raises on a bad answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_SENTENCES = 8
MAX_CHARS = 400

# The output schema sent to backends that support structured output; part of the cache key.
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "sentences": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": MAX_CHARS},
            "maxItems": MAX_SENTENCES,
        }
    },
    "required": ["sentences"],
    "additionalProperties": False,
}

_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


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


def parse_sentences(text: str) -> Parsed:
    """Parse one model answer; invalid items are dropped and counted."""
    try:
        data = _decode(text)
    except ValueError:
        return Parsed(ok=False, error=f"not JSON: {text[:80]!r}")
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
    return Parsed(out, invalid)
