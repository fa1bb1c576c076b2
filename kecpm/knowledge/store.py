"""The knowledge file: one JSON line per post, written atomically, read by stage 2.

A line is ``{"id", "knowledge": [...], "reflected": [...] | null, "model", "template",
"reflect_template", "backend", "invalid"}``; with ``knowledge.format=hints`` it also has ``"hints":
[{"entity", "type", "about"}]`` (type codes), one ``knowledge`` sentence per hint. One
``knowledge.jsonl`` per split folder covers all the posts of ``train``, ``val`` and ``test`` (val and
test posts need knowledge too).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from kecpm.data.errors import DataError
from kecpm.data.folders import KNOWLEDGE_FILE
from kecpm.data.jsonl import iter_json_lines, write_jsonl
from kecpm.data.schema import Hint, Post, hint_list


def _sentences(value: Any, path: Path, line: int, field: str) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise DataError(f"{field!r} must be a list of strings", path, line)
    return list(value)


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """All records of a knowledge file, checked: each has an ``id``, lists of strings and (if any) hints."""
    path = Path(path)
    if path.is_dir():
        path = path / KNOWLEDGE_FILE
    if not path.exists():
        raise FileNotFoundError(f"{path}: knowledge file not found (run `kecpm gen-knowledge` first)")
    records = []
    for i, obj in iter_json_lines(path):
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise DataError("expected a JSON object with a string 'id'", path, i)
        obj["knowledge"] = _sentences(obj.get("knowledge"), path, i, "knowledge") or []
        obj["reflected"] = _sentences(obj.get("reflected"), path, i, "reflected")
        if obj.get("hints") is not None:
            try:
                obj["hints"] = [h.to_dict() for h in hint_list(obj["hints"]) or []]
            except DataError as e:
                raise DataError(e.reason, path, i) from e
        records.append(obj)
    return records


def final_sentences(record: Mapping[str, Any]) -> list[str]:
    """The sentences a record gives stage 2: the reflected ones when non-empty, else the raw ones.

    A reflection pass that keeps nothing falls back to the raw sentences: small LLMs (the packaged
    SmolLM2) often answer the reflection prompt with an empty list.
    """
    return list(record.get("reflected") or record.get("knowledge") or [])


def load_knowledge(path: str | Path) -> dict[str, list[str]]:
    """Map post id to its knowledge sentences (``final_sentences``); ``path`` is a knowledge file or
    a split folder holding ``knowledge.jsonl``."""
    return knowledge_map(read_records(path))


def knowledge_map(records: Iterable[dict]) -> dict[str, list[str]]:
    """Post id -> the knowledge sentences stage 2 reads (``final_sentences``) of each record."""
    return {r["id"]: final_sentences(r) for r in records}


def hints_map(records: Iterable[dict]) -> dict[str, list[Hint]]:
    """Post id -> the entity hints of each record that has them (``knowledge.format=hints``)."""
    return {r["id"]: hint_list(r["hints"]) or [] for r in records if r.get("hints") is not None}


def knowledge_sources(records: Iterable[dict]) -> dict[str, int]:
    """How many of a knowledge file's records (``read_records``) each ``backend:model`` wrote
    (``imported`` for records without one), so a run can say where its knowledge came from."""
    counts: dict[str, int] = {}
    for r in records:
        key = f"{r['backend']}:{r.get('model', '')}" if r.get("backend") else "imported"
        counts[key] = counts.get(key, 0) + 1
    return counts


def attach_knowledge(posts: Iterable[Post], mapping: Mapping[str, list[str]] | None,
                     strict: bool = False, hints: Mapping[str, list[Hint]] | None = None) -> list[Post]:
    """Copies of ``posts`` with ``.knowledge`` from ``mapping`` (posts it lacks keep their own; no
    mapping: the posts as they are). With ``hints`` (``hints_map`` of the same records) a post that
    gets knowledge also gets its record's hints, or None when its record has none.

    With ``strict`` a post missing from ``mapping`` is a DataError naming it.
    """
    if mapping is None:
        return list(posts)
    out = []
    for p in posts:
        if p.id in mapping:
            found = p.hints if hints is None else hints.get(p.id)
            out.append(replace(p, knowledge=list(mapping[p.id]), hints=list(found) if found is not None else None))
        elif strict:
            raise DataError(f"post {p.id}: no knowledge for it in the knowledge file")
        else:
            out.append(p)
    return out


def write_records(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write knowledge records atomically (a crash leaves any earlier file untouched)."""
    return write_jsonl(path, records)
