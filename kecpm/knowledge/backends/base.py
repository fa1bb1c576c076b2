"""The backend interface: a batch of chat conversations in, one answer text per conversation out.

A backend class also carries its options (``Options``: a ``kecpm.config.Config`` dataclass, the
``backend`` section of ``knowledge.config.json``) and builds itself with ``from_config``; see
``kecpm.knowledge.backends`` for the registry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from kecpm.config import Config

Messages = list[dict[str, str]]


class BackendError(RuntimeError):
    """A backend cannot run (missing package, unreachable endpoint, failed start-up)."""


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters; all of them are part of the cache key."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 128
    seed: int = 0
    repetition_penalty: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p, "max_new_tokens": self.max_new_tokens,
                "seed": self.seed, "repetition_penalty": self.repetition_penalty}


@dataclass
class Answer:
    text: str
    tokens: int = 0


class Backend(Protocol):
    """What the pipeline needs from a backend instance."""

    name: str
    model_id: str  # part of the cache key
    weights: str  # hash of weights or revision; part of the cache key
    structured: bool  # whether the backend enforces the JSON schema while decoding
    options: Config  # its backend-specific options, saved beside the output

    def generate(self, batch: list[Messages], sampling: Sampling, schema: dict[str, Any] | None) -> list[Answer]:
        ...

    def close(self) -> None:
        ...
