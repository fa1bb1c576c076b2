"""Config dataclasses: help text per field, validation on construction, saved as JSON beside outputs.

Subclass ``Config`` as a ``@dataclass``; declare fields with ``option(default, "help")`` and
validate in ``__post_init__`` by raising ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
import json
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, get_type_hints

from kecpm.data.jsonl import atomic_write

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    """A config value is invalid; the message names the field."""


def option(default: Any, help: str, **kwargs: Any) -> Any:
    """A dataclass field with help text (mutable defaults are copied per instance)."""
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata={"help": help}, **kwargs)
    return dataclasses.field(default=default, metadata={"help": help}, **kwargs)


def _plain(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


@dataclasses.dataclass
class Config:
    """Base class of all configs."""

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    def save(self, path: str | Path) -> None:
        """Write the config as indented JSON, atomically."""
        with atomic_write(path) as fh:
            json.dump(self.to_dict(), fh, indent=2, sort_keys=True)
            fh.write("\n")

    @classmethod
    def _check_names(cls, data: dict[str, Any]) -> None:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"{cls.__name__}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build from a dict; unknown keys are an error naming them."""
        cls._check_names(data)
        hints = get_type_hints(cls)
        values = {}
        for k, v in data.items():
            hint = hints.get(k)
            if isinstance(hint, type) and issubclass(hint, Enum) and not isinstance(v, hint):
                v = hint(v)
            values[k] = v
        return cls(**values)

    @classmethod
    def load(cls: type[C], path: str | Path) -> C:
        """Read a saved config; keys missing from old files take the class's ``SAVED_DEFAULTS``, if any."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from e
        return cls.from_dict({**getattr(cls, "SAVED_DEFAULTS", {}), **data})

    def override(self: C, changes: dict[str, Any]) -> C:
        """A copy with ``changes`` applied and validated; unknown names are an error naming them."""
        self._check_names(changes)
        return dataclasses.replace(self, **changes)

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}


def parse_overrides(items: list[str], sections: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """``["model.span_none_weight=0.5", "train.lr_gate=0.02"]`` -> ``{"model": {...}, "train": {...}}``.

    Values are read as JSON (numbers, true/false, lists) and fall back to the plain string."""
    out: dict[str, dict[str, Any]] = {s: {} for s in sections}
    for item in items:
        key, sep, raw = item.partition("=")
        section, dot, name = key.strip().partition(".")
        if not sep or not dot or section not in out or not name:
            raise ConfigError(f"--set {item!r}: expected <{'|'.join(sections)}>.<option>=<value>")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out[section][name] = value
    return out
