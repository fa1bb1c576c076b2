"""Content-addressed answer cache: SQLite in WAL mode, one commit per batch.

The key is the sha256 of canonical JSON of everything that changes an answer (see ``cache_key``);
a run killed at any moment loses at most the batch in flight.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kecpm.hashing import sha256_file
from kecpm.paths import default_cache_dir

DB_NAME = "knowledge.sqlite"


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

    def get_vectors(self, keys: list[str]) -> dict[str, bytes]:
        """Stored embedding vectors (raw float32 bytes) by key."""
        found: dict[str, bytes] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self.db.execute(f"SELECT key, vector FROM embeddings WHERE key IN ({marks})", chunk))  # noqa: S608
        return found

    def put_vectors(self, items: Iterable[tuple[str, bytes]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?)", list(items))

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

    def put_many(self, model: str, items: Iterable[tuple[str, str, int]]) -> None:
        """Store ``(key, answer, tokens)`` items in one transaction."""
        now = time.time()
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?)",
                [(k, model, text, int(tok), now) for k, text, tok in items],
            )

    def stats(self) -> list[tuple[str, int, int]]:
        """``(model, entries, bytes of answers)`` per model."""
        rows = self.db.execute(
            "SELECT model, COUNT(*), COALESCE(SUM(LENGTH(answer)), 0) FROM answers GROUP BY model ORDER BY model"
        )
        return [(m, n, b) for m, n, b in rows]

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
