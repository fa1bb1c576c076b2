"""load_knowledge / attach_knowledge: the interface stage 2 reads."""

from __future__ import annotations

import json

import pytest

from kecpm.data.errors import DataError
from kecpm.data.schema import Hint, Post, post_id
from kecpm.knowledge import attach_knowledge, hints_map, knowledge_map, load_knowledge, read_records
from kecpm.knowledge.store import write_records


def _post(text: str, img: str = "a.jpg") -> Post:
    toks = text.split()
    return Post(id=post_id(img, toks), tokens=toks, img_id=img)


def test_load_prefers_reflected_and_attach_fills(tmp_path):
    a, b, c = _post("Obama visits Paris"), _post("Messi joins PSG"), _post("no knowledge here")
    d = _post("Reflection kept nothing")
    path = tmp_path / "knowledge.jsonl"
    write_records(path, [
        {"id": a.id, "knowledge": ["Obama is a politician.", "Paris is a city."], "reflected": ["Paris is a city."]},
        {"id": b.id, "knowledge": ["Messi is a footballer."], "reflected": None},
        {"id": d.id, "knowledge": ["Raw sentence."], "reflected": []},
    ])
    mapping = load_knowledge(path)
    assert mapping == {a.id: ["Paris is a city."], b.id: ["Messi is a footballer."], d.id: ["Raw sentence."]}
    assert load_knowledge(tmp_path) == mapping  # a split folder works too
    out = attach_knowledge([a, b, c], mapping)
    assert [p.knowledge for p in out] == [["Paris is a city."], ["Messi is a footballer."], None]
    assert a.knowledge is None  # inputs untouched
    with pytest.raises(DataError, match=c.id):
        attach_knowledge([c], mapping, strict=True)


def test_bad_knowledge_file_names_line(tmp_path):
    path = tmp_path / "knowledge.jsonl"
    path.write_text(json.dumps({"id": "x", "knowledge": ["ok"]}) + "\n" + json.dumps({"id": "y", "knowledge": "oops"}) + "\n")
    with pytest.raises(DataError, match=r"knowledge.jsonl:2"):
        load_knowledge(path)
    with pytest.raises(FileNotFoundError, match="gen-knowledge"):
        load_knowledge(tmp_path / "missing.jsonl")


def test_knowledge_sources_counts_backends_and_imported_records(tmp_path):
    """A run records where its knowledge came from (a dummy-backend file once replaced SmolLM2's unnoticed)."""
    from kecpm.knowledge import knowledge_sources, read_records

    a, b, c = _post("Obama visits Paris"), _post("Messi joins PSG"), _post("Nadal wins")
    path = tmp_path / "knowledge.jsonl"
    write_records(path, [{"id": a.id, "knowledge": ["x."], "backend": "dummy", "model": "dummy"},
                         {"id": b.id, "knowledge": ["y."], "backend": "vllm", "model": "smollm2"},
                         {"id": c.id, "knowledge": ["z."]}])
    assert knowledge_sources(read_records(path)) == {"dummy:dummy": 1, "vllm:smollm2": 1, "imported": 1}


def test_records_with_hints_attach_them_and_records_without_leave_none(tmp_path):
    a, b, c = _post("Obama visits Paris"), _post("Messi joins PSG"), _post("no knowledge here")
    path = tmp_path / "knowledge.jsonl"
    write_records(path, [
        {"id": a.id, "knowledge": ["Obama: US president.", "Paris"], "reflected": None,
         "hints": [{"entity": "Obama", "type": "per", "about": "US president."}, {"entity": "Paris", "type": "loc"}]},
        {"id": b.id, "knowledge": ["Messi is a footballer."], "reflected": None},
    ])
    records = read_records(path)
    assert records[0]["hints"][1] == {"entity": "Paris", "type": "loc", "about": ""}  # checked and completed
    hints = hints_map(records)
    assert hints == {a.id: [Hint("Obama", "per", "US president."), Hint("Paris", "loc")]}
    out = attach_knowledge([a, b, c], knowledge_map(records), hints=hints)
    assert [p.hints for p in out] == [hints[a.id], None, None]
    assert out[0].knowledge == ["Obama: US president.", "Paris"] and a.hints is None  # inputs untouched
    stale = Post(b.id, b.tokens, b.img_id, hints=[Hint("Old", "org")])  # a record without hints replaces them
    assert attach_knowledge([stale], knowledge_map(records), hints=hints)[0].hints is None
    assert attach_knowledge([stale], knowledge_map(records))[0].hints == [Hint("Old", "org")]  # no hints given
    path.write_text(path.read_text() + '{"id": "x", "knowledge": [], "hints": [{"entity": "X"}]}\n')
    with pytest.raises(DataError, match=r"knowledge.jsonl:3: a hint must be"):
        read_records(path)
