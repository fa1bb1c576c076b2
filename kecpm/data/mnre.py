"""MNRE v2 raw text files: one Python dict literal per line, one entity pair per line.

Entity types come from the relation label (``/per/org/member_of``: head ``per``, tail ``org``).
Pairs labelled ``None`` carry no triple. Pairs with the same tokens and image form one JMERE post.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from kecpm.data.errors import BadLines, DataError
from kecpm.data.lines import iter_lines
from kecpm.data.schema import ENTITY_TYPES, RELATIONS, Entity, Post, Triple, post_id, validate_post, word_list

MNRE_FILES = {"train": "mnre_train.txt", "val": "mnre_val .txt", "test": "mnre_test.txt"}


def parse_relation_label(label: str) -> tuple[str, str, str] | None:
    """``/per/org/member_of`` -> ``("per", "org", "member_of")``; ``None`` -> None."""
    if label == "None":
        return None
    parts = label.strip("/").split("/")
    if len(parts) != 3:
        raise DataError(f"relation label {label!r} is not of the form /head_type/tail_type/relation")
    head, tail, rel = parts
    for t in (head, tail):
        if t not in ENTITY_TYPES:
            raise DataError(f"unknown entity type {t!r} in relation label {label!r}")
    if rel not in RELATIONS:
        raise DataError(f"unknown relation {rel!r} in relation label {label!r}")
    return head, tail, rel


def _entity(d: Any, etype: str, tokens: list[str]) -> Entity:
    start, end = (int(x) for x in d["pos"])
    return Entity(start, end, etype, " ".join(tokens[start:end]))


def read_mnre(path: str | Path, bad: BadLines | None = None, keep_empty: bool = False) -> list[Post]:
    """Read one MNRE v2 file and group its pairs into JMERE posts (first-seen order).

    Posts whose pairs are all ``None`` are dropped unless ``keep_empty``.
    """
    bad = bad or BadLines()
    posts: dict[str, Post] = {}
    for i, line in iter_lines(path, bad):
        if not line.strip():
            continue
        try:
            try:
                d = ast.literal_eval(line)
            except (SyntaxError, ValueError) as e:
                raise DataError(f"not a Python dict literal ({type(e).__name__}: {str(e).splitlines()[0]})") from e
            if not isinstance(d, dict):
                raise DataError("expected a dict literal")
            tokens = word_list(d["token"], "token")
            img_id = str(d["img_id"])
            pid = post_id(img_id, tokens)
            post = posts.get(pid) or Post(id=pid, tokens=tokens, img_id=img_id)
            parsed = parse_relation_label(str(d["relation"]))
            if parsed is not None:
                htype, ttype, rel = parsed
                triple = Triple(_entity(d["h"], htype, tokens), rel, _entity(d["t"], ttype, tokens))
                validate_post(Post(pid, tokens, img_id, triples=[triple]))
                if triple not in post.triples:
                    post.triples.append(triple)
            if parsed is not None or keep_empty:
                posts[pid] = post
        except DataError as e:
            bad.handle(DataError(e.reason, path, i))
        except (SyntaxError, ValueError, KeyError, TypeError) as e:
            bad.handle(DataError(f"not a valid MNRE record: {type(e).__name__}: {e}", path, i))
    return [p.with_entities_from_triples() for p in posts.values()]


def read_mnre_split(data_dir: str | Path, split: str, bad: BadLines | None = None) -> list[Post]:
    """Read ``train``, ``val`` or ``test`` from an MNRE v2 folder (``mnre_val .txt`` has a space)."""
    if split not in MNRE_FILES:
        raise ValueError(f"unknown split {split!r}; expected one of {', '.join(MNRE_FILES)}")
    path = Path(data_dir) / MNRE_FILES[split]
    if not path.exists():
        raise FileNotFoundError(f"{path}: MNRE file not found (is the data folder right?)")
    return read_mnre(path, bad)
