"""Text lines of an input file, decoded one by one so a bad byte names its file and line.

Reading a file in text mode fails on the first non-UTF-8 byte with ``'utf-8' codec can't decode
byte 0xe9 in position 1032`` and no file or line; here that line is a ``DataError`` handed to a
``BadLines`` policy, so ``--skip-bad`` skips and counts it like any other bad line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from kecpm.data.errors import BadLines, DataError

BOM = b"\xef\xbb\xbf"


def decode_error(e: UnicodeDecodeError, path: str | Path, line: int | None) -> DataError:
    """A one-line DataError for an undecodable byte: file, line, byte, column and what to do."""
    byte = e.object[e.start : e.start + 1].hex()
    return DataError(f"not UTF-8 text (byte 0x{byte} at column {e.start + 1}); re-save the file as UTF-8",
                     path, line)


def iter_lines(path: str | Path, bad: BadLines | None = None) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for every line of ``path`` (newline kept, a leading BOM dropped);
    a line that is not UTF-8 goes to ``bad`` (raised, or skipped and counted)."""
    bad = bad or BadLines()
    with open(path, "rb") as fh:
        for i, raw in enumerate(fh, 1):
            if i == 1 and raw.startswith(BOM):
                raw = raw[len(BOM):]
            try:
                yield i, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                bad.handle(decode_error(e, path, i))


def read_text(path: str | Path) -> str:
    """The whole file as UTF-8 text; a bad byte is a DataError naming the file and its line."""
    data = Path(path).read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise decode_error(_on_line(e, data), path, data.count(b"\n", 0, e.start) + 1) from None


def _on_line(e: UnicodeDecodeError, data: bytes) -> UnicodeDecodeError:
    """``e`` with its position made relative to the start of its line (for the column)."""
    start = data.rfind(b"\n", 0, e.start) + 1
    return UnicodeDecodeError(e.encoding, data[start:], e.start - start, e.end - start, e.reason)


def first_line(path: str | Path) -> str:
    """The first non-blank line (undecodable bytes replaced: this only guesses a format)."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        return next((line for line in fh if line.strip()), "")
