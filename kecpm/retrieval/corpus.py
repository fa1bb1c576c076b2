"""A passage corpus for retrieval: read from JSONL passages, any file of posts, or plain text.

Accepted files (``read_corpus``):

- JSONL of passages: one object per line with a ``text`` field and, optionally, an ``id`` (the post
  the passage comes from: a post never retrieves a passage with its own id);
- any file ``kecpm.data.readers.read_posts`` reads (MNRE ``.txt``, canonical JSONL, JMERE JSON, CoNLL):
  one passage per post, its words joined by spaces, the post id as the passage id (labels are ignored);
- any other ``.txt`` (or text) file: one passage per non-blank line, no id.

An empty corpus is a DataError naming the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from kecpm.data.errors import DataError
from kecpm.data.jsonl import json_error
from kecpm.data.lines import first_line, iter_lines
from kecpm.data.readers import detect_format, read_posts

_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Passage:
    """One retrievable passage; ``id`` names the post it comes from ("" when unknown)."""

    text: str
    id: str = ""


def normalise_text(text: str) -> str:
    """Lower case, whitespace collapsed, trimmed: how passages and posts are compared for identity."""
    return _SPACE.sub(" ", text).strip().lower()


def _is_passage_jsonl(path: Path) -> bool:
    """Whether the first record is a JSON object with ``text`` and no ``tokens`` (passages, not posts)."""
    try:
        obj = json.loads(first_line(path))
    except json.JSONDecodeError:
        return False
    return isinstance(obj, dict) and "text" in obj and "tokens" not in obj


def _passage_lines(path: Path) -> list[Passage]:
    out = []
    for i, line in iter_lines(path):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataError(json_error(e), path, i) from None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            raise DataError('expected a JSON object with a "text" string (a passage)', path, i)
        if obj["text"].strip():
            out.append(Passage(obj["text"].strip(), str(obj.get("id") or "")))
    return out


def read_corpus(path: str | Path) -> list[Passage]:
    """The passages of ``path`` (see the module docstring for the accepted files), in file order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: retrieval corpus not found")
    if path.is_dir():
        raise DataError("is a folder; the retrieval corpus is one file (JSONL passages, posts or text lines)", path)
    if not first_line(path).strip():
        raise DataError("the retrieval corpus is empty; give a file with one passage per line", path)
    if _is_passage_jsonl(path):
        passages = _passage_lines(path)
    elif path.suffix.lower() == ".txt" and detect_format(path) not in ("mnre", "conll"):
        passages = [Passage(line.strip()) for _, line in iter_lines(path) if line.strip()]
    else:
        passages = [Passage(p.text, p.id) for p in read_posts(path) if p.tokens]
    if not passages:
        raise DataError("the retrieval corpus has no passages (every text is empty)", path)
    return passages
