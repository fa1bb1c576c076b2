"""The one reader of user inputs (predict, gen-knowledge, data stats): text, JSONL, stdin, images."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kecpm.data.errors import BadLines, DataError
from kecpm.data.inputs import read_inputs, sniff
from kecpm.data.schema import post_id


def test_plain_text_file_one_post_per_line(tmp_path: Path) -> None:
    f = tmp_path / "posts.txt"
    f.write_text("Musk, CEO of @Tesla, visits Berlin!\n\n  Obama's trip to Paris.  \n", encoding="utf-8")
    got = read_inputs(f)
    assert [p.tokens for p in got.posts] == [["Musk", ",", "CEO", "of", "@Tesla", ",", "visits", "Berlin", "!"],
                                             ["Obama", "'s", "trip", "to", "Paris", "."]]
    p = got.posts[1]
    assert p.id == post_id("", p.tokens)
    text, tokens = got.texts[p.id]
    assert text == "Obama's trip to Paris." and text[tokens[4].start:tokens[4].end] == "Paris"


def test_jsonl_with_text_tokens_and_jmere_records(tmp_path: Path) -> None:
    f = tmp_path / "posts.jsonl"
    lines = [{"text": "Obama in Paris!", "img_id": "a.jpg", "knowledge": "Paris is in France."},
             {"tokens": ["Messi", "joins", "PSG"], "img_id": "b.jpg"},
             {"token": ["Messi", "in", "Paris"], "img_id": "c.jpg", "label_list": []}]
    f.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    got = read_inputs(f)
    assert [p.tokens[-1] for p in got.posts] == ["!", "PSG", "Paris"]
    assert got.posts[0].knowledge == ["Paris is in France."] and got.posts[0].img_id == "a.jpg"
    assert list(got.texts) == [got.posts[0].id]


def test_bad_records_name_file_and_line(tmp_path: Path) -> None:
    f = tmp_path / "posts.jsonl"
    f.write_text('{"text": "Obama in Paris"}\n{"img_id": "x.jpg"}\n{"text": "   "}\n')
    with pytest.raises(DataError, match=r"posts\.jsonl:2: a post needs \"tokens\""):
        read_inputs(f)
    bad = BadLines(skip=True)
    assert len(read_inputs(f, bad).posts) == 1
    assert [e.line for e in bad.errors] == [2, 3] and "empty text" in str(bad.errors[1])


def test_stdin_text_and_jsonl() -> None:
    got = read_inputs("-", stdin=io.BytesIO(b"Obama visits Paris, France.\nMessi @PSG\n"))
    assert [p.tokens for p in got.posts] == [["Obama", "visits", "Paris", ",", "France", "."], ["Messi", "@PSG"]]
    got = read_inputs("-", stdin=io.BytesIO(b'{"tokens": ["a", "b"]}\n{"text": "c d"}\n'))
    assert [p.tokens for p in got.posts] == [["a", "b"], ["c", "d"]]
    with pytest.raises(DataError, match="<stdin>: nothing on stdin"):
        read_inputs("-", stdin=io.BytesIO(b"\n"))
    with pytest.raises(DataError, match=r"<stdin>:2: not UTF-8"):
        read_inputs("-", stdin=io.BytesIO(b"ok\nPar\xe9s\n"))


def test_sniff(tmp_path: Path) -> None:
    cases = {"a.txt": "{'token': ['a'], 'h': {}, 't': {}, 'img_id': 'x', 'relation': 'None'}\n",
             "b.txt": "IMGID:1\nRT\tO\n", "c.txt": "just a tweet\n", "d.json": '[{"token": ["a"]}]',
             "e.jsonl": "not json\n", "f.txt": '{"text": "a"}\n', "g.txt": '{"token": ["a"], "label_list": []}\n'}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
    assert {n: sniff(tmp_path / n) for n in cases} == {"a.txt": "mnre", "b.txt": "conll", "c.txt": "text",
                                                      "d.json": "jmere", "e.jsonl": "records", "f.txt": "records",
                                                      "g.txt": "jmere"}


def test_image_dir_resolves_img_ids(tmp_path: Path) -> None:
    f = tmp_path / "posts.jsonl"
    f.write_text('{"text": "a b", "img_id": "x.jpg"}\n{"text": "c d"}\n{"text": "e", "image_path": "sub/y.png"}\n')
    imgs = tmp_path / "imgs"
    (imgs / "test").mkdir(parents=True)
    got = read_inputs(f, image_dir=imgs)
    assert [p.image_path for p in got.posts] == [str(imgs / "x.jpg"), None, str(imgs / "sub" / "y.png")]
    (imgs / "test" / "x.jpg").write_bytes(b"")  # MNRE keeps img_org/{train,val,test}/: a subfolder is searched
    assert read_inputs(f, image_dir=imgs).posts[0].image_path == str(imgs / "test" / "x.jpg")
    with pytest.raises(FileNotFoundError, match="nope: image folder not found"):
        read_inputs(f, image_dir=tmp_path / "nope")
