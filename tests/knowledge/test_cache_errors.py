"""SQLite failures of the answer cache are one CacheError line naming the database, never a traceback."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kecpm.cli import app
from kecpm.knowledge.cache import DB_NAME, AnswerCache, CacheError


def test_database_full_is_a_cache_error_naming_the_file(tmp_path: Path) -> None:
    with AnswerCache(tmp_path) as cache:
        cache.put_many("m", [("k0", "small", 1)])
        cache.db.execute("PRAGMA max_page_count = 8")  # what a full disk looks like to SQLite
        with pytest.raises(CacheError, match=rf"{DB_NAME}: answer cache error: database or disk is full; free"):
            cache.put_many("m", [(f"k{i}", "x" * 4000, 1) for i in range(1, 40)])
        assert cache.get_many(["k0"])["k0"].text == "small"  # the failed batch rolled back, the rest kept


class _BrokenDisk:
    """A connection whose every statement fails as SQLite does on a failing disk."""

    def execute(self, *args: Any) -> Any:
        raise sqlite3.OperationalError("disk I/O error")

    executemany = execute

    def __enter__(self) -> _BrokenDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.mark.parametrize("call", [
    lambda c: c.put_many("m", [("k", "a", 1)]), lambda c: c.get_many(["k"]), lambda c: c.stats(),
    lambda c: c.get_vectors(["k"]), lambda c: c.put_vectors([("k", b"\0")]), lambda c: c.clear(),
])
def test_disk_io_error_is_a_cache_error(tmp_path: Path, call: Any) -> None:
    cache = AnswerCache(tmp_path)
    cache.db.close()
    cache.db = _BrokenDisk()  # type: ignore[assignment]
    with pytest.raises(CacheError, match=r"answer cache error: disk I/O error; check the disk"):
        call(cache)


def test_a_file_that_is_not_a_database_is_one_line_and_kept(tmp_path: Path) -> None:
    (tmp_path / DB_NAME).write_bytes(b"this is not SQLite" * 100)
    result = CliRunner().invoke(app, ["cache", "stats", "--cache-dir", str(tmp_path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert f"error: {tmp_path / DB_NAME}: answer cache error: file is not a database" in result.output
    assert (tmp_path / DB_NAME).read_bytes().startswith(b"this is not SQLite")  # the user's file, untouched


def test_full_disk_leaves_no_empty_database(small_disk: Path) -> None:
    (small_disk / "filler").write_bytes(b"\0" * 64 * 1024)  # the disk is full
    result = CliRunner().invoke(app, ["cache", "stats", "--cache-dir", str(small_disk / "cache")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert f"{small_disk / 'cache' / DB_NAME}: answer cache error: database or disk is full" in result.output
    assert list((small_disk / "cache").iterdir()) == []  # no 0-byte knowledge.sqlite left behind
