"""Errors for bad input lines (and a policy that raises or skips and counts them), and for outputs that cannot be written."""

from __future__ import annotations

import errno
from dataclasses import dataclass, field
from pathlib import Path


class DataError(ValueError):
    """A problem with one record of an input file; the message names file and line."""

    def __init__(self, message: str, path: str | Path | None = None, line: int | None = None) -> None:
        self.path = str(path) if path is not None else None
        self.line = line
        self.reason = message
        where = self.path or ""
        if line is not None:
            where = f"{where}:{line}" if where else f"line {line}"
        super().__init__(f"{where}: {message}" if where else message)


# errno values that mean "this disk cannot take the file", not "this program is wrong"
DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EROFS})


class WriteError(OSError):
    """An output file cannot be written (full disk, quota, read-only); the message names the file."""

    def __init__(self, path: str | Path, cause: OSError) -> None:
        super().__init__(cause.errno, cause.strerror or str(cause))
        self.filename = str(path)
        hint = "free some disk space or write elsewhere" if cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG) \
            else "check the disk and that the folder is writable"
        self.message = f"{path}: cannot write ({cause.strerror or cause}); {hint}; any earlier file is unchanged"

    def __str__(self) -> str:
        return self.message


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
