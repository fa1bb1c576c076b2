"""Read posts from any supported file, choosing the reader by file name and content."""

from __future__ import annotations

from pathlib import Path

from kecpm.data.conll import read_conll
from kecpm.data.errors import BadLines
from kecpm.data.jmere import read_jmere
from kecpm.data.jsonl import read_jsonl
from kecpm.data.mnre import read_mnre
from kecpm.data.schema import Post

FORMATS = ("auto", "jsonl", "jmere", "mnre", "conll")


def detect_format(path: Path) -> str:
    """Guess the format: MNRE ``.txt`` dict literals, CoNLL ``IMGID:``, canonical JSONL, or JMERE JSON."""
    with open(path, encoding="utf-8") as fh:
        first = next((line for line in fh if line.strip()), "").lstrip()
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
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    reader = {"jsonl": read_jsonl, "jmere": read_jmere, "mnre": read_mnre, "conll": read_conll}[fmt]
    return reader(path, bad=bad)
