"""Canonical JSON Lines: one post per line (see ``Post.to_dict``), written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, Any

from kecpm.data.errors import DISK_ERRNOS, BadLines, DataError, WriteError
from kecpm.data.lines import iter_lines
from kecpm.data.schema import Post, validate_post


@contextmanager
def atomic_write(path: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temp file beside ``path`` and rename it into place only when the block succeeds.

    A crash, a full disk or an exception leaves any earlier file at ``path`` untouched.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        if e.errno in DISK_ERRNOS:
            raise WriteError(path, e) from e
        raise
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.errno in DISK_ERRNOS and not isinstance(e, WriteError):
            raise WriteError(path, e) from e
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_files(contents: Mapping[Path, str]) -> None:
    """Write several text files as one output: every file is written and synced to its temp file
    before any is renamed into place, so a full disk leaves all the earlier files as they were."""
    with ExitStack() as stack:
        handles = []
        for path, text in contents.items():
            fh = stack.enter_context(atomic_write(path))
            fh.write(text)
            handles.append((path, fh))
        for path, fh in handles:  # a failure here is still inside every atomic_write: nothing renamed
            try:
                fh.flush()
                os.fsync(fh.fileno())
            except OSError as e:
                if e.errno in DISK_ERRNOS:
                    raise WriteError(path, e) from e
                raise


def jsonl_text(records: Iterable[Any]) -> str:
    """Posts (or plain dicts) as canonical JSON Lines text."""
    return "".join(dumps_line(r.to_dict() if isinstance(r, Post) else r) + "\n" for r in records)


def dumps_line(obj: Any) -> str:
    """Canonical one-line JSON (UTF-8 kept, no spaces), so equal data gives equal bytes."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def write_jsonl(path: str | Path, records: Iterable[Any]) -> int:
    """Atomically write posts (or plain dicts) as JSON Lines; return the number of lines."""
    n = 0
    with atomic_write(path) as fh:
        for r in records:
            fh.write(dumps_line(r.to_dict() if isinstance(r, Post) else r) + "\n")
            n += 1
    return n


def iter_json_lines(path: str | Path, bad: BadLines | None = None) -> Iterator[tuple[int, Any]]:
    """Yield ``(line_number, parsed_object)`` for each non-blank line; bad JSON goes to ``bad``."""
    bad = bad or BadLines()
    for i, line in iter_lines(path, bad):
        if not line.strip():
            continue
        try:
            yield i, json.loads(line.rstrip("\r\n"))  # so an error at the end has this line's column
        except json.JSONDecodeError as e:
            bad.handle(DataError(json_error(e), path, i))


def read_json(path: str | Path) -> Any:
    """One JSON document (results.json, config.json); bad JSON is a DataError naming the file and line."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(json_error(e), path, e.lineno) from e


def json_error(e: json.JSONDecodeError) -> str:
    """``not valid JSON: Expecting value (column 7)`` (json's own messages may end in "at")."""
    return f"not valid JSON: {e.msg} (column {e.colno})"


def read_jsonl(path: str | Path, bad: BadLines | None = None, validate: bool = True,
               spans: bool = True, parse: Callable[[dict[str, Any]], Post] | None = None) -> list[Post]:
    """Read canonical JSONL posts; each bad line raises (or is skipped and counted via ``bad``).

    ``spans=False`` accepts entities without valid offsets (name-only predictions). ``parse`` turns
    one JSON object into a validated Post instead of ``Post.from_dict`` + ``validate_post``.
    """
    bad = bad or BadLines()
    posts = []
    for i, obj in iter_json_lines(path, bad):
        try:
            if not isinstance(obj, dict):
                raise DataError("expected a JSON object")
            if parse is not None:
                post = parse(obj)
            else:
                post = Post.from_dict(obj)
                if validate:
                    validate_post(post, spans=spans)
        except DataError as e:
            bad.handle(DataError(e.reason, path, i))
            continue
        except (KeyError, TypeError, ValueError) as e:
            bad.handle(DataError(f"bad post record: {type(e).__name__}: {e}", path, i))
            continue
        posts.append(post)
    return posts
