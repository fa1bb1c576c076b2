"""Errors for bad input lines, and a policy that raises or skips and counts them."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class DataError(ValueError):
    """A problem with one record of an input file; the message names file and line."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")


@dataclass
class BadLines:
    """What to do with a bad record: raise (default) or skip it and keep the error for a report."""

    skip: bool = False
    errors: list[DataError] = field(default_factory=list)

    def handle(self, error: DataError) -> None:
        if not self.skip:
            raise error
        self.errors.append(error)

    @property
    def count(self) -> int:
        return len(self.errors)
