"""Posts as users give them to ``predict``, ``gen-knowledge`` and ``data stats``: one reader for all three.

Accepted: JSON Lines whose records hold ``tokens`` (canonical posts), ``text`` (raw text, split by
``kecpm.data.tokenize``) or ``token`` (JMERE records); plain text, one post per line (any file
that is not ``.jsonl`` and does not look like another format); every file ``read_posts`` reads
(MNRE, JMERE JSON, CoNLL); and stdin (``-``), JSON Lines when its first line is an object, else
plain text. Posts from raw text keep their text and tokens' character offsets (``Inputs.texts``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kecpm.data.errors import BadLines, DataError
from kecpm.data.images import resolve_images
from kecpm.data.jmere import parse_jmere_record
from kecpm.data.jsonl import json_error
from kecpm.data.lines import decode_error, first_line, iter_lines
from kecpm.data.readers import FORMATS, detect_format, read_posts, require_posts
from kecpm.data.schema import RELATIONS, Post, hint_list, post_id, sentence_list, validate_post
from kecpm.data.tokenize import Token, tokenize

STDIN = "-"
INPUT_FORMATS = (*FORMATS, "text")


@dataclass
class Inputs:
    """The posts read, and for those given as raw text, the text and its tokens with character offsets."""

    posts: list[Post]
    texts: dict[str, tuple[str, list[Token]]] = field(default_factory=dict)


def post_from_text(text: str, rec: dict[str, Any] | None = None) -> tuple[Post, list[Token]]:
    """A post from raw ``text`` (tokenized) with the optional fields of ``rec`` (``id``, ``img_id``,
    ``image_path``, ``caption``, ``knowledge``, ``hints``), and its tokens."""
    rec = rec or {}
    tokens = tokenize(text)
    if not tokens:
        raise DataError("empty text")
    words = [t.text for t in tokens]
    img_id = str(rec.get("img_id") or "")
    post = Post(id=str(rec.get("id") or post_id(img_id, words)), tokens=words, img_id=img_id,
                image_path=rec.get("image_path"), caption=rec.get("caption"),
                knowledge=sentence_list(rec.get("knowledge")), hints=hint_list(rec.get("hints")))
    return post, tokens


def record_post(rec: Any, labels: bool = True) -> tuple[Post, list[Token] | None]:
    """One JSON record as a validated post (tokens only for a ``text`` record); ``labels=False``
    accepts any relation name (inputs to predict)."""
    if not isinstance(rec, dict):
        raise DataError("expected a JSON object")
    if "tokens" in rec:
        post, tokens = Post.from_dict(rec), None
    elif "text" in rec:
        if not isinstance(rec["text"], str):
            raise DataError(f'"text" must be a string, got {type(rec["text"]).__name__}')
        post, tokens = post_from_text(rec["text"], rec)
    elif "token" in rec:
        post, tokens = parse_jmere_record(rec), None
    else:
        raise DataError('a post needs "tokens" (a list of words) or "text" (a string)')
    validate_post(post, relations=RELATIONS if labels else None)
    return post, tokens


def sniff(path: Path) -> str:
    """The input format of ``path``: one of ``read_posts``' formats, ``records`` (JSON Lines of posts:
    every ``.jsonl`` file) or ``text`` (one post per line)."""
    fmt = detect_format(path)
    if fmt in ("mnre", "conll"):
        return fmt
    if path.suffix == ".jsonl":
        return "records"
    first = first_line(path).lstrip()
    if path.suffix == ".json" or first.startswith("["):
        return "jmere"
    if first.startswith("{"):
        jmere_lines = '"token"' in first and '"tokens"' not in first and '"text"' not in first
        return "jmere" if jmere_lines else "records"
    return "text"


def _stdin_lines(stream: IO[bytes], bad: BadLines) -> Iterator[tuple[int, str]]:
    for i, raw in enumerate(stream, 1):
        try:
            yield i, raw.decode("utf-8-sig" if i == 1 else "utf-8")
        except UnicodeDecodeError as e:
            bad.handle(decode_error(e, "<stdin>", i))


def _from_lines(lines: list[tuple[int, str]], kind: str, name: str, bad: BadLines, labels: bool) -> Inputs:
    import json

    out = Inputs([])
    for i, line in lines:
        if not line.strip():
            continue
        try:
            if kind == "text":
                post, tokens = post_from_text(line.strip())
            else:
                try:
                    obj = json.loads(line.rstrip("\r\n"))
                except json.JSONDecodeError as e:
                    raise DataError(json_error(e)) from None
                post, tokens = record_post(obj, labels)
        except DataError as e:
            bad.handle(DataError(e.reason, name, i))
            continue
        except (KeyError, TypeError, ValueError) as e:
            bad.handle(DataError(f"bad post record: {type(e).__name__}: {e}", name, i))
            continue
        out.posts.append(post)
        if tokens is not None:
            out.texts[post.id] = (line.strip() if kind == "text" else obj["text"], tokens)
    return out


def read_inputs(source: str | Path, bad: BadLines | None = None, fmt: str = "auto", labels: bool = True,
                image_dir: str | Path | None = None, stdin: IO[bytes] | None = None) -> Inputs:
    """The posts of a file (or ``-``: ``stdin``, default the process's) in ``fmt`` (one of INPUT_FORMATS,
    ``auto`` guesses); bad records go to ``bad``; no post at all is a DataError. ``image_dir``: each
    post's ``img_id`` names its image file there (``kecpm.data.images.resolve_images``)."""
    bad = bad or BadLines()
    if fmt not in INPUT_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(INPUT_FORMATS)}")
    if str(source) == STDIN:
        lines = list(_stdin_lines(stdin or sys.stdin.buffer, bad))
        first = next((line.lstrip() for _, line in lines if line.strip()), "")
        kind = fmt if fmt in ("text", "jsonl") else "records" if first.startswith("{") else "text"
        inputs = _from_lines(lines, "text" if kind == "text" else "records", "<stdin>", bad, labels)
        if not inputs.posts and not bad.count:
            raise DataError("nothing on stdin; pipe posts in, one per line (text or JSON)", "<stdin>")
        require_posts(inputs.posts, "<stdin>", bad)
    else:
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: file not found")
        if path.is_dir():
            raise DataError("is a folder, not a file of posts", path)
        kind = sniff(path) if fmt == "auto" else "records" if fmt == "jsonl" else fmt
        if kind in ("records", "text"):
            inputs = _from_lines(list(iter_lines(path, bad)), kind, str(path), bad, labels)
            require_posts(inputs.posts, path, bad)
        else:
            inputs = Inputs(read_posts(path, kind, bad))
    if image_dir is not None:
        inputs.posts = resolve_images(inputs.posts, image_dir)
    return inputs
