"""Content-addressed answer cache: SQLite in WAL mode, one commit per batch.

The key is the sha256 of canonical JSON of everything that changes an answer (see ``cache_key``);
a run killed at any moment loses at most the batch in flight. SQLite failures (a full disk, an I/O
error, a file that is not a database) are one ``CacheError`` line naming the database file; a cache
that cannot even be created leaves no empty database behind.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kecpm.hashing import sha256_file
from kecpm.paths import default_cache_dir

DB_NAME = "knowledge.sqlite"
T = TypeVar("T")


class CacheError(OSError):
    """The answer cache cannot be read or written; the message names the database file and what to do."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "answer cache error"


def cache_error(path: Path, e: sqlite3.Error) -> CacheError:
    """One line for a SQLite failure on ``path``: what happened and what to do."""
    text = str(e)
    if "full" in text:
        hint = "free some disk space, or use another --cache-dir"
    elif "I/O" in text or "readonly" in text or "unable to open" in text:
        hint = "check the disk and that the folder is writable, or use another --cache-dir"
    else:
        hint = "move the file away (the cache is rebuilt) or use another --cache-dir"
    return CacheError(f"{path}: answer cache error: {text}; {hint}")


def _guarded(method: Callable[..., T]) -> Callable[..., T]:
    """Turn SQLite errors raised by a cache method into a CacheError naming the database."""

    @functools.wraps(method)
    def wrapper(self: AnswerCache, *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as e:
            raise cache_error(self.path, e) from e

    return wrapper


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def cache_key(
    backend: str,
    model: str,
    weights: str,
    messages: list[dict[str, str]],
    sampling: dict[str, Any],
    schema: dict[str, Any] | None,
    template_text: str,
) -> str:
    """sha256 of backend, model id, weights hash or revision, messages, sampling, schema and template.

    Never pass secrets (API keys, auth headers) here.
    """
    payload = {
        "backend": backend, "model": model, "weights": weights, "messages": messages,
        "sampling": sampling, "schema": schema, "template": template_text,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


@dataclass
class Entry:
    text: str
    tokens: int


class AnswerCache:
    """SQLite store of ``key -> (model, answer text, tokens generated)``."""

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.path = self.dir / DB_NAME
        with self._creating():
            self.db = sqlite3.connect(str(self.path), timeout=30)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                "answer TEXT NOT NULL, tokens INTEGER NOT NULL, created REAL NOT NULL)"
            )
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS weights (path TEXT PRIMARY KEY, size INTEGER, mtime REAL, sha256 TEXT)"
            )
            self.db.execute("CREATE TABLE IF NOT EXISTS embeddings (key TEXT PRIMARY KEY, vector BLOB NOT NULL)")
            self.db.commit()

    @contextmanager
    def _creating(self) -> Iterator[None]:
        """Open (or create) the database; on failure close it and, if this call created it and nothing
        was written to it, remove it (no 0-byte database is left behind); then raise a CacheError."""
        existed = self.path.exists()
        try:
            yield
        except sqlite3.Error as e:
            if getattr(self, "db", None) is not None:
                self.db.close()
            if not existed and self.path.exists() and self.path.stat().st_size == 0:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
            raise cache_error(self.path, e) from e

    @_guarded
    def get_vectors(self, keys: list[str]) -> dict[str, bytes]:
        """Stored embedding vectors (raw float32 bytes) by key."""
        found: dict[str, bytes] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", chunk))  # noqa: S608
        return found

    @_guarded
    def put_vectors(self, items: Iterable[tuple[str, bytes]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", list(items))

    @_guarded
    def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, Entry] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            for k, text, tokens in self.db.execute(
                f"SELECT key, answer, tokens FROM answers WHERE key IN ({marks})", chunk  # noqa: S608
            ):
                found[k] = Entry(text, tokens)
        return found

    @_guarded
    def put_many(self, model: str, items: Iterable[tuple[str, str, int]]) -> None:
        """Store ``(key, answer, tokens)`` items in one transaction."""
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                [(k, model, text, int(tok), now) for k, text, tok in items],
            )

    @_guarded
    def stats(self) -> list[tuple[str, int, int]]:
        """``(model, entries, bytes of answers)`` per model."""
        rows = self.db.execute(
            "SELECT model, COUNT(*), COALESCE(SUM(LENGTH(answer)), 0) FROM answers GROUP BY model ORDER BY model"
        )
        return [(m, n, b) for m, n, b in rows]

    @_guarded
    def clear(self, model: str | None = None) -> int:
        """Delete all entries (or one model's); return how many."""
        with self.db:
            if model is None:
                n = self.db.execute("DELETE FROM answers").rowcount
                self.db.execute("DELETE FROM weights")
                self.db.execute("DELETE FROM embeddings")
            else:
                n = self.db.execute("DELETE FROM answers WHERE model = ?", (model,)).rowcount
        self.db.execute("VACUUM")
        return n

    @_guarded
    def file_sha256(self, path: Path) -> str:
        """sha256 of a file, memoised by path, size and mtime."""
        st = path.stat()
        row = self.db.execute("SELECT size, mtime, sha256 FROM weights WHERE path = ?", (str(path),)).fetchone()
        if row and row[0] == st.st_size and row[1] == st.st_mtime:
            return row[2]
        digest = sha256_file(path)
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO weights VALUES (?, ?, ?, ?)", (str(path), st.st_size, st.st_mtime, digest))
        return digest

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> AnswerCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
