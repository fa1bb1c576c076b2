"""Read posts from any supported file, choosing the reader by file name and content; a file without
posts is an error."""

from __future__ import annotations

from pathlib import Path

from kecpm.data.conll import read_conll
from kecpm.data.errors import BadLines, DataError
from kecpm.data.jmere import read_jmere
from kecpm.data.jsonl import read_jsonl
from kecpm.data.lines import first_line
from kecpm.data.mnre import read_mnre
from kecpm.data.schema import Post

FORMATS = ("auto", "jsonl", "jmere", "mnre", "conll")


def detect_format(path: Path) -> str:
    """Guess the format: MNRE ``.txt`` dict literals, CoNLL ``IMGID:``, canonical JSONL, or JMERE JSON."""
    first = first_line(path).lstrip()
    if first.startswith("IMGID:"):
        return "conll"
    if first.startswith("{'") or first.startswith("{ '"):
        return "mnre"
    if first.startswith("{") and '"tokens"' in first:
        return "jsonl"
    return "jmere"


def read_posts(path: str | Path, fmt: str = "auto", bad: BadLines | None = None) -> list[Post]:
    """Read posts from ``path`` in ``fmt`` (one of FORMATS)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: file not found")
    if path.is_dir():
        raise DataError("is a folder, not a file of posts", path)
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    reader = {"jsonl": read_jsonl, "jmere": read_jmere, "mnre": read_mnre, "conll": read_conll}[fmt]
    bad = bad or BadLines()
    return require_posts(reader(path, bad=bad), path, bad)


def require_posts(posts: list[Post], path: str | Path, bad: BadLines | None = None) -> list[Post]:
    """``posts`` unless there are none: an empty file, or one whose records were all skipped as bad,
    is a DataError naming the file (an empty input would otherwise give an empty output, exit 0)."""
    if posts:
        return posts
    if bad is not None and bad.count:
        first = bad.errors[0]
        where = f"line {first.line}" if first.line is not None else "the first"
        raise DataError(f"no posts left: all {bad.count} record(s) are bad ({where}: {first.reason})", path)
    if Path(path).is_file() and not first_line(path).strip():
        raise DataError("the file is empty; give a file with one post per line", path)
    raise DataError("no posts in this file (no record holds a post)", path)
