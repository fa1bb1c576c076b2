"""Keep secrets out of messages, logs, caches and files: ``redact`` masks given values and bearer tokens.

A server may echo the request's ``Authorization`` header in an error body (or even in an answer);
everything text that came from a server goes through ``redact`` before it is shown, logged or stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"
# "Bearer <token>" in any case, as a header would carry it (also inside JSON or repr text)
BEARER = re.compile(r"(?i)\b(bearer)(\s+|%20|\\u0020)[^\s\"'\\,;}\]]+")
MIN_SECRET = 4  # shorter values would mask ordinary text; no real key is this short


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with every secret value and every ``Bearer <token>`` replaced by ``***``."""
    for secret in sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)
