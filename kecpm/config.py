"""Config dataclasses: help text per field, validation on construction, saved as JSON beside outputs.

Subclass ``Config`` as a ``@dataclass``; declare fields with ``option(default, "help")`` and
validate in ``__post_init__`` by raising ``ConfigError``.
"""

from __future__ import annotations

import dataclasses
import json
import types
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, Union, get_args, get_origin, get_type_hints

from kecpm.data.jsonl import atomic_write
from kecpm.data.lines import read_text

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

    def non_default(self, baseline: dict[str, Any] | None = None) -> dict[str, Any]:
        """The options that differ from their defaults (as in ``to_dict``): a key for caches that stays
        the same when a new option with a default is added. ``baseline`` overrides some defaults (the
        values a default had before it changed, so that cache keys survive the change)."""
        defaults = {k: _plain(v) for k, v in {**self.defaults(), **(baseline or {})}.items()}
        return {k: v for k, v in self.to_dict().items() if k not in defaults or v != defaults[k]}

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
    def _typed(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with every value checked against (and, for enums and int -> float, converted to)
        its field's type; a mismatch is a ConfigError naming the option, the value and the type."""
        hints = get_type_hints(cls)
        return {k: _coerce(f"{cls.__name__}.{k}", v, hints[k]) for k, v in data.items()}

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any]) -> C:
        """Build from a dict; unknown keys and values of the wrong type are errors naming them. Keys of the
        class's ``RETIRED`` options (removed after configs were saved with them) are dropped when they hold the
        value that behaves as today's code does, and an error otherwise."""
        retired = getattr(cls, "RETIRED", {})
        if used := sorted(k for k in data if k in retired and data[k] != retired[k]):
            raise ConfigError(f"{cls.__name__}: {', '.join(f'{k}={data[k]!r}' for k in used)}: option(s) removed from "
                              "kecpm (docs/benchmarks.md says why); this build cannot rebuild what they made")
        data = {k: v for k, v in data.items() if k not in retired}
        cls._check_names(data)
        return cls(**cls._typed(data))

    @classmethod
    def load(cls: type[C], path: str | Path) -> C:
        """Read a saved config; keys missing from old files take the class's ``SAVED_DEFAULTS``, if any."""
        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from e
        return cls.from_dict({**getattr(cls, "SAVED_DEFAULTS", {}), **data})

    def override(self: C, changes: dict[str, Any]) -> C:
        """A copy with ``changes`` applied and validated; unknown names are an error naming them."""
        self._check_names(changes)
        return dataclasses.replace(self, **self._typed(changes))

    def replace(self: C, **changes: Any) -> C:
        return dataclasses.replace(self, **changes)

    @classmethod
    def help(cls) -> dict[str, str]:
        return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """Each option's default value."""
        out = {}
        for f in dataclasses.fields(cls):
            if f.default is not dataclasses.MISSING:
                out[f.name] = f.default
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = f.default_factory()
        return out


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def _coerce(name: str, value: Any, hint: Any) -> Any:
    """``value`` as type ``hint`` (bool, int, float, str, Enum, list/dict, or an Optional of these)."""
    origin, args = get_origin(hint), get_args(hint)
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(name, value, inner[0]) if len(inner) == 1 else value
    ok: bool
    if isinstance(hint, type) and issubclass(hint, Enum):
        try:
            return value if isinstance(value, hint) else hint(value)
        except ValueError:
            raise ConfigError(f"{name}: {value!r} is not one of {', '.join(m.value for m in hint)}") from None
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif hint is str:
        ok = isinstance(value, str)
    elif origin in (list, dict) or hint in (list, dict):
        ok = isinstance(value, origin or hint)
    else:
        ok = True
    if not ok:
        raise ConfigError(f"{name}: expected {_type_name(hint)}, got {value!r}")
    return value


def read_config_file(path: str | Path, sections: tuple[str, ...], ignore: tuple[str, ...] = ("run",)) -> dict[str, dict[str, Any]]:
    """A JSON config file of sections (``{"model": {...}, "train": {...}}``, as saved beside every output);
    sections named in ``ignore`` (run metadata) are skipped, any other unknown section is an error."""
    path = Path(path)
    try:
        data = json.loads(read_text(path))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: config file not found") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from e
    if not isinstance(data, dict) or not all(isinstance(v, dict) for k, v in data.items() if k not in ignore):
        raise ConfigError(f"{path}: expected a JSON object of sections {', '.join(sections)}, each an object")
    unknown = sorted(set(data) - set(sections) - set(ignore))
    if unknown:
        raise ConfigError(f"{path}: unknown section(s) {', '.join(unknown)}; known: {', '.join(sections)}")
    return {s: dict(data.get(s, {})) for s in sections}


def merge_sections(config_file: str | Path | None, items: list[str], sections: tuple[str, ...],
                   flags: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Options per section, later sources winning: the ``--config`` file, then the command's own flags
    that were given (``None`` values are dropped: not given), then the ``--set`` items. Build each
    config from its section with ``Cls.from_dict`` (the class's defaults fill the rest)."""
    out: dict[str, dict[str, Any]] = {s: {} for s in sections}
    given = {s: {k: v for k, v in (flags or {}).get(s, {}).items() if v is not None} for s in sections}
    layers = [read_config_file(config_file, sections)] if config_file else []
    for layer in [*layers, given, parse_overrides(items, sections)]:
        for s in sections:
            out[s].update(layer.get(s, {}))
    return out


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
