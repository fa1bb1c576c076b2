"""JMERE / KECPM JSON: ``{"token", "img_id", "label_list": [[{"beg_ent", "sec_ent", "relation"}]]}``.

Accepts a JSON list or JSON Lines, with optional ``image_caption`` (a string or list of strings)
and ``knowledge`` (a list of sentences, or one sentence as a string), so the paper's published
few-shot splits load as they are.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from kecpm.data.errors import BadLines, DataError
from kecpm.data.jsonl import iter_json_lines, json_error
from kecpm.data.lines import first_line, read_text
from kecpm.data.schema import Entity, Post, Triple, post_id, sentence_list, validate_post, word_list

log = logging.getLogger(__name__)


def _records(path: Path, bad: BadLines) -> list[tuple[int, Any]]:
    if first_line(path).lstrip().startswith("["):
        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as e:
            raise DataError(json_error(e), path, e.lineno) from e
        return [(i, r) for i, r in enumerate(data, 1)]
    return list(iter_json_lines(path, bad))


def _caption(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, list):
        return " ".join(str(v) for v in value).strip() or None
    return str(value).strip() or None


def _entity(d: dict[str, Any], tokens: list[str]) -> Entity:
    start, end = (int(x) for x in d["pos"])
    return Entity(start, end, str(d["tags"]), " ".join(tokens[start:end]))


def parse_jmere_record(rec: dict[str, Any]) -> Post:
    """One label_list record as a Post (not yet validated)."""
    tokens = word_list(rec["token"], "token")
    img_id = str(rec.get("img_id") or "")
    triples: list[Triple] = []
    for group in rec.get("label_list") or []:
        for lab in group if isinstance(group, list) else [group]:
            t = Triple(_entity(lab["beg_ent"], tokens), str(lab["relation"]), _entity(lab["sec_ent"], tokens))
            if t not in triples:
                triples.append(t)
    return Post(
        id=post_id(img_id, tokens),
        tokens=tokens,
        img_id=img_id,
        caption=_caption(rec.get("image_caption")),
        knowledge=sentence_list(rec.get("knowledge")),
        triples=triples,
    ).with_entities_from_triples()


def merge_posts(first: Post, other: Post) -> Post:
    """One post from two records of it: triples and knowledge sentences united (each sentence once, in
    first-seen order), first caption kept."""
    triples = first.triples + [t for t in other.triples if t not in first.triples]
    knowledge = first.knowledge
    if other.knowledge is not None:
        knowledge = list(dict.fromkeys([*(knowledge or []), *other.knowledge]))
    return replace(first, triples=triples, knowledge=knowledge,
                   caption=first.caption or other.caption).with_entities_from_triples()


def read_jmere(path: str | Path, bad: BadLines | None = None) -> list[Post]:
    """Read a JMERE/KECPM file. Record numbers in errors are lines for JSONL, list items for JSON.

    Records that repeat a post (same image and text, so the same id) are merged into one post
    (first-seen order): the published test set lists 15 of its 460 posts twice, each time with
    part of the triples.
    """
    path, bad = Path(path), bad or BadLines()
    posts: dict[str, Post] = {}
    merged = 0
    for i, rec in _records(path, bad):
        try:
            if not isinstance(rec, dict):
                raise DataError("expected a JSON object")
            post = parse_jmere_record(rec)
            validate_post(post)
        except DataError as e:
            bad.handle(DataError(e.reason, path, i))
            continue
        except (KeyError, TypeError, ValueError) as e:
            bad.handle(DataError(f"not a valid JMERE record: {type(e).__name__}: {e}", path, i))
            continue
        if post.id in posts:
            posts[post.id] = merge_posts(posts[post.id], post)
            merged += 1
        else:
            posts[post.id] = post
    if merged:
        log.info("%s: merged %d record(s) that repeat a post (same image and text)", path, merged)
    return list(posts.values())
