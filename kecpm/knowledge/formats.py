"""Answer formats of stage 1 (``knowledge.format``): the light facts every part needs, in one place.

- ``sentences``: free background sentences, ``{"sentences": [...]}`` (``kecpm.knowledge.parse``);
- ``hints``: the post's named entities, each with a type and one fact,
  ``{"entities": [{"entity", "type", "about"}]}`` (``kecpm.knowledge.hints``).

``TEMPLATES`` is each format's default prompt (used when ``knowledge.template`` is not set) and
``PREFIXES`` the opening of its answer, written for backends that cannot constrain decoding to the
JSON schema. No heavy imports here: the config and the backends read it.
"""

from __future__ import annotations

SENTENCES = "sentences"
HINTS = "hints"
FORMATS: tuple[str, ...] = (SENTENCES, HINTS)
TEMPLATES: dict[str, str] = {SENTENCES: "knowledge.v1", HINTS: "hints.v1"}
PREFIXES: dict[str, str] = {SENTENCES: '{"sentences": ["', HINTS: '{"entities": [{"entity": "'}
