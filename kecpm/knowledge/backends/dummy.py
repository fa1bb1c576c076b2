"""The ``dummy`` backend for tests: deterministic canned answers, counts calls, optional delay.

It answers in the format the schema asks for: entity hints (``{"entities": [...]}``, types cycling
through "person", "Organisation", "LOC", now and then an item of an unknown type) when the schema
has ``entities``, else sentences.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kecpm.config import Config, ConfigError, option
from kecpm.knowledge.backends.base import Answer, Messages, Sampling

if TYPE_CHECKING:
    from kecpm.knowledge.config import KnowledgeConfig

_WORD = re.compile(r"\b[A-Z][\w'-]+\b")
_TYPES = ("person", "Organisation", "LOC")  # a label word, a synonym, a code: all read back by type_code


@dataclass
class DummyOptions(Config):
    """Options of the ``dummy`` backend (tests)."""

    delay: float = option(0.0, "seconds slept per backend call")
    bad_every: int = option(0, "about one answer in N is not JSON (0 = never)")

    def __post_init__(self) -> None:
        if self.delay < 0 or self.bad_every < 0:
            raise ConfigError(f"dummy: delay and bad_every must be >= 0, got {self.delay}, {self.bad_every}")


class DummyBackend:
    """Answers from the last ``Text:`` line of the prompt; every ``bad_every``-th answer is not JSON."""

    Options = DummyOptions
    name = "dummy"
    structured = True

    def __init__(self, model_id: str = "dummy", delay: float = 0.0, bad_every: int = 0) -> None:
        self.options = DummyOptions(delay=delay, bad_every=bad_every)
        self.model_id = model_id
        self.weights = "dummy-v1"
        self.calls = 0  # generate() calls
        self.prompts = 0  # conversations answered
        self.last_schema: dict[str, Any] | None = None  # the schema of the last generate() call

    @classmethod
    def from_config(cls, model: str, common: KnowledgeConfig, options: DummyOptions) -> DummyBackend:
        """The model name is ignored: the dummy always answers as ``dummy``."""
        return cls(delay=options.delay, bad_every=options.bad_every)

    def _read(self, messages: Messages) -> tuple[str, str, list[str]]:
        """The prompt's text, its sha256 and up to three capitalised words of its last ``Text:`` line."""
        content = messages[-1]["content"]
        text_lines = [ln for ln in content.splitlines() if ln.startswith("Text:")]
        text = text_lines[-1][5:].strip() if text_lines else content[-200:]
        digest = hashlib.sha256(content.encode("utf-8")).hexdigest()
        return content, digest, list(dict.fromkeys(_WORD.findall(text)))[:3] or ["The post"]

    def _bad(self, digest: str) -> bool:
        return bool(self.options.bad_every) and int(digest[:8], 16) % self.options.bad_every == 0

    def _hints_answer(self, messages: Messages) -> str:
        _, digest, names = self._read(messages)
        if self._bad(digest):
            return "Sorry, I cannot help with that."
        items = [{"entity": n, "type": _TYPES[i % len(_TYPES)], "about": f"{n} is mentioned in the post."}
                 for i, n in enumerate(names)]
        bad = [{"entity": "Pluto", "type": "planet", "about": ""}] * (int(digest[8], 16) % 2)
        return json.dumps({"entities": items + bad})

    def _answer(self, messages: Messages) -> str:
        content, digest, names = self._read(messages)
        if self._bad(digest):
            return "Sorry, I cannot help with that."
        sentences = [f"{n} is mentioned in the post." for n in names]
        if "Knowledge:" in content:  # reflection: keep all but the last sentence
            kept = [ln[2:].strip() for ln in content.splitlines() if ln.startswith("- ")]
            sentences = kept[:-1] if len(kept) > 1 else kept
        return json.dumps({"sentences": sentences + [""] * (int(digest[8], 16) % 2)})

    def generate(self, batch: list[Messages], sampling: Sampling, schema: dict[str, Any] | None) -> list[Answer]:
        self.calls += 1
        self.prompts += len(batch)
        self.last_schema = schema
        hints = schema is not None and "entities" in schema.get("properties", {})
        if self.options.delay:
            time.sleep(self.options.delay)
        out = []
        for m in batch:
            text = self._hints_answer(m) if hints else self._answer(m)
            out.append(Answer(text, len(text.split())))
        return out

    def close(self) -> None:
        pass
